"""The ETL run: read raw dates, clean, aggregate, check the gates, replace the dates.

``run_etl`` is the one Python API (used by the entry point, the CLI, tests and the
benchmark); reading and writing live here, every transformation in ``transforms``.

Example:
    >>> result = run_etl(spark, "file:///tmp/lake", [date(2026, 11, 1)])  # doctest: +SKIP
    >>> result.rows_written["page_metrics_daily"]  # doctest: +SKIP
    240
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from pyspark import StorageLevel
from pyspark.sql import functions as sf

from loglake_core.layout import LakeLayout
from loglake_glue_etl.errors import EtlError, InjectedFailureError, QualityGateError
from loglake_glue_etl.quality import (
    check_row_counts,
    check_stats,
    errors_hourly_stats,
    page_metrics_stats,
)
from loglake_glue_etl.result import EtlResult
from loglake_glue_etl.transforms import (
    COPIES,
    annotate_rows,
    clean_events,
    errors_hourly,
    first_copies,
    mark_first_copies,
    page_metrics_daily,
    repeated_ids,
    row_counts,
    select_dates,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

PAGE_METRICS_TABLE = "page_metrics_daily"
ERRORS_HOURLY_TABLE = "errors_hourly"

#: SQL settings applied for the duration of a run (and restored after), on any runtime.
#: The de-duplicated rows are cached once and read by five aggregations; building the
#: cache with Spark's per-column compression cost 16 of the 45 task-s of that stage at
#: 10 M events, so the cache is kept uncompressed (what does not fit in memory goes to
#: local disk, see ``_cache``; a 2 GiB local driver peaked at 2.3-2.6 GiB RSS).
RUN_SQL_CONF: Mapping[str, str] = {
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}

#: Most ids that may repeat (hashes found on more than one row) for which the de-dup
#: broadcasts their first copies (about 100 bytes each) instead of sorting every row by
#: id (``annotate_rows``).
MAX_BROADCAST_REPEATS = 500_000


def run_etl(
    spark: SparkSession,
    lake: LakeLayout | str,
    dates: Iterable[date],
    *,
    expected_dates: Iterable[date] | None = None,
    fail: bool = False,
) -> EtlResult:
    """Recompute both processed tables for ``dates`` and replace those dates.

    Args:
        spark: the session (Delta configured).
        lake: the lake, or its base URI.
        dates: the dates to recompute.
        expected_dates: dates that must have rows; ``None`` means every date of ``dates``.
        fail: raise ``InjectedFailureError`` before reading anything (tests, demos).

    Returns:
        The result (status ``"ok"``).

    Raises:
        QualityGateError: a gate failed; nothing was written.
        EtlError: the raw table is missing or unreadable, or no date was given.
    """
    started = time.monotonic()
    layout = lake if isinstance(lake, LakeLayout) else LakeLayout.from_uri(lake)
    chosen = sorted(set(dates))
    if not chosen:
        raise EtlError("no dates to process; pass at least one date")
    expected = set(chosen if expected_dates is None else expected_dates)
    if fail:
        raise InjectedFailureError(
            "failure injected on purpose (LOGLAKE_ETL_FAIL=1 or --fail); nothing was written"
        )
    logger.info("ETL of %d date(s) %s..%s in %s", len(chosen), chosen[0], chosen[-1], layout.base)

    with sql_conf(spark, RUN_SQL_CONF):
        counts, page_stats, error_stats = _compute_and_replace(spark, layout, chosen, expected)
    kept = _kept(counts)
    result = EtlResult(
        status="ok",
        dates=[d.isoformat() for d in chosen],
        rows_read=sum(int(c["rows_read"]) for c in counts.values()),
        rows_outside_date=sum(int(c["rows_outside_date"]) for c in counts.values()),
        duplicates_dropped=sum(int(c["duplicates_dropped"]) for c in counts.values()),
        rows_after_dedup=sum(kept.values()),
        rows_written={
            PAGE_METRICS_TABLE: sum(int(s["rows"]) for s in page_stats),
            ERRORS_HOURLY_TABLE: sum(int(s["rows"]) for s in error_stats),
        },
        rows_by_date={d.isoformat(): kept.get(d, 0) for d in chosen},
        duration_seconds=round(time.monotonic() - started, 3),
        lake=layout.base,
    )
    logger.info("ETL done: %s", result.to_json())
    return result


@contextmanager
def sql_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Apply ``settings`` to ``spark`` inside the block; put back what was there after."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


_Rows = list[dict[str, Any]]
_T = TypeVar("_T")


def _kept(counts: dict[date, dict[str, Any]]) -> dict[date, int]:
    """Rows after de-dup per date, from the per-date counts."""
    return {d: int(c["rows_after_dedup"]) for d, c in counts.items()}


def _compute_and_replace(
    spark: SparkSession, layout: LakeLayout, chosen: list[date], expected: set[date]
) -> tuple[dict[date, dict[str, Any]], _Rows, _Rows]:
    """Clean, aggregate, gate and write; returns the per-date counts and both tables' stats."""
    selected = read_raw(spark, layout).transform(select_dates(chosen))
    cached: list[DataFrame] = []
    try:
        annotated = _annotated(selected, cached)
        counts = {r["event_date"]: r.asDict() for r in annotated.transform(row_counts).collect()}
        cleaned = annotated.transform(clean_events)
        pages = _cache(cleaned.transform(page_metrics_daily), cached)
        errors = _cache(cleaned.transform(errors_hourly), cached)
        page_stats, error_stats = _together(
            lambda: [r.asDict() for r in page_metrics_stats(pages).collect()],
            lambda: [r.asDict() for r in errors_hourly_stats(errors).collect()],
        )
        failures = (
            check_row_counts(_kept(counts), expected)
            + check_stats(PAGE_METRICS_TABLE, page_stats)
            + check_stats(ERRORS_HOURLY_TABLE, error_stats)
        )
        if failures:
            raise QualityGateError(failures)
        _together(
            lambda: replace_dates(pages, layout.processed_page_metrics, chosen),
            lambda: replace_dates(errors, layout.processed_errors_hourly, chosen),
        )
    finally:
        for frame in cached:
            frame.unpersist()
    return counts, page_stats, error_stats


