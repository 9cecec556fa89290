"""The ETL's pure ``DataFrame -> DataFrame`` steps, applied with ``df.transform``.

Cleaning rules (each documented in ``docs/etl.md``):

1. Only the requested dates are read (partition filter on ``event_date``).
2. A row whose ``event_date`` is not the UTC date of its ``event_time`` is dropped
   (``rows_outside_date``): the partition and the timestamp disagree, so the row cannot
   be attributed to a day with confidence.
3. Exact de-duplication on ``event_id`` within each date: the copy ingested first is kept
   (earliest ``ingest_time``, then lowest Kafka offset, partition and topic, so the choice
   is deterministic). Keying on the date keeps a rerun of one date independent of
   which other dates run with it.
4. ``page`` is recomputed from ``page_url`` when ingest left it null.
5. ``level`` defaults to ``info``; a ``status_code`` outside 100-599 and a negative, NaN or
   too large (>= 600 000 ms) ``tti_ms`` become null (the raw table should never hold them).

Example:
    >>> cleaned = raw.transform(select_dates(dates)).transform(annotate_rows).transform(
    ...     clean_events)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import Column, Window
from pyspark.sql import functions as sf

from loglake_core.metrics import ERRORS_HOURLY, HOUR_SQL, PAGE_METRICS_DAILY
from loglake_core.schema import DEFAULT_LEVEL, MAX_TTI_MS
from loglake_core.spark.metrics import aggregate_table, status_class_col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

#: Raw columns the ETL reads (the rest of the raw table is never loaded).
INPUT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_time",
    "event_type",
    "service",
    "page_url",
    "tti_ms",
    "status_code",
    "level",
    "session_id",
    "page",
    "event_date",
    "ingest_time",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)
IN_DATE = "_in_date"
KEEP = "_keep"


def select_dates(dates: Iterable[date]) -> Callable[[DataFrame], DataFrame]:
    """Keep the rows of ``dates`` (a partition filter) and only the columns the ETL needs."""
    wanted = sorted(set(dates))

    def _select(df: DataFrame) -> DataFrame:
        return df.where(sf.col("event_date").isin(*wanted)).select(*INPUT_COLUMNS)

    return _select


#: Columns of a cleaned event (what the aggregates read).
CLEANED_COLUMNS: tuple[str, ...] = (
    "event_date",
    "event_time",
    "event_type",
    "service",
    "page",
    "tti_ms",
    "status_code",
    "level",
    "session_id",
)
#: The de-dup order after ``_in_date``: first ingested, then Kafka coordinates.
_INGEST_ORDER: tuple[str, ...] = ("ingest_time", "kafka_offset", "kafka_partition", "kafka_topic")


def clean_columns(df: DataFrame) -> DataFrame:
    """Rules 4 and 5, row by row: ``page`` filled from ``page_url``, values in range."""
    tti = sf.col("tti_ms")
    status = sf.col("status_code")
    return (
        df.withColumn("page", sf.coalesce(sf.col("page"), page_from_url(sf.col("page_url"))))
        .withColumn("level", sf.coalesce(sf.lower(sf.col("level")), sf.lit(DEFAULT_LEVEL)))
        .withColumn("status_code", sf.when((status >= 100) & (status <= 599), status).cast("int"))
        .withColumn(
            "tti_ms", sf.when(~sf.isnan(tti) & (tti >= 0) & (tti < sf.lit(MAX_TTI_MS)), tti)
        )
    )


def annotate_rows(df: DataFrame) -> DataFrame:
    """Clean every row (rules 4, 5), then add ``_in_date`` (rule 2) and ``_keep`` (rule 3).

    Within ``(event_date, event_id)`` rows whose date agrees with their timestamp rank
    first, then by ingest order; ``_keep`` marks the first one if it is in its date.
    The per-row rules run first so that only the cleaned columns and the order keys
    cross the de-dup shuffle (``page_url`` does not). The window is keyed on ``event_id``
    before ``event_date``, so the sort's prefix comes from the id rather than from a
    column of a handful of values (within noise on generated ids, whose leading bytes
    are a run id shared by many events).
    """
    in_date = sf.coalesce(sf.to_date(sf.col("event_time")) == sf.col("event_date"), sf.lit(False))
    order = Window.partitionBy("event_id", "event_date").orderBy(
        sf.col(IN_DATE).desc(), *(sf.col(c).asc_nulls_last() for c in _INGEST_ORDER)
    )
    return (
        df.transform(clean_columns)
        .select(*CLEANED_COLUMNS, "event_id", *_INGEST_ORDER)
        .withColumn(IN_DATE, in_date)
        .withColumn("_rank", sf.row_number().over(order))
        .withColumn(KEEP, sf.col(IN_DATE) & (sf.col("_rank") == 1))
        .drop("_rank", "event_id", *_INGEST_ORDER)
    )


def row_counts(df: DataFrame) -> DataFrame:
    """One row per date: read, outside the date, duplicates and kept rows (of annotated rows)."""
    return df.groupBy("event_date").agg(
        sf.count(sf.lit(1)).alias("rows_read"),
        sf.count_if(~sf.col(IN_DATE)).alias("rows_outside_date"),
        sf.count_if(sf.col(IN_DATE) & ~sf.col(KEEP)).alias("duplicates_dropped"),
        sf.count_if(sf.col(KEEP)).alias("rows_after_dedup"),
    )


def clean_events(df: DataFrame) -> DataFrame:
    """The cleaned events: the ``_keep`` rows of annotated rows, cleaned columns only."""
    return df.where(sf.col(KEEP)).select(*CLEANED_COLUMNS)


def page_from_url(url: Column) -> Column:
    """The normalised page of ``page_url``, from core's ``normalize_page_col``.

    When this build of core has no ``loglake_core.spark.pages`` yet, a conservative
    stand-in keeps the path of the URL (no scheme, host, query or fragment).
    """
    try:
        from loglake_core.spark.pages import normalize_page_col
    except ImportError:
        logger.warning("loglake_core.spark.pages missing; keeping the URL path as page")
        path = sf.regexp_replace(url, r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*", "")
        path = sf.regexp_replace(path, r"[?#].*$", "")
        return sf.when(path == "", sf.lit("/")).otherwise(path)
    col: Column = normalize_page_col(url)
    return col


def page_metrics_daily(cleaned: DataFrame) -> DataFrame:
    """``processed/page_metrics_daily`` from cleaned events (see ``loglake_core.metrics``)."""
    return aggregate_table(cleaned, PAGE_METRICS_DAILY)


def errors_hourly(cleaned: DataFrame) -> DataFrame:
    """``processed/errors_hourly`` from cleaned events (see ``loglake_core.metrics``)."""
    with_grain = cleaned.withColumn("hour", sf.expr(HOUR_SQL).cast("int")).withColumn(
        "status_class", status_class_col()
    )
    return aggregate_table(with_grain, ERRORS_HOURLY)
