"""The Delta tables ingest writes: raw/events, raw/quarantine and raw/_ingest_batches.

Tables are created up front with the contract's schema and partitioning, so the first
batch, an empty batch and a replay all see the same table. The event and quarantine
schemas come from ``loglake_core.spark.schema``.

Example:
    >>> ensure_tables(spark, LakeLayout.from_uri("/tmp/lake"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

    from loglake_core.layout import LakeLayout

logger = logging.getLogger(__name__)

RAW_PARTITION: Final = "event_date"
QUARANTINE_PARTITION: Final = "ingest_date"

#: Table property naming the columns Delta keeps min/max statistics for (data skipping).
STATS_PROPERTY: Final = "delta.dataSkippingStatsColumns"
#: raw/events keeps statistics on the columns whose ranges differ from file to file. A
#: raw file holds one micro-batch's rows of one date: its event times, ingest time and
#: Kafka offsets are narrow ranges, so a time or offset filter skips files. Every other
#: column holds its whole range of values in every file (each batch has every event type,
#: service, page, level and country), so its statistics skip nothing, and keeping them
#: cost time for every value written: 2 M rows took 7.5-7.9 s to write with twelve such
#: columns, 6.7 s with these four (docs/benchmarks.md).
RAW_STATS_COLUMNS: Final = (
    "event_time",
    "ingest_time",
    "kafka_partition",
    "kafka_offset",
)
#: Table properties of raw/events besides its statistics. Delta hands a table's properties
#: to the Parquet writer of every write (ingest, replay, OPTIMIZE), so Parquet's per-column
#: settings can live there. These columns hold a distinct value in (almost) every row; a
#: dictionary never pays off, and Parquet fills one up to its size limit in every file
#: before it gives up and encodes the values plainly (about 25 k event ids, 130 k times
#: or offsets per file). Without it the files were as large or smaller and 2 M rows took
#: 0.4 s less to write (measured with ``duration_ms``'s dictionary off as well).
RAW_PARQUET_PROPERTIES: Final = {
    f"parquet.enable.dictionary#{column}": "false"
    for column in ("event_id", "event_time", "kafka_offset")
}
#: raw/quarantine: the Kafka coordinates, the reason and when (not the message bytes).
QUARANTINE_STATS_COLUMNS: Final = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "reason_code",
    "validator_version",
    "ingest_time",
)

#: Table property: how many commits apart Delta writes a checkpoint of the table's log.
CHECKPOINT_PROPERTY: Final = "delta.checkpointInterval"
#: The ingest tables get one commit per micro-batch (raw/events: one file per date touched).
#: With Delta's default of 10, every tenth batch also wrote the three tables' checkpoints,
#: each rebuilding its table's state first, and took 2.5-3 s longer than the others
#: (docs/benchmarks.md). A reader of a table replays at most this many small commits after
#: its last checkpoint instead of ten.
INGEST_CHECKPOINT_INTERVAL: Final = 100


def raw_events_schema() -> StructType:
    """Schema of raw/events (the contract's event fields, then the ingest fields)."""
    from loglake_core.spark.schema import raw_events_struct

    return raw_events_struct()


def quarantine_schema() -> StructType:
    """Schema of raw/quarantine."""
    from loglake_core.spark.schema import quarantine_struct

    return quarantine_struct()


def batches_schema() -> StructType:
    """Schema of raw/_ingest_batches: one row per committed micro-batch."""
    from pyspark.sql import types as st

    return st.StructType(
        [
            st.StructField("app_id", st.StringType(), False),
            st.StructField("batch_id", st.LongType(), False),
            st.StructField("start_offsets", st.StringType(), True),
            st.StructField("end_offsets", st.StringType(), True),
            st.StructField("records_read", st.LongType(), False),
            st.StructField("valid_written", st.LongType(), False),
            st.StructField("quarantined", st.LongType(), False),
            st.StructField("duplicates_dropped", st.LongType(), False),
            st.StructField("max_event_time", st.TimestampType(), True),
            st.StructField("event_dates", st.ArrayType(st.DateType(), False), False),
            st.StructField("started_at", st.TimestampType(), False),
            st.StructField("committed_at", st.TimestampType(), False),
        ]
    )


def replays_schema() -> StructType:
    """Schema of raw/_quarantine_replays: one row per record moved by a replay."""
    from pyspark.sql import types as st

    return st.StructType(
        [
            st.StructField("replay_id", st.StringType(), False),
            st.StructField("replayed_at", st.TimestampType(), False),
            st.StructField("kafka_topic", st.StringType(), False),
            st.StructField("kafka_partition", st.IntegerType(), False),
            st.StructField("kafka_offset", st.LongType(), False),
            st.StructField("event_id", st.StringType(), True),
            st.StructField("event_date", st.DateType(), True),
            st.StructField("previous_reason_code", st.StringType(), True),
            st.StructField("validator_version", st.StringType(), True),
        ]
    )


def replays_path(layout: LakeLayout) -> str:
    """Where replays of quarantined records are recorded."""
    return layout.path("raw", "_quarantine_replays")


def _create(
    spark: SparkSession,
    path: str,
    schema: StructType,
    partition: str | None,
    stats_columns: tuple[str, ...] = (),
    properties: dict[str, str] | None = None,
) -> None:
    """Create the table unless it exists (an existing table keeps its properties)."""
    from delta.tables import DeltaTable

    # Delta compares the LOCATION with the Hadoop-qualified path: file:/x, not file:///x.
    location = "file:/" + path[len("file:///") :] if path.startswith("file:///") else path
    builder = DeltaTable.createIfNotExists(spark).location(location).addColumns(schema)
    if partition:
        builder = builder.partitionedBy(partition)
    if stats_columns:
        builder = builder.property(STATS_PROPERTY, ",".join(stats_columns))
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    builder.execute()


def ensure_tables(spark: SparkSession, layout: LakeLayout) -> None:
    """Create the ingest tables that do not exist yet (idempotent)."""
    checkpoints = {CHECKPOINT_PROPERTY: str(INGEST_CHECKPOINT_INTERVAL)}
    _create(
        spark,
        layout.raw_events,
        raw_events_schema(),
        RAW_PARTITION,
        RAW_STATS_COLUMNS,
        properties={**checkpoints, **RAW_PARQUET_PROPERTIES},
    )
    _create(
        spark,
        layout.raw_quarantine,
        quarantine_schema(),
        QUARANTINE_PARTITION,
        QUARANTINE_STATS_COLUMNS,
        properties=checkpoints,
    )
    _create(spark, layout.ingest_batches, batches_schema(), None, properties=checkpoints)
    logger.info("ingest tables ready under %s", layout.base)


def ensure_replays_table(spark: SparkSession, layout: LakeLayout) -> None:
    """Create raw/_quarantine_replays if missing."""
    _create(spark, replays_path(layout), replays_schema(), None)
