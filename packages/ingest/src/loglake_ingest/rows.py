"""Shape validated rows into the rows of raw/events and raw/quarantine.

Pure ``DataFrame -> DataFrame`` functions: the input is the output of the core Spark
validator over Kafka rows (``value``, ``topic``, ``partition``, ``offset``,
``timestamp`` plus the typed event and ``reason_*`` columns).

Example:
    >>> raw = raw_rows(validated.filter("reason_code IS NULL"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: Kafka source column behind each table column that comes from Kafka.
KAFKA_SOURCE = {
    "kafka_topic": "topic",
    "kafka_partition": "partition",
    "kafka_offset": "offset",
    "kafka_timestamp": "timestamp",
    "raw_value": "value",
}


def _column(df: DataFrame, name: str) -> Column:
    from pyspark.sql import functions as sf

    from loglake_core.schema import SCHEMA_VERSION
    from loglake_core.spark.clock import batch_now

    if name in KAFKA_SOURCE and KAFKA_SOURCE[name] in df.columns and name not in df.columns:
        return sf.col(KAFKA_SOURCE[name])
    if name == "ingest_time":
        return batch_now()
    if name == "ingest_date":
        return sf.to_date(batch_now())
    if name == "schema_version":
        return sf.lit(SCHEMA_VERSION)
    if name == "validator_version":
        return sf.lit(validator_version())
    return sf.col(name)


def validator_version() -> str:
    """Version of the core validation rules applied."""
    from loglake_core.reasons import VALIDATOR_VERSION

    return str(VALIDATOR_VERSION)


def raw_rows(valid: DataFrame) -> DataFrame:
    """Valid rows with exactly the raw/events columns, in order and typed."""
    from loglake_ingest.tables import raw_events_schema

    return valid.select(
        *(_column(valid, f.name).cast(f.dataType).alias(f.name) for f in raw_events_schema())
    )


def quarantine_rows(rejected: DataFrame) -> DataFrame:
    """Rejected rows with exactly the raw/quarantine columns, in order and typed."""
    from loglake_ingest.tables import quarantine_schema

    return rejected.select(
        *(_column(rejected, f.name).cast(f.dataType).alias(f.name) for f in quarantine_schema())
    )
