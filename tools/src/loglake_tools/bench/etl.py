"""``loglake bench etl``: our ETL job against DuckDB on the same raw table.

The raw table is made the way production makes it: events (10 M over 7 days) are
produced to a topic and drained by our ingest job. Then our ETL (local[2] Spark,
``python -m loglake_glue_etl``) and DuckDB (the same page metrics, SQL built from the
same metric definitions, reading the same Parquet files through the Delta log) each run
on every date of the table; their row counts must be identical.

The ETL's wall time is split into start-up (process start to the job's own clock:
interpreter, JVM, SparkSession) and the job itself, to say what dominates.

Example:
    >>> raw = prepare_raw(config, run_env, events=10_000_000, days=7, name="etl")  # doctest: +SKIP
    >>> bench_etl(config, run_env, raw)["counts_identical"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.bench.contenders import (
    RunEnv,
    partition_dates,
    run_duckdb,
    run_etl,
    run_ingest,
)
from loglake_tools.bench.errors import BenchError
from loglake_tools.bench.ingest import GIB, measure_contender
from loglake_tools.bench.load import drop_topic, preload
from loglake_tools.bench.results import Target, ratio, summarize

if TYPE_CHECKING:
    from loglake_tools.bench.config import BenchConfig

log = logging.getLogger(__name__)

#: Target: our ETL's wall time within this many times DuckDB's.
WALL_VS_DUCKDB_TARGET: Final = 10.0
#: Target: peak RSS of the ETL process tree, GiB.
RSS_TARGET_GIB: Final = 4.0


@dataclass
class RawTable:
    """A raw table made for the ETL benchmarks.

    Attributes:
        lake: the lake folder.
        events: events produced for it.
        dates: its ``event_date`` partitions, ISO strings.
        preload: the producer's summary.
        ingest_run: the measured ingest run that wrote it.
        ingest_runs: that run and any repetitions (into throw-away lakes).
        etl: a measured ETL summary already taken on it (reused by ``bench all``).
        owned: whether the benchmark made it (and may delete it afterwards).
    """

    lake: Path
    events: int
    dates: list[str]
    preload: dict[str, Any]
    ingest_run: dict[str, Any]
    ingest_runs: list[dict[str, Any]] = field(default_factory=list)
    etl: dict[str, Any] | None = field(default=None)
    owned: bool = True


def raw_dates(lake: Path) -> list[str]:
    """The ``event_date`` partitions of ``lake``'s raw table (from the Delta log)."""
    return partition_dates(lake / "raw" / "events")


def existing_raw(lake: Path) -> RawTable:
    """A lake made earlier (``--keep``) as the benchmark's raw table; never deleted.

    Raises:
        BenchError: when ``lake`` has no raw events Delta table or it is empty.
    """
    import pyarrow as pa
    from deltalake import DeltaTable

    table = lake / "raw" / "events"
    try:
        actions = pa.table(DeltaTable(str(table)).get_add_actions(flatten=True))
    except Exception as exc:
        raise BenchError(f"no raw events Delta table at {table}: {exc}") from exc
    events = sum(int(n or 0) for n in actions.column("num_records").to_pylist())
    if events <= 0:
        raise BenchError(f"the raw events table at {table} holds no rows")
    return RawTable(
        lake=lake, events=events, dates=raw_dates(lake), preload={}, ingest_run={}, owned=False
    )


def prepare_raw(cfg: BenchConfig, env: RunEnv, *, events: int, days: int, name: str) -> RawTable:
    """Produce ``events`` over ``days`` days and ingest them into a new lake.

    A first ingest run shorter than a minute is repeated (into throw-away lakes, from the
    same topic) so that ``ingest_runs`` holds enough runs for a median.
    """
    topic = cfg.topic(name)
    lake = cfg.workdir / f"{name}-lake"
    pre = preload(env.bootstrap, topic, events, partitions=cfg.sizes.partitions, days=days)
    try:
        runs = [run_ingest(env, topic=topic, lake=lake, rep=0, expected=events)]
        if runs[0]["wall_seconds"] < cfg.repeat_below_seconds:
            for i in range(1, cfg.min_repetitions):
                extra = cfg.workdir / f"{name}-rerun-{i}"
                try:
                    runs.append(run_ingest(env, topic=topic, lake=extra, rep=i, expected=events))
                finally:
                    shutil.rmtree(extra, ignore_errors=True)
    finally:
        if not cfg.keep:
            drop_topic(env.bootstrap, topic)
    return RawTable(
        lake=lake,
        events=events,
        dates=raw_dates(lake),
        preload=pre,
        ingest_run=runs[0],
        ingest_runs=runs,
    )


