"""Replay of quarantined records after a fix: re-validate, move the now-valid ones, once.

``replay_quarantine`` reads raw/quarantine (optionally one reason code, optionally only
records quarantined since a time), re-validates the raw bytes with the current Spark
validator and MERGEs the now-valid events into raw/events on their Kafka coordinates
(``kafka_topic``, ``kafka_partition``, ``kafka_offset``): a record already in raw is never
inserted again, so a rerun moves nothing. Every moved record is logged in
raw/_quarantine_replays (same MERGE key). Quarantine itself is append-only and keeps the
record as evidence; a moved record is recognisable by its entry in the replays table.

Example:
    >>> replay_quarantine(spark, LakeLayout.from_uri("/tmp/lake"), reason="future_timestamp")
    ... # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from loglake_ingest.errors import ConfigError
from loglake_ingest.materialize import materialize, release
from loglake_ingest.rows import raw_rows, validator_version
from loglake_ingest.tables import ensure_replays_table, replays_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from loglake_core.layout import LakeLayout
    from loglake_ingest.dedup import Validator

logger = logging.getLogger(__name__)

KEY = ("kafka_topic", "kafka_partition", "kafka_offset")


@dataclass
class ReplaySummary:
    """What one replay did."""

    replay_id: str
    candidates: int = 0
    now_valid: int = 0
    moved: int = 0
    still_invalid: int = 0
    event_dates: list[date] = field(default_factory=list)
    still_invalid_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "replay_id": self.replay_id,
            "candidates": self.candidates,
            "now_valid": self.now_valid,
            "moved": self.moved,
            "still_invalid": self.still_invalid,
            "event_dates": [d.isoformat() for d in self.event_dates],
            "still_invalid_by_reason": self.still_invalid_by_reason,
        }


def _candidates(
    spark: SparkSession, layout: LakeLayout, reason: str | None, since: datetime | None
) -> DataFrame:
    from pyspark.sql import functions as sf

    quarantine = spark.read.format("delta").load(layout.raw_quarantine)
    if reason:
        quarantine = quarantine.filter(sf.col("reason_code") == reason)
    if since is not None:
        quarantine = quarantine.filter(sf.col("ingest_time") >= sf.lit(since))
    replayed = spark.read.format("delta").load(replays_path(layout)).select(*KEY)
    # One row per Kafka record, even if an old replay of the pipeline quarantined it twice.
    fresh = quarantine.join(replayed, list(KEY), "left_anti").dropDuplicates(list(KEY))
    return fresh.select(
        sf.col("raw_value").alias("value"),
        sf.col("kafka_topic").alias("topic"),
        sf.col("kafka_partition").alias("partition"),
        sf.col("kafka_offset").alias("offset"),
        sf.col("kafka_timestamp").alias("timestamp"),
        sf.col("reason_code").alias("previous_reason_code"),
    )


def replay_quarantine(
    spark: SparkSession,
    layout: LakeLayout,
    *,
    validator: Validator,
    reason: str | None = None,
    since: datetime | None = None,
) -> ReplaySummary:
    """Move quarantined records that the current validator accepts into raw, exactly once.

    Args:
        spark: the session.
        layout: the lake.
        validator: the Spark validator (with the relaxed or fixed rules).
        reason: only records quarantined with this reason code.
        since: only records quarantined at or after this time.

    Raises:
        ConfigError: when the lake has no quarantine table.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as sf

    if not DeltaTable.isDeltaTable(spark, layout.raw_quarantine):
        raise ConfigError(f"{layout.raw_quarantine} is not a Delta table; nothing to replay")
    ensure_replays_table(spark, layout)
    summary = ReplaySummary(replay_id=uuid.uuid4().hex)
    checked = materialize(validator(_candidates(spark, layout, reason, since)))
    try:
        stats = checked.groupBy(sf.col("reason_code")).count().collect()
        for row in stats:
            if row["reason_code"] is None:
                summary.now_valid = int(row["count"])
            else:
                summary.still_invalid_by_reason[str(row["reason_code"])] = int(row["count"])
        summary.still_invalid = sum(summary.still_invalid_by_reason.values())
        summary.candidates = summary.now_valid + summary.still_invalid
        if summary.now_valid:
            valid = checked.filter(sf.col("reason_code").isNull())
            _merge_into_raw(spark, layout, raw_rows(valid))
            summary.moved = _record(spark, layout, valid, summary.replay_id)
            dates = valid.select("event_date").distinct().collect()
            summary.event_dates = sorted(r["event_date"] for r in dates)
    finally:
        release(checked)
    logger.info(
        "replay %s: %d candidates, %d now valid, %d moved into raw",
        summary.replay_id,
        summary.candidates,
        summary.now_valid,
        summary.moved,
    )
    return summary


def _merge_into_raw(spark: SparkSession, layout: LakeLayout, rows: DataFrame) -> None:
    """MERGE rows into raw on their Kafka coordinates (insert only when not there)."""
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, layout.raw_events)
    condition = " AND ".join(f"t.{k} = s.{k}" for k in KEY) + " AND t.event_date = s.event_date"
    target.alias("t").merge(rows.alias("s"), condition).whenNotMatchedInsertAll().execute()


def _record(spark: SparkSession, layout: LakeLayout, valid: DataFrame, replay_id: str) -> int:
    """Log the moved records in raw/_quarantine_replays (once per record); returns how many.

    Only replays write this table, so its last commit is this MERGE.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as sf

    entries = valid.select(
        sf.lit(replay_id).alias("replay_id"),
        sf.current_timestamp().alias("replayed_at"),
        sf.col("topic").alias("kafka_topic"),
        sf.col("partition").cast("int").alias("kafka_partition"),
        sf.col("offset").cast("long").alias("kafka_offset"),
        sf.col("event_id"),
        sf.col("event_date"),
        sf.col("previous_reason_code"),
        sf.lit(validator_version()).alias("validator_version"),
    )
    target = DeltaTable.forPath(spark, replays_path(layout))
    condition = " AND ".join(f"t.{k} = s.{k}" for k in KEY)
    target.alias("t").merge(entries.alias("s"), condition).whenNotMatchedInsertAll().execute()
    last = target.history(1).select("operation", "operationMetrics").first()
    if last is None or last["operation"] != "MERGE":
        return 0
    return int(last["operationMetrics"].get("numTargetRowsInserted", 0))
