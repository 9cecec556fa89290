"""A broker restart keeps its topics and messages (run on a private broker, not the shared one)."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.integration


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def _count(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "count"})
    try:
        meta = consumer.list_topics(topic, timeout=10)
        total = 0
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def test_broker_restart_keeps_topics_and_messages(tmp_path):
    from loglake_tools.produce import produce_events
    from loglake_tools.stack import read_state, start_stack, stop_stack
    from loglake_tools.stack.procs import process_if_alive

    port = _free_port_pair()
    first = start_stack(directory=tmp_path, kafka_port=port, services=("kafka",), timeout=90)
    try:
        assert first.started == ("kafka",)
        bootstrap = first.state.kafka_bootstrap
        summary = produce_events(bootstrap, "kept", 3000, seed=1, partitions=3)
        assert _count(bootstrap, "kept") == summary["events_total"] == 3000
        old_pid = first.state.pids["kafka"]

        assert stop_stack(tmp_path, services=("kafka",)) == ["kafka"]
        assert process_if_alive(old_pid) is None
        assert read_state(tmp_path) is None

        second = start_stack(directory=tmp_path, kafka_port=port, services=("kafka",), timeout=90)
        assert second.started == ("kafka",)
        assert second.state.pids["kafka"] != old_pid
        assert _count(bootstrap, "kept") == 3000
        produce_events(bootstrap, "kept", 500, seed=2)
        assert _count(bootstrap, "kept") == 3500
    finally:
        stop_stack(tmp_path, purge=True)
    assert read_state(tmp_path) is None
    assert not (tmp_path / "kafka").exists()
