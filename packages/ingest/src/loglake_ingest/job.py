"""The streaming ingest job: one query from Kafka to the raw zone, run until told to stop.

``run_ingest(config)`` builds (or reuses) the SparkSession, creates the tables, starts
one streaming query (Kafka -> validate -> de-dup -> ``foreachBatch`` writer) and waits:
with ``available_now`` until the topics are drained, otherwise until SIGTERM/SIGINT,
which stop the query between two batches. It returns an :class:`IngestRunSummary`.

Example:
    >>> summary = run_ingest(IngestConfig.resolve(topics=("events",), lake="/tmp/lake",
    ...                                           bootstrap="127.0.0.1:19092", available_now=True))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from loglake_ingest.batch import BatchWriter
from loglake_ingest.dedup import BATCH_NOW, Validator, prepare_stream
from loglake_ingest.errors import (
    DataLossError,
    IngestError,
    QueryFailedError,
    ReconciliationError,
)
from loglake_ingest.source import check_source, kafka_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from loglake_ingest.config import IngestConfig
    from loglake_ingest.progress import ProgressRecorder

logger = logging.getLogger(__name__)

QUERY_NAME: Final = "loglake-ingest"
#: How often the main thread wakes up to look for a stop request or a failure.
POLL_SECONDS: Final = 0.5
#: Markers of Spark's Kafka data-loss failure (failOnDataLoss=true).
DATA_LOSS_MARKERS: Final = ("KAFKA_DATA_LOSS", "data may have been lost", "failOnDataLoss")
#: Spark 4.1.1's Kafka source can fail right after a replayed batch has committed, with a
#: NullPointerException in ``KafkaMicroBatchStream.metrics`` (SPARK-55271, fixed upstream
#: later). The batch is committed, so starting the query again from its checkpoint loses
#: and repeats nothing; the job does that this many times per run, and no more.
KNOWN_SPARK_FAILURE: Final = "KafkaMicroBatchStream$.metrics"
KNOWN_FAILURE_RESTARTS: Final = 1
#: Kafka's error when a subscribed topic disappears after the check at start.
MISSING_TOPIC_MARKER: Final = "UnknownTopicOrPartitionException"


@dataclass
class IngestRunSummary:
    """What one run of the job did (this process; a restarted run counts afresh)."""

    batches: int = 0
    records_read: int = 0
    valid_written: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    first_batch_id: int | None = None
    last_batch_id: int | None = None
    dirty_dates: list[date] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by: str = "drained"
    #: in-process restarts after Spark's known Kafka-source failure (``KNOWN_SPARK_FAILURE``)
    restarts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        out = asdict(self)
        out["dirty_dates"] = [d.isoformat() for d in self.dirty_dates]
        return out


def default_validator(config: IngestConfig) -> Validator:
    """The core Spark validator with the job's validation settings."""
    from loglake_core.spark.rules import validate_values

    validation = config.validation_config()

    def validate(df: DataFrame) -> DataFrame:
        # quarantine keeps the message of rejected rows only (see ``prepare_stream``), and
        # the stream's rows carry the batch time (``BATCH_NOW``), replayed ones do not
        now = BATCH_NOW if BATCH_NOW in df.columns else None
        return validate_values(
            df, "value", config=validation, keep_accepted_value=False, now_col=now
        )

    return validate


#: The de-dup state lives in RocksDB (off the JVM heap, spilled to local disk): it holds the
#: event ids of up to two windows, e.g. 15.6 M ids for 600 s at 13 k/s, which the default
#: in-heap store cannot keep in a 1 GiB driver. A checkpoint keeps the provider it was
#: created with, so older checkpoints restart unchanged.
#: Each state partition's RocksDB gets a 32 MB block cache and two 16 MB memtables (64 MB;
#: 256 MB for a local job's four partitions) and keeps its bloom filters and indexes outside
#: that cache. Spark's bounded mode (one shared cache for all of it) charged them to the
#: cache, where the operator's per-batch eviction scan over the whole state pushed them out:
#: past about 10 M ids every lookup of a new id read them back, and a 20 M-event backfill's
#: middle batches took 30-240 s instead of 10 s (1,206-1,358 s for the drain; 448 s this
#: way, at a lower peak: docs/benchmarks.md). Filters and indexes grow with the state
#: (the bloom filters take 10 bits per id). A cluster job with many state partitions per
#: executor lowers the sizes, or returns to the bounded mode with ``--conf
#: spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage=true``.
#: Spark's count of the rows in the store costs one more RocksDB lookup per written key;
#: with about 6.5 M ids that lookup made a 500 k-event batch take 46-61 s instead of
#: 15-23 s. The job never reads that count (the duplicates it reconciles are the
#: operator's own metric), so it is off; a checkpoint may switch it either way on restart.
STATE_PROVIDER_KEY: Final = "spark.sql.streaming.stateStore.providerClass"
STATE_STORE_CONF: Final = {
    STATE_PROVIDER_KEY: "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage": "false",
    "spark.sql.streaming.stateStore.rocksdb.blockCacheSizeMB": "32",
    "spark.sql.streaming.stateStore.rocksdb.writeBufferSizeMB": "16",
    "spark.sql.streaming.stateStore.rocksdb.maxWriteBufferNumber": "2",
    "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
}


