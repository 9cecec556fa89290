"""Pre-load benchmark topics with the project's producer, and measure how fast it goes.

Generating events is Python work, so ``preload`` runs the producer in one process per
core (`loglake_tools.produce.produce_parallel`: each worker has its own seed, so event
ids never collide), all writing to the same topic. The figure reported as the
*producer rate* is events / wall time of the whole pre-load (generation included); the
producers' own send-only rates are recorded too.

Example:
    >>> summary = preload("127.0.0.1:19092", "bench-ingest", 5_000_000)  # doctest: +SKIP
    >>> summary["events_per_second"] > 100_000  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from loglake_tools.bench.errors import ComponentNotAvailableError

log = logging.getLogger(__name__)

#: Shares of the generator used for every benchmark topic: a realistic mix that makes
#: our job do all of its work (quarantine, de-duplication, late dates).
MALFORMED_SHARE: Final = 0.005
DUPLICATE_SHARE: Final = 0.01
LATE_SHARE: Final = 0.01


def _producer() -> Any:
    try:
        from loglake_tools.produce import produce_parallel
    except ImportError as exc:
        raise ComponentNotAvailableError(
            f"the event producer (loglake_tools.produce) is not available: {exc}"
        ) from exc
    return produce_parallel


def preload(
    bootstrap: str,
    topic: str,
    events: int,
    *,
    partitions: int = 6,
    days: float = 7.0,
    seed: int = 1,
    workers: int | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    """Create ``topic`` and write ``events`` generated events to it.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: the topic (created with ``partitions`` partitions).
        events: how many records in total.
        partitions: partitions of the topic.
        days: event times span this many days up to now.
        seed: seed of the run (the workers' seeds derive from it).
        workers: producer processes (default: one per core, one for small loads).
        rate: total events per second (``None``: as fast as possible).

    Returns:
        Counts (valid, duplicates, malformed, late), wall seconds, events per second and
        the producers' send-only and generation rates; ``summary`` is the producer's
        whole merged summary.
    """
    produce_parallel = _producer()
    from loglake_tools.stack.kafka import create_topic

    create_topic(bootstrap, topic, partitions)
    summary = produce_parallel(
        bootstrap,
        topic,
        events,
        workers=workers,
        seed=seed,
        rate=rate,
        malformed_share=MALFORMED_SHARE,
        duplicate_share=DUPLICATE_SHARE,
        late_share=LATE_SHARE,
        days=days,
        partitions=partitions,
        create=False,
    )
    total: dict[str, Any] = {
        "topic": topic,
        "events": events,
        "partitions": partitions,
        "days": days,
        "workers": summary["workers"],
        "wall_seconds": summary["wall_seconds"],
        "events_per_second": summary["events_per_second"],
        "send_rates": [w["rate"] for w in summary["per_worker"]],
        "generate_rates": [w["generate_rate"] for w in summary["per_worker"]],
        **{key: summary[key] for key in ("valid", "duplicates", "malformed", "late")},
        "summary": summary,
    }
    log.info("pre-loaded %d events into %s in %.1fs", events, topic, summary["wall_seconds"])
    return total


def drop_topic(bootstrap: str, topic: str) -> None:
    """Delete a benchmark topic (frees the broker's disk); failures are only logged."""
    from loglake_tools.stack.kafka import delete_topic

    try:
        delete_topic(bootstrap, topic)
    except Exception as exc:  # cleanup only: the figures are already taken
        log.warning("could not delete topic %s: %s", topic, exc)


def kafka_record_times(
    bootstrap: str, topic: str, *, skip_before: dict[int, int] | None = None
) -> dict[int, tuple[list[int], list[int]]]:
    """Every record's (offset, timestamp ms) of ``topic``, per partition, read from earliest.

    Kafka stamps each record with its create time (set by the producer when it is sent),
    which the latency benchmark uses as the event's produce time.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: the topic.
        skip_before: partition -> first offset to keep (earlier records are skipped).
    """
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-times-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    meta = consumer.list_topics(topic, timeout=30)
    parts = sorted(meta.topics[topic].partitions)
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts
    }
    start = skip_before or {}
    consumer.assign([TopicPartition(topic, p, start.get(p, OFFSET_BEGINNING)) for p in parts])
    out: dict[int, tuple[list[int], list[int]]] = {p: ([], []) for p in parts}
    pending = {p for p in parts if ends[p] > start.get(p, 0)}
    idle_since = time.monotonic()
    while pending:
        msgs = consumer.consume(num_messages=10_000, timeout=1.0)
        if not msgs:
            if time.monotonic() - idle_since > 60:
                break
            continue
        idle_since = time.monotonic()
        for m in msgs:
            if m.error():
                continue
            p = m.partition()
            offsets, times = out[p]
            offsets.append(m.offset())
            times.append(m.timestamp()[1])
            if m.offset() >= ends[p] - 1:
                pending.discard(p)
    consumer.close()
    return out
