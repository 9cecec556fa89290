"""The Apache Kafka broker of the local stack: one KRaft node (broker + controller).

The broker runs from the Maven Central jars (``loglake jars fetch``) with ``java``; its
storage is formatted once (``kafka.tools.StorageTool format``) and lives in
``<state>/kafka/data``, so a restart keeps every topic and message.

Example:
    >>> create_topic("127.0.0.1:19092", "events", partitions=6)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Final

from loglake_tools.stack import procs
from loglake_tools.stack.errors import ServerStartError, StackError

if TYPE_CHECKING:
    import psutil

log = logging.getLogger(__name__)

HEAP: Final = "512m"
NODE_ID: Final = 1
DEFAULT_PARTITIONS: Final = 6
#: Seconds one readiness probe may take.
PROBE_TIMEOUT: Final = 2.0


def java_bin() -> str:
    """The ``java`` executable: ``$JAVA_HOME/bin/java`` or the one on PATH.

    Raises:
        StackError: when no Java runtime is found.
    """
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("`java` not found; install a Java 17+ runtime or set JAVA_HOME")
    return found


def server_properties(root: Path, port: int, controller_port: int, host: str = "127.0.0.1") -> str:
    """The broker's ``server.properties`` for one combined KRaft node on ``host``."""
    data_dir = root / "data"
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": str(DEFAULT_PARTITIONS),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # As on MSK: a topic exists only once created, so a mistyped name fails loudly
        # instead of becoming an empty topic (and a deleted one is not brought back).
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "6",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A local lake keeps its source: no time-based deletion (`--fresh` wipes it).
        "log.retention.ms": "-1",
        "log.segment.bytes": str(256 * 1024 * 1024),
        "message.max.bytes": str(8 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.flush.interval.messages": str(2**62),
    }
    return "".join(f"{k}={v}\n" for k, v in settings.items())


def log4j2_properties(log_dir: Path) -> str:
    """A log4j2 configuration: INFO to a size-rolled file, the chatty loggers at WARN."""
    return f"""status = warn
name = loglake-kafka
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_dir}/kafka-server.log
appender.file.filePattern = {log_dir}/kafka-server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.log.name = kafka.log.LogCleaner
logger.log.level = WARN
"""


def _cluster_id() -> str:
    """A random KRaft cluster id (16 bytes, URL-safe base64 without padding)."""
    while True:
        value = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def prepare(root: Path, port: int, controller_port: int, classpath: str) -> Path:
    """Write the broker's configuration and format its storage on first use.

    Returns:
        The ``server.properties`` path.

    Raises:
        ServerStartError: when formatting the storage fails.
    """
    (root / "data").mkdir(parents=True, exist_ok=True)
    log_dir = root.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    props = root / "server.properties"
    props.write_text(server_properties(root, port, controller_port))
    (root / "log4j2.properties").write_text(log4j2_properties(log_dir))
    if (root / "data" / "meta.properties").is_file():
        return props
    cmd = [
        java_bin(),
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _cluster_id(),
        "-c",
        str(props),
        "--ignore-formatted",
    ]
    log.info("formatting Kafka storage in %s", root / "data")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServerStartError(
            f"formatting Kafka storage in {root / 'data'} failed (exit {result.returncode}):\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return props


def start(root: Path, port: int, controller_port: int, classpath: str) -> psutil.Process:
    """Start the broker detached; it logs to ``<state>/logs/kafka*.log``."""
    props = prepare(root, port, controller_port, classpath)
    log_dir = root.parent / "logs"
    cmd = [
        java_bin(),
        f"-Xms{HEAP}",
        f"-Xmx{HEAP}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:MaxMetaspaceSize=256m",
        "-XX:ReservedCodeCacheSize=96m",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={log_dir}",
        f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(props),
    ]
    return procs.spawn(cmd, log_file=log_dir / "kafka.log", cwd=root)


def server_log(root: Path) -> Path:
    """The broker's main log file."""
    return root.parent / "logs" / "kafka-server.log"


def _admin(bootstrap: str, timeout: float = PROBE_TIMEOUT) -> object:
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": int(timeout * 1000),
            "logger": logging.getLogger("loglake_tools.stack.librdkafka"),
        }
    )


def is_ready(bootstrap: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the broker answers a metadata request (and has a controller)."""
    admin = _admin(bootstrap, timeout)
    meta = admin.list_topics(timeout=timeout)  # type: ignore[attr-defined]
    return bool(meta.brokers)


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    config: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> bool:
    """Create topic ``name`` (replication 1) unless it exists.

    Returns:
        True when the topic was created, False when it already existed.

    Raises:
        StackError: when the broker refuses for any other reason.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    admin = _admin(bootstrap, timeout)
    futures = admin.create_topics(  # type: ignore[attr-defined]
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise StackError(f"creating Kafka topic {name!r} on {bootstrap} failed: {err}") from exc
    _wait_for_leaders(admin, name, partitions, timeout)
    return True


def delete_topic(bootstrap: str, name: str, timeout: float = 30.0) -> None:
    """Delete topic ``name`` if it exists."""
    from confluent_kafka import KafkaError, KafkaException

    admin = _admin(bootstrap, timeout)
    futures = admin.delete_topics([name], operation_timeout=timeout)  # type: ignore[attr-defined]
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise StackError(f"deleting Kafka topic {name!r} failed: {exc.args[0]}") from exc


def _wait_for_leaders(admin: object, name: str, partitions: int, timeout: float) -> None:
    """Block until every partition of a new topic has a leader (metadata propagated)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic=name, timeout=timeout)  # type: ignore[attr-defined]
        topic = meta.topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise StackError(f"Kafka topic {name!r} has no leader for every partition after {timeout}s")
