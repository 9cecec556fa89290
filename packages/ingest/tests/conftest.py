"""Fixtures of the ingest tests: a Kafka-shaped frame builder and the validator to use."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _standin_validator(df: DataFrame, skew_seconds: int = 300) -> DataFrame:
    """Minimal stand-in for loglake_core.spark.rules.validate_values (tests only)."""
    from pyspark.sql import functions as sf

    from loglake_core.spark.schema import event_struct

    parsed = sf.from_json(sf.col("value").cast("string"), event_struct())
    out = df.withColumn("_p", parsed)
    for f in event_struct():
        out = out.withColumn(f.name, sf.col("_p").getField(f.name))
    missing = sf.col("_p").isNull()
    for name in ("event_id", "event_time", "event_type", "service"):
        missing = missing | sf.col(name).isNull()
    future = sf.col("event_time") > sf.current_timestamp() + sf.make_interval(
        secs=sf.lit(skew_seconds)
    )
    out = (
        out.withColumn(
            "reason_code",
            sf.when(sf.col("_p").isNull(), "not_json")
            .when(missing, "missing_field")
            .when(future, "future_timestamp"),
        )
        .withColumn("reason_field", sf.when(missing, "event_id"))
        .withColumn("reason_message", sf.when(sf.col("reason_code").isNotNull(), "bad record"))
        .withColumn("level", sf.coalesce(sf.col("level"), sf.lit("info")))
        .withColumn("page", sf.col("page_url"))
        .withColumn("_rescued", sf.lit(None).cast("string"))
        .withColumn("event_date", sf.to_date(sf.col("event_time")))
        .drop("_p")
    )
    for name in [f.name for f in event_struct()] + ["page", "_rescued", "event_date"]:
        out = out.withColumn(
            name, sf.when(sf.col("reason_code").isNull(), sf.col(name)).otherwise(sf.lit(None))
        )
    return out


@pytest.fixture(scope="session")
def make_validator(spark: SparkSession) -> Callable[..., Callable[[DataFrame], DataFrame]]:
    """``make_validator(max_future_skew_seconds=300)``: the core Spark validator (or the
    stand-in while core has none that builds) with that setting."""
    try:
        from loglake_core.spark.rules import validate_values
        from loglake_core.validate import ValidationConfig

        validate_values(spark.createDataFrame([(b"{}",)], "value BINARY"), "value")
    except (ImportError, AttributeError, TypeError):

        def standin(max_future_skew_seconds: int = 300) -> Callable[[DataFrame], DataFrame]:
            return lambda df: _standin_validator(df, max_future_skew_seconds)

        return standin

    def real(max_future_skew_seconds: int = 300) -> Callable[[DataFrame], DataFrame]:
        config = ValidationConfig(max_future_skew_seconds=max_future_skew_seconds)
        return lambda df: validate_values(df, "value", config=config)

    return real


@pytest.fixture(scope="session")
def validator(make_validator: Callable[..., Any]) -> Callable[[DataFrame], DataFrame]:
    """The validator with default settings."""
    return make_validator()


def make_event(event_id: str, when: datetime, **extra: Any) -> bytes:
    """One valid page_view event as Kafka bytes."""
    body = {
        "event_id": event_id,
        "event_time": when.astimezone(UTC).isoformat(),
        "event_type": "page_view",
        "service": "web",
        "page_url": "/product/42",
        "tti_ms": 1234.5,
    }
    body.update(extra)
    return json.dumps(body).encode()


@pytest.fixture(name="event")
def event_fixture() -> Callable[..., bytes]:
    """Builder of valid events: ``event("id-1", when, **extra)``."""
    return make_event


@pytest.fixture
def kafka_frame(spark: SparkSession) -> Callable[..., DataFrame]:
    """Build a Kafka-shaped DataFrame from a list of values (bytes)."""
    from pyspark.sql import types as st

    schema = st.StructType(
        [
            st.StructField("value", st.BinaryType()),
            st.StructField("topic", st.StringType()),
            st.StructField("partition", st.IntegerType()),
            st.StructField("offset", st.LongType()),
            st.StructField("timestamp", st.TimestampType()),
        ]
    )

    def build(values: list[bytes | None], *, topic: str = "t", start: int = 0) -> DataFrame:
        now = datetime.now(UTC)
        rows = [(v, topic, 0, start + i, now) for i, v in enumerate(values)]
        return spark.createDataFrame(rows, schema)

    return build
