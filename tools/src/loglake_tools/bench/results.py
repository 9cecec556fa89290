"""Result records of the benchmarks: repetitions, medians, ratios and targets.

A *contender* (our job or a baseline) is measured one or more times; each run is a dict
holding its `Measurement` figures plus what the process reported. Its summary holds the
median of every figure (the issue: median of >= 3 runs when one run is under a minute),
and per-event figures derived from the medians.

Example:
    >>> s = summarize("py", "Python consumer", 1_000_000,
    ...               [{"wall_seconds": 10.0, "cpu_seconds": 8.0, "peak_rss_bytes": 1}])
    >>> s["median"]["events_per_second"]
    100000.0
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

#: Figures whose median is reported (when present in the runs).
MEDIAN_KEYS = (
    "wall_seconds",
    "cpu_seconds",
    "cpu_seconds_sampled",
    "peak_rss_bytes",
    "broker_cpu_seconds",
    "drain_seconds",
)


def repeat(
    run: Callable[[int], dict[str, Any]], *, min_repetitions: int, below_seconds: float
) -> list[dict[str, Any]]:
    """Run ``run(i)`` once, and again up to ``min_repetitions`` if it took < ``below_seconds``.

    Args:
        run: measures one repetition ``i`` (0-based) and returns its figures, which must
            hold ``wall_seconds``.
        min_repetitions: runs wanted for a short measurement.
        below_seconds: a first run shorter than this is repeated.
    """
    runs = [run(0)]
    if runs[0]["wall_seconds"] < below_seconds:
        for i in range(1, min_repetitions):
            runs.append(run(i))
    return runs


def _median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return float(statistics.median(clean)) if clean else None


def summarize(
    name: str, label: str, events: int, runs: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """Summary of a contender's runs over ``events`` events: medians and per-event figures."""
    med: dict[str, Any] = {}
    for key in MEDIAN_KEYS:
        if any(key in r for r in runs):
            med[key] = _median([r.get(key) for r in runs])
    wall = med.get("wall_seconds") or 0.0
    cpu = med.get("cpu_seconds")
    drain = med.get("drain_seconds")
    millions = events / 1e6 if events else 0.0
    med["events_per_second"] = events / wall if wall > 0 else None
    med["drain_events_per_second"] = events / drain if drain else None
    med["cpu_seconds_per_million"] = cpu / millions if cpu is not None and millions else None
    med["events_per_cpu_second"] = events / cpu if cpu else None
    med["wall_seconds_per_million"] = wall / millions if millions else None
    return {
        "name": name,
        "label": label,
        "events": events,
        "repetitions": len(runs),
        "median": med,
        "runs": runs,
        **extra,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or ``None`` when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


@dataclass(frozen=True)
class Target:
    """A target of the issue, checked against a measured value (never asserted in tests).

    Attributes:
        name: short id, e.g. ``ingest_events_per_second``.
        description: the target in words.
        value: the measured value (``None``: not measured in this run).
        threshold: the limit.
        op: ``>=`` (value must reach the threshold) or ``<=`` (must stay under it).
        unit: unit of value and threshold, for display.
    """

    name: str
    description: str
    value: float | None
    threshold: float
    op: Literal[">=", "<="]
    unit: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met (``None`` when not measured)."""
        if self.value is None:
            return None
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    @property
    def margin(self) -> float | None:
        """Value / threshold: above 1 is good for ``>=``, below 1 is good for ``<=``."""
        return ratio(self.value, self.threshold)

    @property
    def verdict(self) -> str:
        """``pass``, ``miss`` or ``n/a``."""
        met = self.met
        return "n/a" if met is None else ("pass" if met else "miss")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the verdict."""
        return {**asdict(self), "met": self.met, "margin": self.margin, "verdict": self.verdict}
