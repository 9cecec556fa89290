"""Replay of quarantined records after relaxing a rule: moved into raw once, rerun moves none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loglake_ingest.batch import BatchWriter
from loglake_ingest.config import IngestConfig
from loglake_ingest.replay import replay_quarantine
from loglake_ingest.tables import ensure_tables, replays_path

pytestmark = pytest.mark.spark


def test_replay_moves_now_valid_records_exactly_once(
    spark, tmp_path, make_validator, event, kafka_frame
):
    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    layout = config.layout
    ensure_tables(spark, layout)
    now = datetime.now(UTC)
    ahead = now + timedelta(hours=1)
    values = [event("ok", now), event("f1", ahead), event("f2", ahead), b"[1, 2]"]
    writer = BatchWriter(spark, config, read_offsets=False, query_id="q")
    writer(make_validator()(kafka_frame(values)), 0)
    quarantine = spark.read.format("delta").load(layout.raw_quarantine)
    reasons = {r.kafka_offset: r.reason_code for r in quarantine.collect()}
    assert reasons == {1: "future_timestamp", 2: "future_timestamp", 3: "not_object"}

    relaxed = make_validator(max_future_skew_seconds=7200)
    first = replay_quarantine(spark, layout, validator=relaxed, reason="future_timestamp")
    second = replay_quarantine(spark, layout, validator=relaxed, reason="future_timestamp")
    everything = replay_quarantine(spark, layout, validator=relaxed)

    assert (first.candidates, first.now_valid, first.moved) == (2, 2, 2)
    assert first.event_dates == [ahead.date()]
    assert (second.candidates, second.moved) == (0, 0)
    assert (everything.candidates, everything.moved, everything.still_invalid) == (1, 0, 1)
    assert everything.still_invalid_by_reason == {"not_object": 1}
    raw = spark.read.format("delta").load(layout.raw_events)
    assert sorted(r.event_id for r in raw.collect()) == ["f1", "f2", "ok"]
    replays = spark.read.format("delta").load(replays_path(layout)).collect()
    assert sorted((r.kafka_offset, r.previous_reason_code) for r in replays) == [
        (1, "future_timestamp"),
        (2, "future_timestamp"),
    ]
    # Quarantine keeps its evidence.
    assert spark.read.format("delta").load(layout.raw_quarantine).count() == 3
