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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from loglake_ingest.config import IngestConfig

logger = logging.getLogger(__name__)

#: Columns of the Kafka source the job keeps.
KAFKA_COLUMNS: Final = ("value", "topic", "partition", "offset", "timestamp")

#: {topic: {partition: offset}}
Offsets = dict[str, dict[int, int]]

#: Kafka consumer settings the job gives Spark's Kafka source (a ``kafka.*`` option of the
#: user's wins). A task reads a range of offsets that already exist, so a fetch has no
#: reason to wait for new records; with Kafka's default (500 ms) every task of a batch
#: that reached the end of its partitions sat idle for about half a second (docs/ingest.md).
CONSUMER_DEFAULTS: Final = {"kafka.fetch.max.wait.ms": "10"}


def kafka_options(config: IngestConfig) -> dict[str, str]:
    """Options of Spark's Kafka source for ``config`` (``kafka_options`` applied last)."""
    options = {
        "kafka.bootstrap.servers": config.bootstrap,
        "subscribe": ",".join(config.topics),
        "startingOffsets": config.starting_offsets,
        "failOnDataLoss": str(config.fail_on_data_loss).lower(),
        "includeHeaders": "false",
        **CONSUMER_DEFAULTS,
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


#: How long the check before the query waits for the brokers to list their topics.
CHECK_TIMEOUT_SECONDS: Final = 20
#: The Kafka client logger that warns once a second while a broker cannot be reached.
KAFKA_CLIENT_LOGGER: Final = "org.apache.kafka.clients.NetworkClient"


def check_source(spark: SparkSession, config: IngestConfig) -> None:
    """Fail before the query starts when Kafka cannot be reached or a topic is missing.

    Spark's Kafka source reports both only after retries, as a JVM stack trace without
    the topic's name. This lists the cluster's topics with Kafka's admin client on the
    driver, with the job's ``kafka.*`` options (so its security settings apply).

    Raises:
        ConfigError: a subscribed topic does not exist (the message names it, the
            topics that do exist and the fix).
        IngestError: the brokers did not answer within ``CHECK_TIMEOUT_SECONDS``.
    """
    from py4j.protocol import Py4JJavaError

    from loglake_ingest.errors import ConfigError, IngestError

    options = kafka_options(config)
    bootstrap = options.get("kafka.bootstrap.servers", "")
    jvm: Any = spark.sparkContext._jvm  # type: ignore[attr-defined]
    props = jvm.java.util.Properties()
    timeout_ms = str(CHECK_TIMEOUT_SECONDS * 1000)
    settings = {"request.timeout.ms": timeout_ms, "default.api.timeout.ms": timeout_ms}
    for key, value in {**settings, **_admin_options(options)}.items():  # the job's win
        props.setProperty(key, value)
    quiet = _quiet_jvm_logger(jvm, KAFKA_CLIENT_LOGGER)  # one warning a second otherwise
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
    try:
        listing = admin.listTopics().names()
        names = set(listing.get(CHECK_TIMEOUT_SECONDS, jvm.java.util.concurrent.TimeUnit.SECONDS))
    except Py4JJavaError as exc:
        raise IngestError(
            f"cannot list the topics of Kafka at {bootstrap} within {CHECK_TIMEOUT_SECONDS} s "
            f"({_java_cause(exc)}). Check --bootstrap (HOST:PORT of a broker this machine can "
            "reach), start the local stack with `loglake stack up`, or give the cluster's "
            "security settings as kafka.* options"
        ) from None
    finally:
        admin.close(jvm.java.time.Duration.ofSeconds(5))
        quiet()
    wanted = [t for t in options.get("subscribe", "").split(",") if t]
    missing = [t for t in wanted if t not in names]
    if missing:
        shown = ", ".join(sorted(names)[:20]) or "none"
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        raise ConfigError(
            f"--topic: {', '.join(repr(t) for t in missing)} does not exist on Kafka at "
            f"{bootstrap} (its topics: {shown}{more}). Fix the name, or create the topic first "
            "(`loglake produce` creates the topics it writes to)"
        )


def _quiet_jvm_logger(jvm: Any, name: str) -> Callable[[], None]:
    """Raise a log4j logger's level to ERROR; returns the function that restores it."""
    from py4j.protocol import Py4JError

    try:
        log4j = jvm.org.apache.logging.log4j
        previous = log4j.LogManager.getLogger(name).getLevel()
        log4j.core.config.Configurator.setLevel(name, log4j.Level.ERROR)
    except Py4JError:  # another logging backend: keep its output
        return lambda: None
    return lambda: log4j.core.config.Configurator.setLevel(name, previous)


def _admin_options(options: dict[str, str]) -> dict[str, str]:
    """The Kafka client settings among the source's options (``kafka.`` stripped).

    The consumer's own settings are left out: the admin client would warn about them.
    """
    return {
        k.removeprefix("kafka."): v
        for k, v in options.items()
        if k.startswith("kafka.") and k not in CONSUMER_DEFAULTS
    }


def _java_cause(exc: Any) -> str:
    """The innermost Java exception of a py4j error, as ``Class: message``."""
    cause = exc.java_exception
    while cause.getCause() is not None:
        cause = cause.getCause()
    return f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"


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


def checkpoint_conf(spark: SparkSession, checkpoint: str) -> dict[str, str]:
    """The Spark settings the checkpoint's newest offset log entry keeps for its query.

    Spark writes them with every batch's offsets (the state store provider, the number of
    state partitions, ...) and uses them again, over the session's, when the query restarts.
    Empty for a new checkpoint.
    """
    jvm: Any = spark.sparkContext._jvm  # type: ignore[attr-defined]
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    folder = jvm.org.apache.hadoop.fs.Path(f"{checkpoint}/offsets")
    fs = folder.getFileSystem(conf)
    if not fs.exists(folder):
        return {}
    names = [status.getPath().getName() for status in fs.listStatus(folder)]
    ids = [int(name) for name in names if name.isdigit()]
    text = _read_text(spark, f"{checkpoint}/offsets/{max(ids)}") if ids else None
    lines = (text or "").split("\n")
    try:
        found = json.loads(lines[1]).get("conf", {}) if len(lines) > 1 else {}
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


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