def _together(*calls: Callable[[], _T]) -> list[_T]:
    """Run ``calls`` at the same time (a thread each); their results, in order.

    Both tables are computed (and written) this way: one's driver work (planning, Delta
    snapshot and commit) and its small final stages overlap the other's tasks. A failure
    of either is raised after both finished.
    """
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="loglake-etl") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def _cache(df: DataFrame, cached: list[DataFrame]) -> DataFrame:
    """``df`` persisted and recorded in ``cached`` for unpersist.

    ``MEMORY_AND_DISK_DESER`` (what Scala's ``cache()`` uses) keeps the column batches
    as objects; PySpark's ``MEMORY_AND_DISK`` serialises every batch into bytes on write
    and back on each read (at 10 M events, alternating runs: 42.9 and 39.6 s for the job
    against 44.0 and 43.4 s). What does not fit in memory still goes to local disk.
    """
    cached.append(df.persist(StorageLevel.MEMORY_AND_DISK_DESER))
    return df


def _annotated(selected: DataFrame, cached: list[DataFrame]) -> DataFrame:
    """The selected rows with ``_in_date`` and ``_keep`` (rule 3), cached.

    First the ids that may repeat are found from a hash per row; when they are at most
    ``MAX_BROADCAST_REPEATS``, only their rows are ranked and the verdict is broadcast
    (``first_copies``, ``mark_first_copies``); otherwise, or when two rows are the same
    record written twice, every row is ranked by id (``annotate_rows``). Same result.
    """
    repeated = _cache(selected.transform(repeated_ids), cached)
    candidates = repeated.count()
    annotate = annotate_rows
    how = f"over {MAX_BROADCAST_REPEATS:,}: ranking every row"
    if candidates <= MAX_BROADCAST_REPEATS:
        first = _cache(selected.transform(first_copies(repeated)), cached)
        if first.where(sf.col(COPIES) > 1).isEmpty():
            annotate = mark_first_copies(first)
            how = "ranking those rows only"
        else:
            how = "a record is in raw twice: ranking every row"
    logger.info("de-dup: %d id(s) may repeat; %s", candidates, how)
    return _cache(selected.transform(annotate), cached)


def read_raw(spark: SparkSession, lake: LakeLayout) -> DataFrame:
    """The raw events Delta table.

    Raises:
        EtlError: when there is no Delta table at ``lake.raw_events``.
    """
    from pyspark.errors import AnalysisException

    try:
        return spark.read.format("delta").load(lake.raw_events)
    except AnalysisException as exc:
        raise EtlError(
            f"cannot read the raw events table at {lake.raw_events}: "
            f"{str(exc).splitlines()[0]}; run ingest first or check --lake"
        ) from exc


def replace_dates(df: DataFrame, path: str, dates: list[date]) -> None:
    """Overwrite exactly ``dates`` of the Delta table at ``path`` with ``df`` (one file a date).

    Delta's ``replaceWhere`` makes this one atomic commit: readers see the old or the
    new rows of those dates, never both, and other dates are untouched.
    """
    condition = "event_date IN ({})".format(", ".join(f"DATE'{d.isoformat()}'" for d in dates))
    (
        df.repartition("event_date")
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", condition)
        .partitionBy("event_date")
        .save(path)
    )
    logger.info("replaced %s in %s", condition, path)
