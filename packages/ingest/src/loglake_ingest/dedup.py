"""Streaming transformations: validate, key, and de-duplicate within an event-time window.

The de-dup runs on the streaming DataFrame (``dropDuplicatesWithinWatermark``), so its
state is checkpointed with the query and a replayed batch sees exactly the state it saw
the first time. Two choices keep it from ever dropping a non-duplicate:

* **Invalid rows never collide.** Their key is their Kafka coordinates, so each rejected
  record reaches quarantine, duplicates included.
* **Late rows are never "too late".** Spark drops rows older than the watermark before
  de-duplicating. The watermark column is therefore the event time *clamped* into
  ``[batch time - window, batch time]``: an event days late is keyed at the oldest
  moment still inside the window, so it is kept (and de-duplicated against copies that
  arrive within the window), while fresh events de-duplicate on their real event time.
  The watermark can never pass the current batch's time minus the window, so no row of
  the current batch is below it. An id leaves the state once the watermark (the newest
  time seen minus the window) passes its time plus the window: the state holds about two
  windows of event ids, in a backfill every id read in the last two windows.

The state is keyed by a 128-bit hash of the key (two 64-bit xxHash64 values with different
seeds), not by the key's text: 24 bytes a key instead of 56 for a 36-character id, so a
backfill's ten million ids or more fit RocksDB's bounded cache about twice as well.
Two different ids share both values with a probability of about n²/2¹²⁹ (below 10⁻²³ for
20 M ids in the state). A checkpoint whose state was created with the text key (before
the hash) keeps it: Spark does not let a checkpoint's state change its key.

Example:
    >>> out = prepare_stream(kafka_df, validator=validate, window_seconds=600)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: A ``DataFrame -> DataFrame`` that adds the typed event columns and reason columns.
Validator = Callable[["DataFrame"], "DataFrame"]

DEDUP_KEY: Final = "_dedup_key"
#: The state's key: two 64-bit hashes of the de-dup key.
DEDUP_HASHES: Final = ("_dedup_h1", "_dedup_h2")
#: The second hash's first input: it seeds the second xxHash64 with another value.
_SECOND_SEED: Final = "loglake-dedup"
DEDUP_TIME: Final = "_dedup_time"
_NOW: Final = "_batch_now"
#: Name of the observed metrics of rows entering the de-dup (see ``listener``).
OBSERVED_INPUT: Final = "ingest_input"


def dedup_key() -> Column:
    """``event_id`` for valid rows, the Kafka coordinates for rejected ones."""
    from pyspark.sql import functions as sf

    coords = sf.concat_ws(
        ":", sf.lit("\u0000kafka"), sf.col("topic"), sf.col("partition"), sf.col("offset")
    )
    return sf.when(sf.col("reason_code").isNull(), sf.col("event_id")).otherwise(coords)


def key_hashes(key: Column) -> list[Column]:
    """Two 64-bit hashes of ``key`` (xxHash64, different seeds), named ``DEDUP_HASHES``."""
    from pyspark.sql import functions as sf

    first, second = DEDUP_HASHES
    return [
        sf.xxhash64(key).alias(first),
        sf.xxhash64(sf.lit(_SECOND_SEED), key).alias(second),
    ]


def dedup_time(window_seconds: int, now: Column) -> Column:
    """Event time clamped into ``[now - window, now]`` (``now``: the batch time)."""
    from pyspark.sql import functions as sf

    oldest = now - sf.make_interval(secs=sf.lit(window_seconds))
    event_time = sf.when(sf.col("reason_code").isNull(), sf.col("event_time"))
    return sf.greatest(sf.least(event_time, now), oldest)


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
    hashed_key: bool = True,
) -> DataFrame:
    """Validate Kafka rows and drop duplicate ``event_id`` s within the window.

    Args:
        source: rows with ``value`` (binary), ``topic``, ``partition``, ``offset`` and
            ``timestamp``, streaming or not.
        validator: adds the typed event columns and ``reason_*`` columns.
        window_seconds: de-dup window (also the watermark delay).
        hashed_key: key the state by ``DEDUP_HASHES`` (``False``: by the text
            ``_dedup_key``, for checkpoints created that way; see ``state_key_is_text``).

    Returns:
        The validated rows, at most one per ``event_id`` within the window, plus every
        rejected row; the key columns and ``_dedup_time`` are kept for inspection, and
        ``value`` (the message bytes) only on rejected rows (quarantine keeps them).
    """
    from pyspark.sql import functions as sf

    from loglake_core.spark.clock import batch_now

    # the batch time once per row, in a projection of its own (the clamp reads it twice)
    validated = validator(source).withColumn(_NOW, batch_now())
    keyed = validated.select(
        *(c for c in validated.columns if c not in ("value", _NOW)),
        # only quarantine keeps the message bytes: the shuffle and state carry less
        sf.when(sf.col("reason_code").isNotNull(), sf.col("value")).alias("value"),
        *(key_hashes(dedup_key()) if hashed_key else [dedup_key().alias(DEDUP_KEY)]),
        dedup_time(window_seconds, sf.col(_NOW)).alias(DEDUP_TIME),
    )
    return (
        observe_input(keyed)
        .withWatermark(DEDUP_TIME, f"{window_seconds} seconds")
        .dropDuplicatesWithinWatermark(list(DEDUP_HASHES) if hashed_key else [DEDUP_KEY])
    )


def state_key_is_text(schema_text: str | None) -> bool:
    """Whether a checkpoint's de-dup state is keyed by the text ``_dedup_key``.

    Args:
        schema_text: the state's schema file (``state/0/0/_metadata/schema`` of the
            checkpoint), or ``None`` when the checkpoint has no state yet.
    """
    return schema_text is not None and f'"name":"{DEDUP_KEY}"' in schema_text
