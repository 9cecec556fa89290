"""``produce_parallel``: several producer processes, one summary that matches the topic."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

pytestmark = pytest.mark.integration

EVENTS = 20_000


def _read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value of ``topic``, read from the start to the end offsets of now."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=30)
        parts = sorted(meta.topics[topic].partitions)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        values: list[bytes] = []
        pending = {p for p in parts if ends[p] > 0}
        idle = 0
        while pending and idle < 30:
            msgs = consumer.consume(num_messages=5000, timeout=1.0)
            idle = 0 if msgs else idle + 1
            for m in msgs:
                assert m.error() is None, m.error()
                values.append(m.value())
                if m.offset() >= ends[m.partition()] - 1:
                    pending.discard(m.partition())
        assert not pending, f"partitions {sorted(pending)} not read to their end"
        assert sum(ends.values()) == len(values)
        return values
    finally:
        consumer.close()


def test_two_workers_send_exactly_what_the_merged_summary_says(local_stack, kafka_topic):
    from loglake_tools.loadgen import run_id_of
    from loglake_tools.produce import produce_parallel

    summary = produce_parallel(
        local_stack.kafka_bootstrap,
        kafka_topic,
        EVENTS,
        workers=2,
        seed=11,
        malformed_share=0.02,
        duplicate_share=0.03,
        late_share=0.05,
        days=2,
    )
    assert summary["workers"] == 2
    assert summary["events_total"] == EVENTS
    assert summary["valid"] + summary["duplicates"] + summary["malformed"] == EVENTS
    assert summary["duplicates"] > 0
    assert summary["malformed"] > 0
    assert [w["events_total"] for w in summary["per_worker"]] == [EVENTS // 2] * 2

    values = _read_topic(local_stack.kafka_bootstrap, kafka_topic)
    assert len(values) == summary["events_total"]

    sends: Counter[str] = Counter()
    first: dict[str, dict] = {}
    for value in values:
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or "-bad-" in event_id:
            continue  # malformed records carry "-bad-" ids or none
        sends[event_id] += 1
        first.setdefault(event_id, event)
    # Unique ids = valid events (no id shared between the workers), the rest re-sends.
    assert len(sends) == summary["valid"]
    assert sum(sends.values()) == summary["valid"] + summary["duplicates"]
    assert {i.split("-")[0] for i in sends} == {run_id_of(s) for s in summary["worker_seeds"]}
    per_type: Counter[str] = Counter()
    per_date: Counter[str] = Counter()
    for event in first.values():
        per_type[event["event_type"]] += 1
        when = event["event_time"]
        if isinstance(when, int):
            when = datetime.fromtimestamp(when / 1000, UTC).isoformat()
        per_date[when[:10]] += 1
    assert summary["per_type"] == dict(sorted(per_type.items()))
    assert summary["per_date"] == dict(sorted(per_date.items()))