#: Spark's RocksDB provider with a filter in memory of the keys in the store, which answers
#: most lookups of new ids without RocksDB (``FilteredRocksDBStateStoreProvider.java`` in
#: ``loglake_core.spark``'s accelerator jar). The state and its files are the RocksDB
#: provider's own. New checkpoints use it wherever the jar is on a Spark 4.1 classpath.
FILTERED_STATE_PROVIDER: Final = "dev.loglake.state.FilteredRocksDBStateStoreProvider"
#: The Spark release line that provider is compiled against (pyspark's pin; Glue 6.0 runs
#: it too). It implements Spark's internal state store interfaces, which other lines change.
FILTERED_STATE_SPARK: Final = "4.1."


#: A write task keeps one open file per date it writes (up to this many) instead of sorting
#: its rows by date first: raw and quarantine took 0.2-0.3 s less per 500 k-event batch
#: (docs/benchmarks.md). Each date still goes to one task, so one file per date.
WRITE_CONF: Final = {"spark.sql.maxConcurrentOutputFileWriters": "16"}


#: No micro-batch without data. Spark otherwise runs one after a batch that moved the
#: watermark, only so that the de-dup evicts old ids; that batch scans the whole de-dup
#: state (0.9-1.3 s at 4-5 M ids) and ends every ``--available-now`` drain. The next batch
#: with data evicts them instead: ids stay in the state longer, never shorter.
TRIGGER_CONF: Final = {"spark.sql.streaming.noDataMicroBatches.enabled": "false"}


def session_for(config: IngestConfig) -> SparkSession:
    """Build (or reuse) the SparkSession for the job."""
    from loglake_core.spark.session import build_spark_session

    return build_spark_session(
        QUERY_NAME,
        master=config.master,
        s3_endpoint=config.s3_endpoint,
        conf={**STATE_STORE_CONF, **WRITE_CONF, **TRIGGER_CONF, **config.spark_conf},
    )


def jvm_has_class(spark: SparkSession, name: str) -> bool:
    """Whether Spark's JVM can load the class ``name`` (its own and the ``--jars`` classes)."""
    from py4j.protocol import Py4JError

    jvm: Any = spark.sparkContext._jvm  # type: ignore[attr-defined]
    try:
        jvm.org.apache.spark.util.Utils.classForName(name, False, False)
    except Py4JError:
        return False
    return True


def choose_state_provider(spark: SparkSession, config: IngestConfig) -> str:
    """The de-dup's state store provider, set on the session for a new checkpoint.

    A checkpoint keeps the provider it was started with (Spark uses the one in its offset
    log over the session's); a user's ``--conf`` choice comes next; otherwise the filtered
    RocksDB provider when its jar is on the classpath of the Spark it is built for, else
    Spark's RocksDB provider.

    Raises:
        IngestError: the checkpoint's provider is a class this Spark cannot load.
    """
    from loglake_ingest.source import checkpoint_conf

    recorded = checkpoint_conf(spark, config.checkpoint_uri).get(STATE_PROVIDER_KEY)
    if recorded is not None:
        if not jvm_has_class(spark, recorded):
            raise IngestError(
                f"the checkpoint {config.checkpoint_uri} keeps its de-dup state with "
                f"{recorded}, which is not on this Spark's classpath. "
                + (
                    "It is in loglake's accelerator jar: pass that jar with --jars "
                    "(`loglake jars fetch` builds it)"
                    if recorded == FILTERED_STATE_PROVIDER
                    else "Add the jar that holds it"
                )
            )
        return recorded
    if STATE_PROVIDER_KEY in config.spark_conf:
        return config.spark_conf[STATE_PROVIDER_KEY]
    if not spark.version.startswith(FILTERED_STATE_SPARK):
        logger.info(
            "the de-dup state uses Spark's RocksDB provider: %s is built for Spark %sx, "
            "this is Spark %s",
            FILTERED_STATE_PROVIDER,
            FILTERED_STATE_SPARK,
            spark.version,
        )
    elif jvm_has_class(spark, FILTERED_STATE_PROVIDER):
        spark.conf.set(STATE_PROVIDER_KEY, FILTERED_STATE_PROVIDER)
        return FILTERED_STATE_PROVIDER
    else:
        logger.info(
            "the de-dup state uses Spark's RocksDB provider: %s is not on the classpath "
            "(run `loglake jars fetch`, or pass the accelerator's jar with --jars)",
            FILTERED_STATE_PROVIDER,
        )
    return str(spark.conf.get(STATE_PROVIDER_KEY))


