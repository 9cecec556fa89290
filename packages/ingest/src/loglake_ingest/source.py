"""The Kafka source of the ingest query and the offsets each micro-batch covers.

Spark's Kafka connector does the reading; this module only sets its options and reads
back, from the query's offset log, the offset range of a batch, so that every batch can
store exactly which Kafka records it accounted for.

Example:
    >>> df = kafka_stream(spark, config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from loglake_ingest.config import IngestConfig

logger = logging.getLogger(__name__)

#: Columns of the Kafka source the job keeps.
KAFKA_COLUMNS: Final = ("value", "topic", "partition", "offset", "timestamp")

#: {topic: {partition: offset}}
Offsets = dict[str, dict[int, int]]


def kafka_options(config: IngestConfig) -> dict[str, str]:
    """Options of Spark's Kafka source for ``config`` (``kafka_options`` applied last)."""
    options = {
        "kafka.bootstrap.servers": config.bootstrap,
        "subscribe": ",".join(config.topics),
        "startingOffsets": config.starting_offsets,
        "failOnDataLoss": str(config.fail_on_data_loss).lower(),
        "includeHeaders": "false",
    }
    if config.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(config.max_offsets_per_trigger)
    options.update(config.kafka_options)
    return options


def kafka_stream(spark: SparkSession, config: IngestConfig) -> DataFrame:
    """The streaming DataFrame of the subscribed topics with the columns the job keeps."""
    reader = spark.readStream.format("kafka")
    for key, value in kafka_options(config).items():
        reader = reader.option(key, value)
    return reader.load().select(*KAFKA_COLUMNS)


def parse_offsets(text: str) -> Offsets:
    """Parse Kafka offsets JSON (``{"topic": {"0": 12}}``) into ints."""
    raw = json.loads(text)
    return {str(t): {int(p): int(o) for p, o in parts.items()} for t, parts in raw.items()}


def records_in_range(start: Offsets, end: Offsets) -> int:
    """Number of offsets between ``start`` (inclusive) and ``end`` (exclusive).

    A partition missing from ``start`` (new partition, first batch) starts at its earliest
    offset, which the caller must have put in ``start``; if it did not, 0 is assumed.
    For non-transactional topics every offset is one record.
    """
    total = 0
    for topic, parts in end.items():
        for part, end_offset in parts.items():
            total += max(0, end_offset - start.get(topic, {}).get(part, 0))
    return total


def _read_text(spark: SparkSession, uri: str) -> str | None:
    """Read a small file through Hadoop's FileSystem (works for file:// and s3a://)."""
    jvm: Any = spark.sparkContext._jvm  # type: ignore[attr-defined]
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(conf)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(line)
            line = reader.readLine()
        return "\n".join(lines)
    finally:
        stream.close()


def _logged_offsets(spark: SparkSession, checkpoint: str, batch_id: int) -> Offsets | None:
    """End offsets of ``batch_id`` from the checkpoint's offset log (single Kafka source)."""
    text = _read_text(spark, f"{checkpoint}/offsets/{batch_id}")
    if text is None:
        return None
    lines = text.split("\n")
    # v1 / metadata JSON / one line per source
    return parse_offsets(lines[2]) if len(lines) > 2 and lines[2] not in ("", "-") else None


def query_id(spark: SparkSession, checkpoint: str) -> str | None:
    """The streaming query's id, which Spark keeps in ``<checkpoint>/metadata``.

    Spark writes it when the query first starts on a checkpoint and reads it back on every
    restart, so it names one checkpoint's life: a deleted and recreated checkpoint, even at
    the same path, gets a new id (and its batch ids restart at 0).
    """
    text = _read_text(spark, f"{checkpoint}/metadata")
    if not text:
        return None
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def _initial_offsets(spark: SparkSession, checkpoint: str) -> Offsets | None:
    """Start offsets of the first batch, which the Kafka source logs under ``sources/0``."""
    text = _read_text(spark, f"{checkpoint}/sources/0/0")
    if text is None:
        return None
    body = text[text.index("{") :] if "{" in text else ""
    return parse_offsets(body) if body else None


def batch_offsets(spark: SparkSession, checkpoint: str, batch_id: int) -> tuple[Offsets, Offsets]:
    """``(start, end)`` offsets of one micro-batch, read from the query's checkpoint.

    Spark writes a batch's end offsets to ``offsets/<id>`` before running it; the start is
    the end of the previous batch (or the initial offsets for batch 0). Returns empty
    dicts when the checkpoint does not hold them (then the batch is not offset-checked).
    """
    end = _logged_offsets(spark, checkpoint, batch_id) or {}
    start = (
        _logged_offsets(spark, checkpoint, batch_id - 1)
        if batch_id > 0
        else _initial_offsets(spark, checkpoint)
    ) or {}
    if batch_id > 0 and not start:
        start = _initial_offsets(spark, checkpoint) or {}
    return start, end
