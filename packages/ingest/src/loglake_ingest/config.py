"""Configuration of the streaming ingest job: one frozen dataclass, resolved once.

Every setting comes from an explicit argument, then an environment variable, then a
default. Environment variable names are the ``ENV_*`` constants of this module.

Example:
    >>> cfg = IngestConfig.resolve(topics=("events",), lake="/tmp/lake", bootstrap="b:9092")
    >>> cfg.checkpoint_uri
    'file:///tmp/lake/_checkpoints/ingest'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from loglake_core.control import DEFAULT_CONTROL_TABLE, DEFAULT_JOB, DEFAULT_STREAM
from loglake_core.layout import LakeLayout
from loglake_ingest.errors import ConfigError

ENV_TOPICS: Final = "LOGLAKE_TOPICS"
ENV_LAKE: Final = "LOGLAKE_LAKE"
ENV_BOOTSTRAP: Final = "LOGLAKE_KAFKA_BOOTSTRAP"
ENV_CHECKPOINT: Final = "LOGLAKE_INGEST_CHECKPOINT"
ENV_CONTROL_TABLE: Final = "LOGLAKE_CONTROL_TABLE"
ENV_AWS_ENDPOINT: Final = "LOGLAKE_AWS_ENDPOINT"
ENV_S3_ENDPOINT: Final = "LOGLAKE_S3_ENDPOINT"
ENV_STREAM: Final = "LOGLAKE_STREAM_NAME"
ENV_JOB: Final = "LOGLAKE_JOB_NAME"
ENV_TRIGGER_SECONDS: Final = "LOGLAKE_INGEST_TRIGGER_SECONDS"
ENV_MAX_OFFSETS: Final = "LOGLAKE_INGEST_MAX_OFFSETS_PER_TRIGGER"
ENV_DEDUP_WINDOW: Final = "LOGLAKE_INGEST_DEDUP_WINDOW_SECONDS"

#: ``--control-table none`` (any case) turns control-table updates off.
CONTROL_TABLE_OFF: Final = frozenset({"none", "off", ""})
STARTING_OFFSETS: Final = ("earliest", "latest")

DEFAULT_TRIGGER_SECONDS: Final = 30.0
#: Records per micro-batch at most. Each batch has a fixed cost of a few seconds (the
#: reconciliation count and row, a Delta commit per table, planning, the de-dup state's
#: commit), so larger batches drain faster: 5 M events took 84-88 s at 2 M per batch,
#: 93-110 s at 1 M and 110-111 s at 500 k, and a 20 M-event backfill 352 s, 378 s and
#: 448 s, with the process tree's peak at 1.70, 1.68 and 1.78 GiB (docs/benchmarks.md).
#: In a live stream a batch holds what arrived in one trigger interval, up to this cap.
DEFAULT_MAX_OFFSETS_PER_TRIGGER: Final = 2_000_000
DEFAULT_DEDUP_WINDOW_SECONDS: Final = 600
#: Target size of one data file; a batch writes more than one file per date only above it.
DEFAULT_TARGET_FILE_BYTES: Final = 128 * 1024 * 1024
#: Rough size of one raw row in Parquet, used to turn the byte target into a row limit.
DEFAULT_ROW_BYTES_ESTIMATE: Final = 160


@dataclass(frozen=True)
class IngestConfig:
    """Everything the ingest job needs; build it with :meth:`resolve`.

    Attributes:
        topics: Kafka topics to subscribe to.
        lake: base URI of the lake (``file://``, ``s3://`` or ``s3a://``).
        bootstrap: Kafka bootstrap servers, ``host:port[,host:port]``.
        checkpoint: streaming checkpoint URI; default ``<lake>/_checkpoints/<stream>``.
        available_now: drain what the topics hold now, then stop.
        trigger_seconds: processing-time trigger interval when not ``available_now``.
        max_offsets_per_trigger: most Kafka records per micro-batch (``None``: no limit).
        starting_offsets: ``earliest`` or ``latest``; used only on the very first start.
        fail_on_data_loss: stop when Kafka lost offsets the query had not read yet.
        dedup_window_seconds: event-time window of ``event_id`` de-duplication.
        max_future_skew_seconds: events further in the future are quarantined.
        control_table: DynamoDB control table, or ``None`` to skip control-table updates.
        aws_endpoint: endpoint of the DynamoDB API (a local moto server); ``None`` for AWS.
        s3_endpoint: S3 API endpoint for an ``s3a://`` lake; ``None`` for AWS.
        stream: stream name in the control table (``stream#<name>/progress``).
        job: ETL job whose processed dates become dirty when late rows land.
        target_file_bytes: target size of one data file.
        row_bytes_estimate: bytes per row used to turn ``target_file_bytes`` into rows.
        master: Spark master for a session built here (``None``: spark-submit's or local).
        kafka_options: extra ``kafka.*`` / source options passed to the Kafka reader.
        spark_conf: Spark settings that override the job's own (``--conf KEY=VALUE``),
            e.g. a larger RocksDB memory bound for the de-dup state.
    """

    topics: tuple[str, ...]
    lake: str
    bootstrap: str
    checkpoint: str | None = None
    available_now: bool = False
    trigger_seconds: float = DEFAULT_TRIGGER_SECONDS
    max_offsets_per_trigger: int | None = DEFAULT_MAX_OFFSETS_PER_TRIGGER
    starting_offsets: str = "earliest"
    fail_on_data_loss: bool = True
    dedup_window_seconds: int = DEFAULT_DEDUP_WINDOW_SECONDS
    max_future_skew_seconds: int = 300
    control_table: str | None = DEFAULT_CONTROL_TABLE
    aws_endpoint: str | None = None
    s3_endpoint: str | None = None
    stream: str = DEFAULT_STREAM
    job: str = DEFAULT_JOB
    target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES
    row_bytes_estimate: int = DEFAULT_ROW_BYTES_ESTIMATE
    master: str | None = None
    kafka_options: Mapping[str, str] = field(default_factory=dict)
    spark_conf: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check()

    # ------------------------------------------------------------------ building
    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **given: Any) -> IngestConfig:
        """Build a config: explicit arguments (not ``None``), then environment, then defaults.

        Args:
            env: environment to read (default ``os.environ``).
            **given: field values; ``None`` means "not given".

        Raises:
            ConfigError: for an unknown field or a missing/invalid value.
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"unknown ingest setting(s) {unknown}; known: {sorted(known)}")
        values = {k: v for k, v in given.items() if v is not None}

        def pick(name: str, var: str, convert: Any = str) -> None:
            if name not in values and env.get(var):
                raw = env[var]
                try:
                    values[name] = convert(raw)
                except ValueError:
                    raise ConfigError(
                        f"environment variable {var}={raw!r} is not a valid {name}"
                    ) from None

        pick("lake", ENV_LAKE)
        pick("bootstrap", ENV_BOOTSTRAP)
        pick("checkpoint", ENV_CHECKPOINT)
        pick("aws_endpoint", ENV_AWS_ENDPOINT)
        pick("s3_endpoint", ENV_S3_ENDPOINT)
        pick("stream", ENV_STREAM)
        pick("job", ENV_JOB)
        pick("trigger_seconds", ENV_TRIGGER_SECONDS, float)
        pick("max_offsets_per_trigger", ENV_MAX_OFFSETS, int)
        pick("dedup_window_seconds", ENV_DEDUP_WINDOW, int)
        if "topics" not in values and env.get(ENV_TOPICS):
            values["topics"] = env[ENV_TOPICS]
        if "control_table" not in values and ENV_CONTROL_TABLE in env:
            values["control_table"] = env[ENV_CONTROL_TABLE]
        if isinstance(values.get("topics"), str):
            values["topics"] = tuple(t.strip() for t in values["topics"].split(",") if t.strip())
        if "control_table" in values:
            values["control_table"] = normalize_control_table(values["control_table"])
        for name, fix in (
            ("topics", f"pass --topic or set {ENV_TOPICS}"),
            ("lake", f"pass --lake or set {ENV_LAKE}"),
            ("bootstrap", f"pass --bootstrap or set {ENV_BOOTSTRAP} (or start the local stack)"),
        ):
            if not values.get(name):
                raise ConfigError(f"ingest setting {name!r} is missing; {fix}")
        return cls(**values)

    def _check(self) -> None:
        if not self.topics or any(not t or "," in t for t in self.topics):
            raise ConfigError(f"topics {self.topics!r} must be non-empty names without commas")
        LakeLayout.from_uri(self.lake)
        if not self.bootstrap or ":" not in self.bootstrap:
            raise ConfigError(
                f"bootstrap {self.bootstrap!r} is not host:port; "
                "pass e.g. --bootstrap 127.0.0.1:19092"
            )
        if self.starting_offsets not in STARTING_OFFSETS:
            raise ConfigError(
                f"starting_offsets {self.starting_offsets!r} is not one of {STARTING_OFFSETS}"
            )
        positive = {
            "trigger_seconds": self.trigger_seconds,
            "dedup_window_seconds": self.dedup_window_seconds,
            "target_file_bytes": self.target_file_bytes,
            "row_bytes_estimate": self.row_bytes_estimate,
        }
        for key in self.spark_conf:
            if not key.startswith("spark."):
                raise ConfigError(
                    f"--conf {key}={self.spark_conf[key]} is not a Spark setting: keys start "
                    "with 'spark.', e.g. --conf "
                    "spark.sql.streaming.stateStore.rocksdb.blockCacheSizeMB=64"
                )
        if self.max_offsets_per_trigger is not None:
            positive["max_offsets_per_trigger"] = self.max_offsets_per_trigger
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name}={value!r} must be greater than 0")
        if self.max_future_skew_seconds < 0:
            raise ConfigError(
                f"max_future_skew_seconds={self.max_future_skew_seconds!r} must be >= 0"
            )

    # ------------------------------------------------------------------ derived
    @property
    def layout(self) -> LakeLayout:
        """The lake's table paths."""
        return LakeLayout.from_uri(self.lake)

    @property
    def checkpoint_uri(self) -> str:
        """Where the streaming query keeps its offsets and de-dup state."""
        if self.checkpoint:
            return LakeLayout.from_uri(self.checkpoint).base
        return self.layout.checkpoint(self.stream)

    @staticmethod
    def app_id(query_id: str) -> str:
        """App id of the query with ``query_id`` (Spark's id of its checkpoint).

        A batch that runs again is left out of the tables whose commits already carry
        its app id and a batch id at least as high (``loglake_ingest.commits``). A new
        checkpoint restarts batch ids at 0, so the app id must change with it, even at
        the same path: a path-derived id made a recreated checkpoint's first batches
        vanish as "already written".
        """
        return f"loglake-ingest-{query_id}"

    @property
    def max_records_per_file(self) -> int:
        """Row limit per data file that keeps files near ``target_file_bytes``."""
        return max(1, self.target_file_bytes // self.row_bytes_estimate)

    def validation_config(self) -> Any:
        """The core ``ValidationConfig`` with this job's settings."""
        from loglake_core.validate import ValidationConfig

        return ValidationConfig(max_future_skew_seconds=self.max_future_skew_seconds)


def normalize_control_table(value: str | None) -> str | None:
    """``None`` for ``none``/``off``/empty, else the table name."""
    if value is None or value.strip().lower() in CONTROL_TABLE_OFF:
        return None
    return value.strip()
