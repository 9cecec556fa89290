"""Streaming transformations: validate, key, and de-duplicate within an event-time window.

The de-dup runs on the streaming DataFrame (``dropDuplicatesWithinWatermark``), so its
state is checkpointed with the query and a replayed batch sees exactly the state it saw
the first time. The first two choices keep it from ever dropping a non-duplicate, the
third keeps its state to one window of late ids:

* **Invalid rows never collide.** Their key is their Kafka coordinates, so each rejected
  record reaches quarantine, duplicates included.
* **Late rows are never "too late".** Spark drops rows older than the watermark before
  de-duplicating. The watermark column is therefore the event time *clamped* into
  ``[batch time - window, batch time]``: an event days late is keyed at the oldest
  moment still inside the window, so it is kept (and de-duplicated against copies that
  arrive within the window), while fresh events de-duplicate on their real event time.
  The watermark can never pass the current batch's time minus the window, so no row of
  the current batch is below it. An id leaves the state once the watermark (the newest
  time seen minus the window) passes its time plus the window.
* **The watermark keeps up in a backfill.** One row in every ``HEARTBEAT_EVERY`` Kafka
  offsets is keyed at the batch time itself. Without it a backfill of old events has no
  row newer than the batch time minus the window, so the watermark trails the batch time
  by two windows and the state holds every id read in the last two windows; with it the
  watermark trails by one window, as in a live stream, and a late event's id stays one
  window of processing time, which is the window its copies are de-duplicated within.
  A heartbeat row is kept longer, never shorter, and no row ever falls behind.

Example:
    >>> out = prepare_stream(kafka_df, validator=validate, window_seconds=600)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: A ``DataFrame -> DataFrame`` that adds the typed event columns and reason columns. The
#: rows ``prepare_stream`` gives it carry the batch time in ``BATCH_NOW``, which it may read
#: as "now" instead of computing the time again.
Validator = Callable[["DataFrame"], "DataFrame"]

DEDUP_KEY: Final = "_dedup_key"
DEDUP_TIME: Final = "_dedup_time"
BATCH_NOW: Final = "_batch_now"
#: One row in this many Kafka offsets (per partition) is keyed at the batch time.
HEARTBEAT_EVERY: Final = 1024
#: Columns of Spark's Kafka rows that neither table keeps (dropped before validation).
UNUSED_KAFKA_COLUMNS: Final = ("key", "timestampType")
#: Name of the observed metrics of rows entering the de-dup (see ``listener``).
OBSERVED_INPUT: Final = "ingest_input"


def dedup_key() -> Column:
    """``event_id`` for valid rows, the Kafka coordinates for rejected ones."""
    from pyspark.sql import functions as sf

    coords = sf.concat_ws(
        ":", sf.lit("\u0000kafka"), sf.col("topic"), sf.col("partition"), sf.col("offset")
    )
    return sf.when(sf.col("reason_code").isNull(), sf.col("event_id")).otherwise(coords)


def dedup_time(window_seconds: int, now: Column) -> Column:
    """Event time clamped into ``[now - window, now]``; ``now`` on heartbeat rows.

    ``now`` is the batch time; a heartbeat row is one whose Kafka ``offset`` is a multiple
    of ``HEARTBEAT_EVERY`` (see the module's notes).
    """
    from pyspark.sql import functions as sf

    oldest = now - sf.make_interval(secs=sf.lit(window_seconds))
    event_time = sf.when(sf.col("reason_code").isNull(), sf.col("event_time"))
    clamped = sf.greatest(sf.least(event_time, now), oldest)
    return sf.when(sf.col("offset") % HEARTBEAT_EVERY == 0, now).otherwise(clamped)


def observe_input(df: DataFrame) -> DataFrame:
    """Count the rows entering the de-dup, valid and rejected (reported per batch)."""
    from pyspark.sql import functions as sf

    return df.observe(
        OBSERVED_INPUT,
        sf.count(sf.lit(1)).alias("rows"),
        sf.count(sf.when(sf.col("reason_code").isNull(), 1)).alias("valid"),
    )


def prepare_stream(
    source: DataFrame,
    *,
    validator: Validator,
    window_seconds: int,
) -> DataFrame:
    """Validate Kafka rows and drop duplicate ``event_id`` s within the window.

    Args:
        source: rows with ``value`` (binary), ``topic``, ``partition``, ``offset`` and
            ``timestamp``, streaming or not.
        validator: adds the typed event columns and ``reason_*`` columns.
        window_seconds: de-dup window (also the watermark delay).

    Returns:
        The validated rows, at most one per ``event_id`` within the window, plus every
        rejected row; ``_dedup_key`` and ``_dedup_time`` are kept for inspection, and
        ``value`` (the message bytes) only on rejected rows (quarantine keeps them).
    """
    from pyspark.sql import functions as sf

    from loglake_core.spark.clock import batch_now

    # The batch time once per row, over the narrow Kafka row, for the validator and the
    # clamp: a projection that computes it cannot be compiled into the stage's code, and
    # Spark merged the one after the validator into the validator's last, wide projection.
    # 2 M records took 0.7 s longer that way (validation and keying, no shuffle).
    # neither table keeps Kafka's message key or timestamp type: both shuffles carry less
    narrow = source.drop(*UNUSED_KAFKA_COLUMNS)
    validated = validator(narrow.withColumn(BATCH_NOW, batch_now()))
    keyed = validated.select(
        *(c for c in validated.columns if c not in ("value", BATCH_NOW)),
        # only quarantine keeps the message bytes: the shuffle and state carry less
        sf.when(sf.col("reason_code").isNotNull(), sf.col("value")).alias("value"),
        dedup_key().alias(DEDUP_KEY),
        dedup_time(window_seconds, sf.col(BATCH_NOW)).alias(DEDUP_TIME),
    )
    return (
        observe_input(keyed)
        .withWatermark(DEDUP_TIME, f"{window_seconds} seconds")
        .dropDuplicatesWithinWatermark([DEDUP_KEY])
    )