def measure_etl(cfg: BenchConfig, env: RunEnv, raw: RawTable) -> dict[str, Any]:
    """Our ETL on every date of ``raw`` (repetition rule), summarised per event."""
    summary = measure_contender(
        cfg,
        "loglake-etl",
        raw.events,
        lambda i: run_etl(env, lake=raw.lake, dates=raw.dates, rep=i),
    )
    summary["label"] = "loglake ETL (Spark local[2], cleaning + both tables + gates)"
    for run in summary.get("runs", []):
        job = (run.get("result") or {}).get("duration_seconds")
        if job is not None:
            run["startup_seconds"] = max(0.0, run["wall_seconds"] - float(job))
            run["job_seconds"] = float(job)
    return summary


DUCKDB_LABEL = "DuckDB (same page metrics, exact percentiles)"


def bench_etl(cfg: BenchConfig, env: RunEnv, raw: RawTable | None = None) -> dict[str, Any]:
    """Measure our ETL and DuckDB on the same raw table and compare their counts."""
    sizes = cfg.sizes
    if raw is None:
        raw = prepare_raw(cfg, env, events=sizes.etl_events, days=sizes.etl_days, name="etl")
    duck_runs: list[dict[str, Any]] = []

    def measure_duckdb() -> dict[str, Any]:
        first = len(duck_runs)
        summary = measure_contender(
            cfg,
            "duckdb",
            raw.events,
            lambda i: run_duckdb(env, lake=raw.lake, dates=raw.dates, rep=first + i),
        )
        duck_runs.extend(summary.get("runs") or [])
        return summary

    ours = raw.etl
    if ours is None:
        # This machine's speed drifts (the same run took 1.6x the CPU-seconds an hour
        # apart), so DuckDB runs right before and right after ours and its median spans both.
        before = measure_duckdb()
        ours = measure_etl(cfg, env, raw)
        after = measure_duckdb()
        failed = next((d for d in (before, after) if "error" in d), None)
        duck = failed or summarize("duckdb", DUCKDB_LABEL, raw.events, duck_runs)
    else:
        duck = measure_duckdb()
    duck["label"] = DUCKDB_LABEL
    checks = compare_counts(ours, duck)
    om, dm = ours.get("median", {}), duck.get("median", {})
    rss = om.get("peak_rss_bytes")
    wall_ratio = ratio(om.get("wall_seconds"), dm.get("wall_seconds"))
    targets = [
        Target("etl_vs_duckdb_wall", "ETL wall time <= 10x DuckDB's", wall_ratio,
               WALL_VS_DUCKDB_TARGET, "<=", "x"),
        Target("etl_peak_rss", "ETL peak RSS <= 4 GiB", rss / GIB if rss else None,
               RSS_TARGET_GIB, "<=", "GiB"),
        Target("etl_counts_identical", "ETL and DuckDB counts identical",
               1.0 if checks["identical"] else (0.0 if checks["compared"] else None), 1.0, ">=",
               ""),
    ]  # fmt: skip
    runs = ours.get("runs") or [{}]
    startup = [r.get("startup_seconds") for r in runs if r.get("startup_seconds") is not None]
    profiles = [r["profile"] for r in runs if r.get("profile")]
    result = {
        "events": raw.events,
        "dates": raw.dates,
        "lake": str(raw.lake),
        "preload": raw.preload,
        "ingest_run": raw.ingest_run,
        "contenders": [ours, duck],
        "ratios": {"wall_vs_duckdb": wall_ratio,
                   "cpu_vs_duckdb": ratio(om.get("cpu_seconds"), dm.get("cpu_seconds"))},
        "startup_seconds": sorted(startup)[len(startup) // 2] if startup else None,
        "profile": profiles[0] if profiles else None,
        "counts": checks,
        "counts_identical": checks["identical"],
        "targets": [t.to_json() for t in targets],
    }  # fmt: skip
    if not cfg.keep and raw.owned:
        shutil.rmtree(raw.lake, ignore_errors=True)
    return result


def compare_counts(ours: dict[str, Any], duck: dict[str, Any]) -> dict[str, Any]:
    """Rows read, rows after de-duplication and page-metric rows of both contenders."""
    o = ((ours.get("runs") or [{}])[-1].get("result")) or {}
    d = ((duck.get("runs") or [{}])[-1].get("result")) or {}
    pairs = {
        "rows_read": (o.get("rows_read"), d.get("rows_read")),
        "rows_after_dedup": (o.get("rows_after_dedup"), d.get("rows_after_dedup")),
        "page_metrics_rows": (
            (o.get("rows_written") or {}).get("page_metrics_daily"),
            d.get("page_metrics_rows"),
        ),
    }
    compared = all(a is not None and b is not None for a, b in pairs.values())
    identical = compared and all(int(a) == int(b) for a, b in pairs.values())
    if compared and not identical:
        log.error("ETL and DuckDB disagree: %s", pairs)
    return {
        "compared": compared,
        "identical": identical,
        "pairs": {k: {"loglake": a, "duckdb": b} for k, (a, b) in pairs.items()},
    }
