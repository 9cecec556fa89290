"""``loglake bench scaling``: ingest and ETL at 1 M, 3 M, 10 M (and 30 M) events.

For each size a fresh topic is loaded (events over 7 days), drained by our ingest job, and
the resulting raw table is processed by our ETL for all its dates. The table shows time
and CPU per million events at each size, so growth with work is visible: flat is linear,
rising is super-linear. The target compares the largest standard size (10 M) with the
smallest (1 M); start-up costs make small sizes dearer per event, so "marginal" figures
(the difference between two sizes divided by the difference of events) are given too.

Example:
    >>> result = bench_scaling(config, run_env)  # doctest: +SKIP
    >>> [p["events"] for p in result["points"]]  # doctest: +SKIP
    [1000000, 3000000, 10000000]
"""

from __future__ import annotations

import itertools
import logging
import shutil
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.bench.errors import BenchError
from loglake_tools.bench.etl import RawTable, measure_etl, prepare_raw
from loglake_tools.bench.ingest import LABELS
from loglake_tools.bench.results import Target, ratio, summarize

if TYPE_CHECKING:
    from loglake_tools.bench.config import BenchConfig
    from loglake_tools.bench.contenders import RunEnv

log = logging.getLogger(__name__)

#: Target: per-million cost at 10 M within this factor of that at 1 M.
GROWTH_TARGET: Final = 1.3
#: The sizes the growth target compares (when both ran).
GROWTH_FROM: Final = 1_000_000
GROWTH_TO: Final = 10_000_000


def _per_million(summary: dict[str, Any], key: str) -> float | None:
    value = (summary.get("median") or {}).get(key)
    return float(value) if value is not None else None


def growth(points: list[dict[str, Any]], part: str, key: str) -> float | None:
    """Per-million ``key`` of ``part`` at the growth target's largest size over its smallest."""
    by_size = {p["events"]: p for p in points}
    lo = by_size.get(GROWTH_FROM) or (points[0] if points else None)
    hi = by_size.get(GROWTH_TO) or (points[-1] if points else None)
    if lo is None or hi is None or lo is hi:
        return None
    return ratio(_per_million(hi.get(part, {}), key), _per_million(lo.get(part, {}), key))


def marginal(points: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    """Seconds per extra million events between consecutive sizes."""
    out = []
    for a, b in itertools.pairwise(points):
        wa = (a.get(part, {}).get("median") or {}).get("wall_seconds")
        wb = (b.get(part, {}).get("median") or {}).get("wall_seconds")
        if wa is None or wb is None:
            continue
        out.append(
            {
                "from": a["events"],
                "to": b["events"],
                "seconds_per_extra_million": (wb - wa) / ((b["events"] - a["events"]) / 1e6),
            }
        )
    return out


def bench_scaling(
    cfg: BenchConfig, env: RunEnv, *, keep_raw_of: int | None = None
) -> tuple[dict[str, Any], RawTable | None]:
    """Ingest and ETL at every scaling size.

    Args:
        cfg: the benchmark settings.
        env: where contenders run.
        keep_raw_of: keep the raw table made at this size (for ``bench etl`` in ``all``).

    Returns:
        The result and the kept raw table (with its ETL summary), if any.
    """
    points: list[dict[str, Any]] = []
    kept: RawTable | None = None
    for events in cfg.sizes.scaling_events:
        name = f"scale-{events}"
        point: dict[str, Any] = {"events": events}
        try:
            raw = prepare_raw(cfg, env, events=events, days=cfg.sizes.etl_days, name=name)
        except BenchError as exc:
            log.error("scaling at %d events: %s", events, exc)
            points.append({**point, "error": str(exc)})
            continue
        ingest = summarize("loglake", LABELS["loglake"], events, raw.ingest_runs)
        point["ingest"] = ingest
        point["preload"] = raw.preload
        point["etl"] = measure_etl(cfg, env, raw)
        points.append(point)
        if keep_raw_of == events:
            raw.etl = point["etl"]
            kept = raw
        elif not cfg.keep:
            shutil.rmtree(raw.lake, ignore_errors=True)
    targets = [
        Target("scaling_ingest_growth",
               "ingest seconds per million at the largest size <= 1.3x the smallest "
               "(10 M vs 1 M)",
               growth(points, "ingest", "wall_seconds_per_million"), GROWTH_TARGET, "<=", "x"),
        Target("scaling_etl_growth",
               "ETL seconds per million at the largest size <= 1.3x the smallest (10 M vs 1 M)",
               growth(points, "etl", "wall_seconds_per_million"), GROWTH_TARGET, "<=", "x"),
    ]  # fmt: skip
    result = {
        "sizes": list(cfg.sizes.scaling_events),
        "points": points,
        "marginal": {"ingest": marginal(points, "ingest"), "etl": marginal(points, "etl")},
        "targets": [t.to_json() for t in targets],
    }
    return result, kept
