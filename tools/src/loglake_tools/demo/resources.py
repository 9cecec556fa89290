"""The demo's resources on the local stack: topic, control table, bucket and lake folders.

``--fresh`` removes only what the demo owns: its topic, its control table and the
lake's ``raw/``, ``processed/`` and ``_checkpoints/`` folders (never the lake's base
folder itself, which may hold other things).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from loglake_core.layout import LakeLayout

log = logging.getLogger(__name__)

#: The lake folders a demo run writes (and ``--fresh`` removes).
LAKE_FOLDERS: Final = ("raw", "processed", "_checkpoints")
PROBE_GROUP: Final = "loglake-demo-probe"
#: Tries of one offsets request: right after a topic is created (or the broker restarted)
#: its partitions may have no leader for a moment, which Kafka reports as retriable.
OFFSET_TRIES: Final = 20
OFFSET_RETRY_SECONDS: Final = 0.5


class TopicCounter:
    """Counts the records a topic holds (sum of end minus start offsets over partitions)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.topic = topic
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": PROBE_GROUP, "enable.auto.commit": False}
        )

    def count(self, timeout: float = 10.0) -> int:
        """Records in the topic now (0 for a missing topic)."""
        from confluent_kafka import TopicPartition

        meta = self._consumer.list_topics(self.topic, timeout=timeout)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None:
            return 0
        total = 0
        for p in topic.partitions:
            low, high = self._offsets(TopicPartition(self.topic, p), timeout)
            total += max(high - low, 0)
        return total

    def _offsets(self, partition: Any, timeout: float) -> tuple[int, int]:
        """Low and high watermarks, retrying while the partition has no leader yet."""
        from confluent_kafka import KafkaError, KafkaException

        not_ready = {
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError.REQUEST_TIMED_OUT,
            KafkaError._TIMED_OUT,
        }
        for attempt in range(OFFSET_TRIES):
            try:
                low, high = self._consumer.get_watermark_offsets(partition, timeout=timeout)
                return int(low), int(high)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                retriable = error is not None and (error.retriable() or error.code() in not_ready)
                if not retriable or attempt == OFFSET_TRIES - 1:
                    raise
                log.debug("offsets of %s not ready (%s); retrying", partition, error)
                time.sleep(OFFSET_RETRY_SECONDS)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release the probe consumer."""
        self._consumer.close()


def lake_has_tables(layout: LakeLayout, s3_endpoint: str | None) -> bool:
    """Whether the lake already holds any folder a demo writes."""
    if layout.is_local:
        return any((Path(layout.local_path) / name).exists() for name in LAKE_FOLDERS)
    client = _s3(s3_endpoint)
    for name in LAKE_FOLDERS:
        page = client.list_objects_v2(Bucket=layout.bucket, Prefix=_key(layout, name), MaxKeys=1)
        if page.get("KeyCount", 0):
            return True
    return False


def wipe_lake(layout: LakeLayout, s3_endpoint: str | None) -> None:
    """Remove the lake's ``raw/``, ``processed/`` and ``_checkpoints/`` folders."""
    if layout.is_local:
        for name in LAKE_FOLDERS:
            shutil.rmtree(Path(layout.local_path) / name, ignore_errors=True)
        return
    client = _s3(s3_endpoint)
    paginator = client.get_paginator("list_objects_v2")
    for name in LAKE_FOLDERS:
        for page in paginator.paginate(Bucket=layout.bucket, Prefix=_key(layout, name)):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                client.delete_objects(
                    Bucket=layout.bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
                )


def ensure_bucket(layout: LakeLayout, s3_endpoint: str) -> bool:
    """Create the lake's bucket on the stack's S3 API server (True when created)."""
    from loglake_tools.stack import create_bucket

    return create_bucket(s3_endpoint, layout.bucket)


def delete_control_table(name: str, aws_endpoint: str | None) -> None:
    """Delete a control table if it exists."""
    from loglake_core.control_store import default_client

    client = default_client(aws_endpoint)
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=name)


def delete_topic_quietly(bootstrap: str, topic: str) -> None:
    """Delete a topic, ignoring a missing one or a broker hiccup (it is only cleanup)."""
    from loglake_tools.stack import delete_topic

    try:
        delete_topic(bootstrap, topic)
    except Exception as exc:
        log.warning("could not delete topic %s: %s", topic, exc)


def _key(layout: LakeLayout, name: str) -> str:
    return f"{layout.prefix}/{name}/" if layout.prefix else f"{name}/"


def _s3(endpoint: str | None) -> Any:
    from loglake_tools.stack import s3_client

    return s3_client(endpoint) if endpoint else __import__("boto3").client("s3")
