"""Pure-Python parts of the ingest job: config, reconciliation, offsets, lag, CLI errors."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import pytest

from loglake_ingest.cli import main, parse_since
from loglake_ingest.compact import parse_dates
from loglake_ingest.config import IngestConfig, normalize_control_table
from loglake_ingest.errors import ConfigError, ReconciliationError
from loglake_ingest.reconcile import BatchCounts, EngineFigures, raise_on_mismatch, verify_progress
from loglake_ingest.source import _admin_options, kafka_options, parse_offsets, records_in_range

pytestmark = pytest.mark.unit

BASE = {"topics": ("events",), "lake": "/tmp/lake", "bootstrap": "127.0.0.1:19092"}


def test_config_argument_beats_environment_beats_default():
    env = {
        "LOGLAKE_LAKE": "s3a://bucket/lake",
        "LOGLAKE_KAFKA_BOOTSTRAP": "broker:9092",
        "LOGLAKE_TOPICS": "a, b",
        "LOGLAKE_CONTROL_TABLE": "none",
        "LOGLAKE_INGEST_TRIGGER_SECONDS": "5",
    }
    cfg = IngestConfig.resolve(env=env, bootstrap="given:1")
    assert cfg.bootstrap == "given:1"
    assert cfg.lake == "s3a://bucket/lake"
    assert cfg.topics == ("a", "b")
    assert cfg.control_table is None
    assert cfg.trigger_seconds == 5.0
    assert cfg.dedup_window_seconds == 600
    assert cfg.checkpoint_uri == "s3a://bucket/lake/_checkpoints/ingest"


def test_config_app_id_follows_the_query_not_the_path():
    a = IngestConfig(**BASE)
    assert a.app_id("q1") == IngestConfig(**BASE, checkpoint="/elsewhere").app_id("q1")
    assert a.app_id("q1") != a.app_id("q2")
    assert a.app_id("q1").startswith("loglake-ingest-")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"bootstrap": "nohost"}, "bootstrap 'nohost'"),
        ({"starting_offsets": "middle"}, "starting_offsets 'middle'"),
        ({"trigger_seconds": 0}, "trigger_seconds=0"),
        ({"max_offsets_per_trigger": -1}, "max_offsets_per_trigger=-1"),
        ({"lake": "ftp://x"}, "scheme 'ftp'"),
        ({"topics": ("a,b",)}, "topics"),
    ],
)
def test_config_errors_name_the_setting_and_value(change, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        IngestConfig(**{**BASE, **change})


def test_config_missing_setting_says_how_to_fix():
    with pytest.raises(ConfigError, match="--lake or set LOGLAKE_LAKE"):
        IngestConfig.resolve(env={}, topics=("a",), bootstrap="b:1")
    with pytest.raises(ConfigError, match="not a valid trigger_seconds"):
        IngestConfig.resolve(env={"LOGLAKE_INGEST_TRIGGER_SECONDS": "soon"}, **BASE)


def test_control_table_off_values():
    assert normalize_control_table("None") is None
    assert normalize_control_table(" off ") is None
    assert normalize_control_table("loglake-control") == "loglake-control"


def test_max_records_per_file_follows_target_size():
    cfg = IngestConfig(**BASE, target_file_bytes=1_600, row_bytes_estimate=160)
    assert cfg.max_records_per_file == 10


def test_kafka_options():
    opts = kafka_options(IngestConfig(**BASE, max_offsets_per_trigger=10))
    assert opts["subscribe"] == "events"
    assert opts["startingOffsets"] == "earliest"
    assert opts["failOnDataLoss"] == "true"
    assert opts["maxOffsetsPerTrigger"] == "10"
    assert opts["kafka.fetch.max.wait.ms"] == "10"


def test_kafka_options_of_the_user_win_over_the_consumer_defaults():
    cfg = IngestConfig(**BASE, kafka_options={"kafka.fetch.max.wait.ms": "250"})
    opts = kafka_options(cfg)
    assert opts["kafka.fetch.max.wait.ms"] == "250"
    # the admin client of the start-up check gets no consumer-only setting
    assert "fetch.max.wait.ms" not in _admin_options(opts)
    assert _admin_options(opts)["bootstrap.servers"] == opts["kafka.bootstrap.servers"]


def test_offsets_and_records_in_range():
    start = parse_offsets('{"t": {"0": 5, "1": 0}}')
    end = parse_offsets('{"t": {"0": 15, "1": 3, "2": 4}}')
    assert records_in_range(start, end) == 10 + 3 + 4


def test_batch_counts_equation():
    counts = BatchCounts(batch_id=1, records_read=10, valid_written=6, quarantined=3)
    assert counts.duplicates_dropped == 1
    counts.check()
    assert counts.counters() == {
        "records_read": 10,
        "valid_written": 6,
        "quarantined": 3,
        "duplicates_dropped": 1,
    }
    with pytest.raises(ReconciliationError, match="batch 2: wrote 6 valid"):
        BatchCounts(batch_id=2, records_read=5, valid_written=6, quarantined=0).check()


def test_verify_progress_catches_every_mismatch():
    counts = BatchCounts(batch_id=3, records_read=10, valid_written=6, quarantined=3)
    assert verify_progress(counts, EngineFigures(3, 10, 1, 0)) == []
    late = verify_progress(counts, EngineFigures(3, 10, 1, 2))
    assert any("behind the watermark" in p for p in late)
    short = verify_progress(counts, EngineFigures(3, 9, 1, 0))
    assert any("offsets cover 10" in p for p in short)
    wrong = verify_progress(counts, EngineFigures(3, 10, 3, 0))
    assert any("3 duplicates" in p for p in wrong)
    with pytest.raises(ReconciliationError, match="batch 3 does not reconcile"):
        raise_on_mismatch(counts, EngineFigures(3, 10, 3, 0))


def test_listener_lag_and_engine_figures():
    from loglake_ingest.listener import engine_figures, kafka_lag, progress_record

    source = SimpleNamespace(
        latestOffset=json.dumps({"t": {"0": 100, "1": 50}}),
        endOffset=json.dumps({"t": {"0": 90, "1": 50}}),
    )
    assert kafka_lag([source]) == {"t-0": 10, "t-1": 0}
    progress = SimpleNamespace(
        batchId=4,
        timestamp="2026-01-01T00:00:00Z",
        numInputRows=12,
        inputRowsPerSecond=6.0,
        processedRowsPerSecond=12.0,
        durationMs={"triggerExecution": 1000, "addBatch": 800},
        sources=[source],
        observedMetrics={"ingest_input": {"rows": 12, "valid": 9}},
        stateOperators=[
            SimpleNamespace(
                numRowsDroppedByWatermark=0, customMetrics={"numDroppedDuplicateRows": 2}
            )
        ],
    )
    assert engine_figures(progress) == EngineFigures(4, 12, 2, 0)
    counts = BatchCounts(batch_id=4, records_read=12, valid_written=7, quarantined=3)
    record = progress_record(progress, counts)
    assert record["kafka_lag"] == {"t-0": 10, "t-1": 0}
    assert record["total_lag"] == 10
    assert (record["rows_out"], record["quarantined"], record["duplicates"]) == (7, 3, 2)
    assert verify_progress(counts, engine_figures(progress)) == []


def test_parse_dates_and_since():
    assert parse_dates(["2026-01-30..2026-02-01", "2026-01-01"]) == (
        date(2026, 1, 1),
        date(2026, 1, 30),
        date(2026, 1, 31),
        date(2026, 2, 1),
    )
    with pytest.raises(ConfigError, match="'2026-02-30' is not a date"):
        parse_dates(["2026-02-30"])
    with pytest.raises(ConfigError, match="ends before it starts"):
        parse_dates(["2026-02-03..2026-02-01"])
    assert parse_since("2026-01-02T10:00:00Z").isoformat() == "2026-01-02T10:00:00+00:00"
    with pytest.raises(ConfigError, match="--since 'noon'"):
        parse_since("noon")


def test_cli_user_mistakes_exit_2_with_one_line(capsys, monkeypatch):
    monkeypatch.delenv("LOGLAKE_LAKE", raising=False)
    assert main(["--topic", "t", "--bootstrap", "b:1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "loglake-ingest: error: ingest setting 'lake' is missing; pass --lake or set LOGLAKE_LAKE"
    ]
    assert main(["compact", "--lake", "/tmp/x", "--dates", "tomorrow"]) == 2
    assert "'tomorrow' is not a date" in capsys.readouterr().err


def test_cli_control_table_mistakes_exit_2_before_spark_starts(capsys, monkeypatch, tmp_path):
    from loglake_ingest import cli, job

    def no_spark(*args):
        raise AssertionError("Spark started before the control table was checked")

    monkeypatch.setattr(job, "session_for", no_spark)
    monkeypatch.setattr(cli, "_lake_and_session", no_spark)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "LOGLAKE_AWS_ENDPOINT", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    args = ["--topic", "t", "--bootstrap", "b:1", "--lake", str(tmp_path / "lake")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "control table 'loglake-control'" in err[0]
    assert "set AWS_REGION" in err[0]
    assert "--control-table none" in err[0]
    # a replay checks it before it moves any record
    assert main(["replay-quarantine", "--lake", str(tmp_path / "lake")]) == 2
    assert "set AWS_REGION" in capsys.readouterr().err

    # an endpoint that does not answer
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main([*args, "--aws-endpoint", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "the control table 'loglake-control' at http://127.0.0.1:9 cannot be used" in err[0]
    assert "--control-table none" in err[0]


def test_loglake_ingest_click_group(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from loglake_tools.cli import cli

    monkeypatch.setenv("LOGLAKE_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    usage = runner.invoke(cli, ["ingest"])
    assert usage.exit_code == 2
    assert "give --topic" in usage.output
    bad = runner.invoke(cli, ["ingest", "compact", "--lake", str(tmp_path), "--dates", "x"])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output
    helped = runner.invoke(cli, ["ingest", "--help"])
    assert helped.exit_code == 0
    for name in ("run", "compact", "replay-quarantine", "--available-now", "--checkpoint"):
        assert name in helped.output


class _FakeQuery:
    """Stands in for a StreamingQuery: busy for two polls, then between batches."""

    def __init__(self) -> None:
        self.isActive = True
        self.polls = 0
        self.stopped_while_busy = False

    @property
    def status(self) -> dict[str, bool]:
        return {"isTriggerActive": self.polls < 2}

    def awaitTermination(self, timeout: float) -> None:
        self.polls += 1

    def stop(self) -> None:
        self.stopped_while_busy = self.status["isTriggerActive"]
        self.isActive = False


def test_stop_request_waits_for_the_running_batch():
    from loglake_ingest.job import StopFlag, _wait

    stop = StopFlag()
    stop.request("SIGTERM")
    stop.request("SIGINT")  # the first reason wins
    query = _FakeQuery()
    _wait(query, stop)
    assert not query.isActive
    assert not query.stopped_while_busy
    assert query.polls == 2
    assert stop.reason == "SIGTERM"


def test_failures_are_translated_into_clear_errors():
    from loglake_ingest.config import IngestConfig
    from loglake_ingest.errors import DataLossError, QueryFailedError
    from loglake_ingest.job import _translate

    cfg = IngestConfig(**BASE)
    lost = _translate(
        RuntimeError("[STREAM_FAILED] Query x\n[KAFKA_DATA_LOSS.START_OFFSET_RESET] offsets gone"),
        cfg,
    )
    assert isinstance(lost, DataLossError)
    assert "topics events" in str(lost)
    assert "--checkpoint" in str(lost)
    recon = _translate(RuntimeError("Traceback ...\nReconciliationError: batch 3: wrote 9"), cfg)
    assert isinstance(recon, ReconciliationError)
    assert str(recon) == "batch 3: wrote 9"
    other = _translate(
        RuntimeError(
            "[STREAM_FAILED] Query x terminated\n"
            "[DELTA_NOT_NULL_CONSTRAINT_VIOLATED] NOT NULL constraint violated for column: service."
        ),
        cfg,
    )
    assert isinstance(other, QueryFailedError)
    assert "DELTA_NOT_NULL_CONSTRAINT_VIOLATED" in str(other)
    gone = _translate(
        RuntimeError(
            "[STREAM_FAILED] Query x terminated with exception: "
            "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server "
            "does not host this topic-partition."
        ),
        cfg,
    )
    assert isinstance(gone, QueryFailedError)
    assert str(gone).startswith(f"a topic of events is no longer on Kafka at {cfg.bootstrap} ")
    assert "--checkpoint" in str(gone)


_SPARK_NPE = (
    "[STREAM_FAILED] Query loglake-ingest terminated with exception: "
    'java.lang.NullPointerException: Cannot invoke "scala.collection.immutable.Map.get"\n'
    "\tat org.apache.spark.sql.kafka010.KafkaMicroBatchStream$.metrics(KafkaMicroBatchStream.scala)"
)


class _EndedQuery:
    """A query that ends at its first poll with ``failure`` (or None), raising it as
    PySpark's ``awaitTermination`` does."""

    def __init__(self, failure: BaseException | None) -> None:
        self.id = f"q-{id(self)}"
        self.isActive = True
        self.status = {"isTriggerActive": True}
        self._failure = failure

    def awaitTermination(self, timeout: float) -> None:
        self.isActive = False
        if self._failure is not None:
            raise self._failure

    def exception(self) -> BaseException | None:
        return self._failure


