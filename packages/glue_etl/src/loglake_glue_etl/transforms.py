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

import functools
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
    from pyspark.sql.window import WindowSpec

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
ID_HASH = "_id_hash"
COPIES = "_copies"
FIRST_PREFIX = "_first_"


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
#: Columns of an annotated row (``annotate_rows``, ``mark_first_copies``).
ANNOTATED_COLUMNS: tuple[str, ...] = (*CLEANED_COLUMNS, IN_DATE, KEEP)
#: The de-dup order after ``_in_date``: first ingested, then Kafka coordinates.
_INGEST_ORDER: tuple[str, ...] = ("ingest_time", "kafka_offset", "kafka_partition", "kafka_topic")
#: The rule-3 order key: in the date first, then the ingest order.
ORDER_COLUMNS: tuple[str, ...] = (IN_DATE, *_INGEST_ORDER)


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


def _in_date() -> Column:
    return sf.coalesce(sf.to_date(sf.col("event_time")) == sf.col("event_date"), sf.lit(False))


def _id_hash() -> Column:
    return sf.xxhash64(sf.col("event_id"), sf.col("event_date"))


def _first_copy_order() -> WindowSpec:
    """Rule 3's window: per id and date, in the date first, then the ingest order."""
    return Window.partitionBy("event_id", "event_date").orderBy(
        sf.col(IN_DATE).desc(), *(sf.col(c).asc_nulls_last() for c in _INGEST_ORDER)
    )


def _rank_and_keep(df: DataFrame) -> DataFrame:
    """Add ``_keep`` (rule 3) to rows with ``IN_DATE``, ``event_id`` and the ingest order."""
    return (
        df.withColumn("_rank", sf.row_number().over(_first_copy_order()))
        .withColumn(KEEP, sf.col(IN_DATE) & (sf.col("_rank") == 1))
        .select(*ANNOTATED_COLUMNS)
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

    This sorts every row by id; ``repeated_ids``, ``first_copies`` and
    ``mark_first_copies`` give the same rows and shuffle only a hash per row and the
    order keys of the ids that repeat (what the job runs when those are few).
    """
    return (
        df.transform(clean_columns)
        .select(*CLEANED_COLUMNS, "event_id", *_INGEST_ORDER)
        .withColumn(IN_DATE, _in_date())
        .transform(_rank_and_keep)
    )


def repeated_ids(df: DataFrame) -> DataFrame:
    """``ID_HASH`` of every ``(event_id, event_date)`` found on more than one row.

    The first pass of the de-dup: only a 64-bit hash per row is shuffled, instead of the
    whole row sorted by id. A hash collision only makes a unique id a candidate; the
    exact step (``first_copies``) compares the ids themselves, so the result stays exact.
    """
    return (
        df.select(_id_hash().alias(ID_HASH))
        .groupBy(ID_HASH)
        .agg(sf.count(sf.lit(1)).alias(COPIES))
        .where(sf.col(COPIES) > 1)
        .select(ID_HASH)
    )


def first_copies(repeated: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """The first copy of each id of ``repeated``: the second pass of the de-dup.

    For every ``(event_id, event_date)`` whose hash is in ``repeated`` (broadcast), one
    row: the id and date, and the rule-3 order key of its first copy (``_in_date`` and the
    ingest order), each named with ``FIRST_PREFIX``; and ``COPIES``, the number of rows
    that share exactly that key (more than one only when the same record was written
    twice by hand; the job then ranks every row instead). Only the id, the date and the
    order keys of those rows are read.
    """

    def _first(df: DataFrame) -> DataFrame:
        keyed = (
            df.withColumn(ID_HASH, _id_hash())
            .join(sf.broadcast(repeated), ID_HASH, "left_semi")
            .select("event_id", "event_date", _in_date().alias(IN_DATE), *_INGEST_ORDER)
            .groupBy("event_id", "event_date", *ORDER_COLUMNS)
            .agg(sf.count(sf.lit(1)).alias(COPIES))
        )
        return (
            keyed.withColumn("_rank", sf.row_number().over(_first_copy_order()))
            .where(sf.col("_rank") == 1)
            .select(
                *(sf.col(c).alias(FIRST_PREFIX + c) for c in ("event_id", "event_date")),
                *(sf.col(c).alias(FIRST_PREFIX + c) for c in ORDER_COLUMNS),
                COPIES,
            )
        )

    return _first


def mark_first_copies(first: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Annotated rows (as ``annotate_rows``) given ``first_copies``, without a shuffle.

    ``first`` is broadcast and joined on ``(event_id, event_date)``: a row with no entry
    there is the only copy of its id; a row with one is kept only when its order key is
    the first copy's. Requires ``COPIES`` to be 1 on every row of ``first``.
    """

    def _mark(df: DataFrame) -> DataFrame:
        # null-safe on the id, as the ranking window groups rows without an id together
        same_id = sf.col("event_id").eqNullSafe(sf.col(FIRST_PREFIX + "event_id")) & (
            sf.col("event_date") == sf.col(FIRST_PREFIX + "event_date")
        )
        rows = (
            df.transform(clean_columns)
            .withColumn(IN_DATE, _in_date())
            .join(sf.broadcast(first.drop(COPIES)), same_id, "left")
        )
        single = sf.col(FIRST_PREFIX + IN_DATE).isNull()
        first_copy = functools.reduce(
            lambda a, b: a & b,
            (sf.col(c).eqNullSafe(sf.col(FIRST_PREFIX + c)) for c in ORDER_COLUMNS),
        )
        keep = sf.col(IN_DATE) & (single | first_copy)
        return rows.withColumn(KEEP, keep).select(*ANNOTATED_COLUMNS)

    return _mark


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
