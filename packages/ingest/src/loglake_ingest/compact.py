"""Compaction of small files in raw/events: Delta OPTIMIZE for the given event dates.

Each micro-batch writes at most one file per date it touches (below the target size),
so a long-running stream still leaves many small files per date; compaction rewrites a
date's files into few large ones in one atomic Delta commit, invisible to readers.

Example:
    >>> compact_dates(spark, LakeLayout.from_uri("/tmp/lake"), [date(2026, 1, 2)])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from loglake_ingest.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from loglake_core.layout import LakeLayout

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactionResult:
    """What OPTIMIZE did."""

    dates: tuple[date, ...]
    files_removed: int
    files_added: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "dates": [d.isoformat() for d in self.dates],
            "files_removed": self.files_removed,
            "files_added": self.files_added,
        }


def parse_dates(values: Iterable[str]) -> tuple[date, ...]:
    """Parse ``YYYY-MM-DD`` values and ``YYYY-MM-DD..YYYY-MM-DD`` ranges (inclusive).

    Raises:
        ConfigError: naming the value that is not a date or range.
    """
    out: set[date] = set()
    for raw in values:
        for item in (p.strip() for p in raw.split(",")):
            if not item:
                continue
            first, sep, last = item.partition("..")
            try:
                lo = date.fromisoformat(first)
                hi = date.fromisoformat(last) if sep else lo
            except ValueError:
                raise ConfigError(
                    f"--dates value {item!r} is not a date; use YYYY-MM-DD or "
                    "YYYY-MM-DD..YYYY-MM-DD"
                ) from None
            if hi < lo:
                raise ConfigError(f"--dates range {item!r} ends before it starts")
            out.update(date.fromordinal(o) for o in range(lo.toordinal(), hi.toordinal() + 1))
    if not out:
        raise ConfigError("no dates given; pass --dates YYYY-MM-DD[,..] or a range a..b")
    return tuple(sorted(out))


def compact_dates(
    spark: SparkSession, layout: LakeLayout, dates: Iterable[date]
) -> CompactionResult:
    """Run Delta OPTIMIZE (bin-packing) on raw/events for ``dates`` only.

    Raises:
        ConfigError: when raw/events is not a Delta table yet.
    """
    from delta.tables import DeltaTable

    days = tuple(sorted(set(dates)))
    if not DeltaTable.isDeltaTable(spark, layout.raw_events):
        raise ConfigError(f"{layout.raw_events} is not a Delta table; run the ingest job first")
    table = DeltaTable.forPath(spark, layout.raw_events)
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
    metrics = table.optimize().where(f"event_date IN ({listed})").executeCompaction()
    row = metrics.select("metrics.numFilesRemoved", "metrics.numFilesAdded").first()
    result = CompactionResult(
        dates=days,
        files_removed=int(row["numFilesRemoved"]) if row else 0,
        files_added=int(row["numFilesAdded"]) if row else 0,
    )
    logger.info(
        "compacted %d date(s): %d files -> %d",
        len(days),
        result.files_removed,
        result.files_added,
    )
    return result
