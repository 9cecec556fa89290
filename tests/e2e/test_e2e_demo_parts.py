"""Fast checks of the demo's parts (no stack, no Spark): config, bookkeeping, lake
clean-up, the ingest supervisor, the CLI's errors and the printed DuckDB one-liner."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.mark.unit
def test_config_defaults_live_in_the_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loglake_tools.demo.config import DEFAULT_EVENTS, DemoConfig

    monkeypatch.setenv("LOGLAKE_DEMO_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("LOGLAKE_ETL_FAIL_ONCE", "1")
    cfg = DemoConfig.resolve()
    assert cfg.events == DEFAULT_EVENTS
    assert cfg.lake == (tmp_path / "d" / "lake").as_uri()
    assert cfg.report == tmp_path / "d" / "report.html"
    assert cfg.state_dir.parent == tmp_path / "d" / "lakes"
    assert cfg.fail_etl_once is True
    other = DemoConfig.resolve(lake=str(tmp_path / "elsewhere"), fail_etl_once=False)
    assert other.state_dir != cfg.state_dir
    assert other.fail_etl_once is False


@pytest.mark.unit
def test_bookkeeping_round_trip_and_new_token(tmp_path: Path) -> None:
    from loglake_tools.demo.config import Bookkeeping

    book = Bookkeeping.open(tmp_path)
    assert not book.path.exists()
    assert book.topic == book.control_table == f"loglake-demo-{book.token}"
    book.load = {"events": 10}
    book.summary = {"events_total": 10}
    book.save()
    again = Bookkeeping.open(tmp_path)
    assert (again.token, again.load, again.summary) == (book.token, book.load, book.summary)
    book.path.write_text("{not json")
    assert Bookkeeping.open(tmp_path).token != book.token


@pytest.mark.unit
def test_fresh_removes_only_the_demo_folders(tmp_path: Path) -> None:
    from loglake_core.layout import LakeLayout
    from loglake_tools.demo.resources import lake_has_tables, wipe_lake

    layout = LakeLayout.from_uri(str(tmp_path))
    assert not lake_has_tables(layout, None)
    for sub in ("raw/events", "processed/errors_hourly", "_checkpoints/ingest", "keep"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "f").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    assert lake_has_tables(layout, None)
    wipe_lake(layout, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "notes.txt"]
    assert not lake_has_tables(layout, None)


class _Dying:
    """An IngestProcess whose command exits at once with ``code``."""

    @staticmethod
    def make(tmp_path: Path, code: int) -> object:
        from loglake_tools.demo.ingest import IngestProcess

        class Proc(IngestProcess):
            @property
            def command(self) -> list[str]:
                return [sys.executable, "-c", f"import sys; print('boom'); sys.exit({code})"]

        return Proc(args=[], log_path=tmp_path / "ingest.log", pid_path=tmp_path / "ingest.pid")


@pytest.mark.unit
def test_ingest_supervisor_restarts_then_gives_up(tmp_path: Path) -> None:
    from loglake_tools.demo.errors import DemoError
    from loglake_tools.demo.ingest import MAX_RESTARTS

    proc = _Dying.make(tmp_path, 1)
    proc.start()  # type: ignore[attr-defined]
    assert (tmp_path / "ingest.pid").exists()
    with pytest.raises(DemoError, match=rf"died {MAX_RESTARTS + 1} times \(last: exit code 1\)"):
        proc.wait(60, poll=0.05)  # type: ignore[attr-defined]
    assert proc.restarts == MAX_RESTARTS  # type: ignore[attr-defined]
    assert proc.deaths == ["exit code 1"] * (MAX_RESTARTS + 1)  # type: ignore[attr-defined]
    assert not (tmp_path / "ingest.pid").exists()
    assert proc.tail().count("--- starting") == 1  # type: ignore[attr-defined]  # last start


@pytest.mark.unit
def test_ingest_usage_error_is_not_restarted(tmp_path: Path) -> None:
    from loglake_tools.demo.errors import DemoError

    proc = _Dying.make(tmp_path, 2)
    proc.start()  # type: ignore[attr-defined]
    with pytest.raises(DemoError, match="refused to start"):
        proc.wait(60, poll=0.05)  # type: ignore[attr-defined]
    assert proc.restarts == 0  # type: ignore[attr-defined]


@pytest.mark.unit
def test_drained_ingest_exits_cleanly(tmp_path: Path) -> None:
    proc = _Dying.make(tmp_path, 0)
    proc.start()  # type: ignore[attr-defined]
    assert proc.wait(60, poll=0.05) == 0  # type: ignore[attr-defined]
    assert proc.restarts == 0  # type: ignore[attr-defined]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("lake", "message"),
    [("s3://bucket/lake", "use s3a://bucket/prefix"), ("ftp://host/lake", "has scheme 'ftp'")],
)
def test_cli_rejects_unusable_lakes_without_a_traceback(lake: str, message: str) -> None:
    from click.testing import CliRunner

    from loglake_tools.demo import demo

    result = CliRunner().invoke(demo, ["--lake", lake, "--events", "10"])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.unit
def test_printed_duckdb_one_liner_runs(tmp_path: Path) -> None:
    from loglake_core.layout import LakeLayout
    from loglake_tools.demo.results import duckdb_one_liner
    from tests.test_report_lake import PAGES, build_sample_lake

    build_sample_lake(tmp_path / "lake")
    demo = SimpleNamespace(
        cfg=SimpleNamespace(layout=LakeLayout.from_uri(str(tmp_path / "lake"))),
        state=SimpleNamespace(s3_endpoint=None),
    )
    command = duckdb_one_liner(demo)  # type: ignore[arg-type]
    argv = shlex.split(command)
    assert argv[:3] == ["hatch", "run", "python"]
    out = subprocess.run(
        [sys.executable, *argv[3:]], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "p95_ms" in out
    assert any(page in out for page in PAGES)


@pytest.mark.unit
def test_topic_counter_waits_for_a_partition_leader(monkeypatch) -> None:
    """A topic just created may have no leader yet: the count retries, it does not crash."""
    from unittest import mock

    from confluent_kafka import KafkaError, KafkaException

    from loglake_tools.demo import resources

    calls = []

    def offsets(partition, timeout):
        calls.append(partition)
        if len(calls) < 3:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return (2, 9)

    monkeypatch.setattr(resources, "OFFSET_RETRY_SECONDS", 0)
    counter = resources.TopicCounter.__new__(resources.TopicCounter)
    counter._consumer = mock.Mock(get_watermark_offsets=offsets)
    assert counter._offsets("p0", 1.0) == (2, 9)
    assert len(calls) == 3
    counter._consumer = mock.Mock(
        get_watermark_offsets=mock.Mock(side_effect=KafkaException(KafkaError(KafkaError._FAIL)))
    )
    with pytest.raises(KafkaException):
        counter._offsets("p0", 1.0)