def progress_recorder(config: IngestConfig) -> ProgressRecorder | None:
    """The control-table recorder, or ``None`` when the control table is off."""
    if config.control_table is None:
        return None
    from loglake_ingest.progress import ProgressRecorder

    return ProgressRecorder.connect(
        config.control_table, endpoint=config.aws_endpoint, stream=config.stream, job=config.job
    )


class StopFlag:
    """Set by SIGTERM/SIGINT; the run loop stops the query between two batches."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.error: BaseException | None = None

    def request(self, reason: str, error: BaseException | None = None) -> None:
        """Ask the job to stop after the current batch."""
        if not self.event.is_set():
            self.reason = reason
            self.error = error
            self.event.set()

    def install(self) -> list[tuple[int, Any]]:
        """Install signal handlers (main thread only); returns the previous ones."""
        previous: list[tuple[int, Any]] = []
        if threading.current_thread() is not threading.main_thread():
            return previous
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous.append((sig, signal.getsignal(sig)))
            signal.signal(sig, lambda signum, _frame: self.request(signal.Signals(signum).name))
        return previous


def start_query(
    spark: SparkSession,
    config: IngestConfig,
    writer: BatchWriter,
    *,
    validator: Validator,
    source: DataFrame | None = None,
) -> StreamingQuery:
    """Start the ingest query (Kafka unless ``source`` is given)."""
    _mkdirs(spark, config.checkpoint_uri)
    stream = kafka_stream(spark, config) if source is None else source
    prepared = prepare_stream(
        stream, validator=validator, window_seconds=config.dedup_window_seconds
    )
    out = (
        prepared.writeStream.queryName(QUERY_NAME)
        .foreachBatch(writer)
        .option("checkpointLocation", config.checkpoint_uri)
    )
    if config.available_now:
        out = out.trigger(availableNow=True)
    else:
        out = out.trigger(processingTime=f"{config.trigger_seconds} seconds")
    return out.start()


#: Spark's FileContext checkpoint writer needs real parent folders, which object stores
#: lack; the FileSystem one writes a temporary file and renames it (one writer: safe).
FS_CHECKPOINT_MANAGER: Final = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
)
CHECKPOINT_MANAGER_CONF: Final = "spark.sql.streaming.checkpointFileManagerClass"


def _mkdirs(spark: SparkSession, uri: str) -> None:
    """Prepare the checkpoint folder (and, on S3, a checkpoint writer that works there)."""
    if uri.startswith(("s3a://", "s3://")) and not spark.conf.get(CHECKPOINT_MANAGER_CONF, None):
        spark.conf.set(CHECKPOINT_MANAGER_CONF, FS_CHECKPOINT_MANAGER)
    jvm: Any = spark.sparkContext._jvm  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(uri)
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    path.getFileSystem(conf).mkdirs(path)


def _translate(exc: BaseException, config: IngestConfig) -> IngestError:
    text = str(exc)
    if any(marker in text for marker in DATA_LOSS_MARKERS):
        return DataLossError(
            f"Kafka no longer holds records the query has not read yet (topics "
            f"{','.join(config.topics)}): retention deleted them or a topic was recreated. "
            "Those records are lost for raw. To continue anyway, restart with a new "
            "--checkpoint (and --starting-offsets earliest), or set failOnDataLoss=false "
            f"knowingly. Spark said: {text.splitlines()[0][:500]}"
        )
    if isinstance(exc, IngestError):
        return exc
    if MISSING_TOPIC_MARKER in text:
        return QueryFailedError(
            f"a topic of {','.join(config.topics)} is no longer on Kafka at {config.bootstrap} "
            "(deleted while the job ran?). Create it again and restart; if it was recreated, "
            "its old offsets are gone: start with a new --checkpoint and --starting-offsets "
            f"earliest. Spark said: {_root_cause(text)}"
        )
    if "ReconciliationError" in text:
        detail = text.split("ReconciliationError:", 1)[-1].strip().splitlines()[0]
        return ReconciliationError(detail)
    return QueryFailedError(f"the ingest query failed: {_root_cause(text)}")


def _root_cause(text: str) -> str:
    """The most specific error line of a Spark failure (not the streaming wrappers)."""
    wrappers = ("STREAM_FAILED", "FOREACH_BATCH_USER_FUNCTION_ERROR", "TASK_WRITE_FAILED")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    specific = [
        line
        for line in lines
        if re.search(r"\[[A-Z_]{4,}\]", line) and not any(w in line for w in wrappers)
    ]
    if not specific:
        specific = [line.lstrip(": ") for line in lines if "Exception: " in line]
    return (specific or lines or ["(no message)"])[0][:1000]


def is_known_spark_failure(failure: BaseException) -> bool:
    """Whether ``failure`` is Spark's own restartable Kafka-source failure (SPARK-55271).

    The frame that names it is in the JVM stack trace of the *cause* (PySpark keeps the
    converted cause as ``_cause``, its JVM trace as ``_stackTrace``), so the whole chain
    is read.
    """
    parts: list[str] = []
    seen: BaseException | None = failure
    for _ in range(8):
        if seen is None:
            break
        parts += [str(seen), str(getattr(seen, "_stackTrace", "") or "")]
        seen = getattr(seen, "_cause", None) or seen.__cause__
    text = "\n".join(parts)
    return KNOWN_SPARK_FAILURE in text and "NullPointerException" in text


def _wait(query: StreamingQuery, stop: StopFlag) -> None:
    """Wait for the query to end, stopping it between batches once ``stop`` is set."""
    while query.isActive:
        if stop.event.is_set() and not query.status.get("isTriggerActive", False):
            logger.info("stopping the ingest query (%s) between batches", stop.reason)
            query.stop()
            break
        query.awaitTermination(POLL_SECONDS)


def run_ingest(
    config: IngestConfig,
    *,
    spark: SparkSession | None = None,
    validator: Validator | None = None,
    source: DataFrame | None = None,
    install_signals: bool = True,
) -> IngestRunSummary:
    """Run the ingest job until it drains (``available_now``) or is stopped.

    Args:
        config: the job's configuration.
        spark: a session to use (default: built from ``config``).
        validator: the Spark validator (default: ``loglake_core.spark.rules``).
        source: a streaming DataFrame shaped like Kafka's to read instead of Kafka.
        install_signals: stop gracefully on SIGTERM/SIGINT.

    Raises:
        ConfigError: a subscribed topic does not exist (checked before the query starts).
        IngestError: Kafka could not be reached (also checked before the query starts).
        DataLossError: Kafka lost offsets the query still had to read.
        ReconciliationError: a batch's counters did not add up.
        QueryFailedError: the query failed for another reason.
    """
    from loglake_ingest.listener import IngestListener
    from loglake_ingest.tables import ensure_tables

    began = time.monotonic()
    progress = progress_recorder(config)  # a control-table mistake fails before Spark starts
    spark = spark or session_for(config)
    if source is None:
        check_source(spark, config)  # a wrong topic or broker fails before any table exists
    ensure_tables(spark, config.layout)
    provider = choose_state_provider(spark, config)
    logger.info("de-dup state provider: %s", provider)
    writer = BatchWriter(spark, config, progress, read_offsets=source is None)
    stop = StopFlag()
    previous = stop.install() if install_signals else []
    listener = IngestListener(
        writer.counts, on_error=lambda err: stop.request("reconciliation failed", err)
    )
    spark.streams.addListener(listener)
    summary = IngestRunSummary()
    try:
        restarts = 0
        while True:
            query = start_query(
                spark,
                config,
                writer,
                validator=validator or default_validator(config),
                source=source,
            )
            listener.query_id = str(query.id)
            logger.info(
                "ingest query %s reading %s into %s (checkpoint %s)",
                query.id,
                ",".join(config.topics),
                config.layout.base,
                config.checkpoint_uri,
            )
            try:
                _wait(query, stop)
                failure = query.exception()
            except Exception as exc:  # awaitTermination raises the query's own failure
                failure = exc
            if failure is None:
                break
            if (
                restarts < KNOWN_FAILURE_RESTARTS
                and not stop.event.is_set()
                and is_known_spark_failure(failure)
            ):
                restarts += 1
                logger.warning(
                    "restarting the ingest query from its checkpoint after Spark's known "
                    "Kafka-source failure (SPARK-55271; the batch had committed): %s",
                    _root_cause(str(failure)),
                )
                continue
            raise _translate(failure, config) from failure
        summary.restarts = restarts
        # The last batch's progress reaches the listener asynchronously.
        time.sleep(POLL_SECONDS)
        if stop.error is not None:
            raise stop.error
        summary.stopped_by = stop.reason or ("drained" if config.available_now else "stopped")
    except IngestError:
        raise
    except Exception as exc:
        raise _translate(exc, config) from exc
    finally:
        spark.streams.removeListener(listener)
        for sig, handler in previous:
            signal.signal(sig, handler)
        totals = writer.totals
        summary.batches = totals.batches
        summary.records_read = totals.records_read
        summary.valid_written = totals.valid_written
        summary.quarantined = totals.quarantined
        summary.duplicates_dropped = totals.duplicates_dropped
        summary.first_batch_id = totals.first_batch_id
        summary.last_batch_id = totals.last_batch_id
        summary.dirty_dates = sorted(totals.dirty_dates)
        summary.seconds = round(time.monotonic() - began, 3)
    return summary