def _run_with_queries(monkeypatch, failures):
    import loglake_ingest.job as job
    import loglake_ingest.tables as tables

    started = []

    def start_query(spark, config, writer, *, validator, source):
        started.append(failures[len(started)])
        return _EndedQuery(started[-1])

    monkeypatch.setattr(job, "start_query", start_query)
    monkeypatch.setattr(job, "progress_recorder", lambda config: None)
    monkeypatch.setattr(job, "choose_state_provider", lambda spark, config: "provider")
    monkeypatch.setattr(job, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(tables, "ensure_tables", lambda spark, layout: None)
    streams = SimpleNamespace(addListener=lambda _: None, removeListener=lambda _: None)
    spark = SimpleNamespace(streams=streams)
    cfg = IngestConfig(**BASE)
    run = lambda: job.run_ingest(  # noqa: E731
        cfg, spark=spark, validator=lambda df: df, source=object(), install_signals=False
    )
    return run, started


def test_spark_known_kafka_source_failure_restarts_the_query_once(monkeypatch):
    run, started = _run_with_queries(monkeypatch, [RuntimeError(_SPARK_NPE), None])
    summary = run()
    assert len(started) == 2
    assert summary.restarts == 1
    assert summary.stopped_by == "stopped"  # not --available-now: ended, not drained


def test_the_known_failure_is_recognised_in_the_cause_chain():
    from loglake_ingest.job import is_known_spark_failure

    class CapturedError(Exception):  # shaped like PySpark's CapturedException
        def __init__(self, desc: str, trace: str, cause: BaseException | None = None) -> None:
            super().__init__(desc)
            self._stackTrace = trace
            self._cause = cause

    npe = CapturedError("java.lang.NullPointerException", _SPARK_NPE.split("\n", 1)[1])
    outer = CapturedError("[STREAM_FAILED] Query x terminated", "\tat StreamExecution.run", npe)
    assert is_known_spark_failure(outer)
    assert not is_known_spark_failure(CapturedError("[STREAM_FAILED] x", "\tat Other.run", None))


def test_a_second_known_failure_or_any_other_failure_is_not_restarted(monkeypatch):
    from loglake_ingest.errors import QueryFailedError

    run, started = _run_with_queries(
        monkeypatch, [RuntimeError(_SPARK_NPE), RuntimeError(_SPARK_NPE), None]
    )
    with pytest.raises(QueryFailedError, match="NullPointerException"):
        run()
    assert len(started) == 2

    other = "[STREAM_FAILED] Query x\njava.lang.NullPointerException\n\tat com.example.Mine.run"
    run, started = _run_with_queries(monkeypatch, [RuntimeError(other), None])
    with pytest.raises(QueryFailedError):
        run()
    assert len(started) == 1


def test_cli_conf_overrides_the_jobs_spark_settings_and_rejects_mistakes(
    capsys, monkeypatch, tmp_path
):
    from loglake_ingest import cli, job

    key = "spark.sql.streaming.stateStore.rocksdb.blockCacheSizeMB"
    bounded = "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage"
    args = cli.run_parser().parse_args(
        ["--topic", "t", "--bootstrap", "b:1", "--lake", str(tmp_path / "lake"),
         "--conf", f"{key}=1024", "--conf", "spark.sql.shuffle.partitions = 4"]
    )  # fmt: skip
    config = cli.config_from_args(args)
    assert config.spark_conf == {key: "1024", "spark.sql.shuffle.partitions": "4"}
    seen = {}

    def fake_build(name, **kwargs):
        seen.update(kwargs["conf"])
        return object()

    monkeypatch.setattr("loglake_core.spark.session.build_spark_session", fake_build)
    job.session_for(config)
    assert seen[key] == "1024"  # the user's value over the job's 32
    # filters and indexes outside the block cache, where the eviction scan cannot push them out
    assert seen[bounded] == "false"
    provider = seen["spark.sql.streaming.stateStore.providerClass"]
    assert provider.endswith("RocksDBStateStoreProvider")

    base = ["--topic", "t", "--bootstrap", "b:1", "--lake", str(tmp_path / "lake")]
    assert main([*base, "--conf", "blockCacheSizeMB"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--conf 'blockCacheSizeMB' is not KEY=VALUE" in err[0]
    assert main([*base, "--conf", "rocksdb.blockCacheSizeMB=64"]) == 2
    err = capsys.readouterr().err
    assert "--conf rocksdb.blockCacheSizeMB=64 is not a Spark setting" in err


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "nightly compaction",
        "{not json",
        "[1, 2]",
        '{"app_id": "a", "batch_id": 3}',  # no writer: someone else's metadata
        '{"app_id": "a", "batch_id": 3, "writer": "other-tool"}',
        '{"app_id": "a", "batch_id": "3", "writer": "loglake-ingest"}',
        '{"app_id": 7, "batch_id": 3, "writer": "loglake-ingest"}',
    ],
)
def test_commit_metadata_that_is_not_a_marker_is_ignored(text):
    from loglake_ingest.commits import parse_marker

    assert parse_marker(text) is None


def test_commit_marker_round_trip():
    from loglake_ingest.commits import commit_marker, parse_marker

    marker = commit_marker("loglake-ingest-q1", 12)
    assert json.loads(marker)["writer"] == "loglake-ingest"
    assert parse_marker(marker) == ("loglake-ingest-q1", 12)
