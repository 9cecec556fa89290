from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loglake_tools import jars
from loglake_tools.stack import kafka, procs, s3proxy
from loglake_tools.stack.errors import PortInUseError
from loglake_tools.stack.state import StackState, read_state, state_dir, write_state

pytestmark = pytest.mark.unit


def _state(tmp_path: Path) -> StackState:
    return StackState(
        kafka_bootstrap="127.0.0.1:29092",
        s3_endpoint="http://127.0.0.1:29000",
        aws_endpoint="http://127.0.0.1:25000",
        pids={"kafka": 11, "s3": 12, "aws": 13},
        state_dir=tmp_path,
        start_times={"kafka": 1.5},
        kafka_controller_port=29093,
    )


def test_state_round_trips_through_the_file(tmp_path):
    state = _state(tmp_path)
    path = write_state(state)
    assert path == tmp_path / "stack.json"
    assert read_state(tmp_path) == state
    assert json.loads(path.read_text())["kafka_bootstrap"] == "127.0.0.1:29092"
    assert (state.kafka_port, state.s3_port, state.aws_port) == (29092, 29000, 25000)
    assert state.env()["LOGLAKE_S3_ENDPOINT"] == "http://127.0.0.1:29000"


def test_missing_or_broken_state_reads_as_none(tmp_path):
    assert read_state(tmp_path) is None
    (tmp_path / "stack.json").write_text("{not json")
    assert read_state(tmp_path) is None


def test_state_dir_comes_from_argument_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLAKE_STATE_DIR", str(tmp_path / "env"))
    assert state_dir() == (tmp_path / "env").resolve()
    assert state_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    monkeypatch.delenv("LOGLAKE_STATE_DIR")
    assert state_dir() == Path("~/.local/state/loglake").expanduser().resolve()


def test_kafka_config_listens_on_loopback_only(tmp_path):
    props = dict(
        line.split("=", 1) for line in kafka.server_properties(tmp_path, 29092, 29093).splitlines()
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["process.roles"] == "broker,controller"
    assert props["num.partitions"] == "6"
    assert props["auto.create.topics.enable"] == "false"  # a topic exists once created
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert "kafka-server.log" in kafka.log4j2_properties(tmp_path)


def test_s3proxy_config_uses_the_filesystem_backend(tmp_path):
    props = dict(line.split("=", 1) for line in s3proxy.properties(tmp_path, 29000).splitlines())
    assert props["s3proxy.endpoint"] == "http://127.0.0.1:29000"
    assert props["jclouds.provider"] == "filesystem"
    assert props["jclouds.filesystem.basedir"] == str(tmp_path / "data")


def test_jars_expected_list_comes_from_the_poms():
    spark = {a.jar_name for a in jars.declared_artifacts("spark")}
    assert "delta-spark_4.1_2.13-4.2.0.jar" in spark
    assert "hadoop-aws-3.4.2.jar" in spark
    assert "spark-sql-kafka-0-10_2.13-4.1.1.jar" in spark
    assert "kafka_2.13-4.1.2.jar" in {a.jar_name for a in jars.declared_artifacts("kafka")}
    assert jars.pom_path().is_file()


def test_missing_jars_checks_declared_jars_and_the_manifest(tmp_path):
    declared = [a.jar_name for a in jars.declared_artifacts("kafka")]
    assert set(jars.missing_jars("kafka", tmp_path)) == {*declared, ".manifest"}
    folder = tmp_path / "kafka"
    folder.mkdir()
    for name in [*declared, "dep-1.0.jar"]:
        (folder / name).write_bytes(b"")
    (folder / ".manifest").write_text("\n".join([*declared, "dep-1.0.jar"]) + "\n")
    assert jars.missing_jars("kafka", tmp_path) == []
    (folder / "dep-1.0.jar").unlink()
    assert jars.missing_jars("kafka", tmp_path) == ["dep-1.0.jar"]
    assert jars.classpath("kafka", tmp_path).split(os.pathsep) == [
        str(folder / n) for n in sorted(declared)
    ]


def test_jars_path_errors_name_the_fix(tmp_path):
    with pytest.raises(jars.JarsError, match="loglake jars fetch"):
        jars.classpath("spark", tmp_path)
    with pytest.raises(jars.JarsError, match="unknown jars module"):
        jars.classpath("hive", tmp_path)


def present_jars(folder):
    """Every declared jar (empty files) and each module's manifest, under ``folder``."""
    for module in jars.MODULES:
        (folder / module).mkdir()
        names = [a.jar_name for a in jars.declared_artifacts(module)]
        for name in names:
            (folder / module / name).write_bytes(b"")
        (folder / module / ".manifest").write_text("\n".join(names))


def test_jars_fetch_is_a_no_op_when_everything_is_present(tmp_path, monkeypatch):
    present_jars(tmp_path)
    archive = jars.class_archive_path(tmp_path)
    archive.parent.mkdir()
    archive.write_bytes(b"built")
    monkeypatch.setattr(jars, "_run", lambda cmd: pytest.fail(f"ran {cmd}"))
    from loglake_tools import class_archive

    monkeypatch.setattr(
        class_archive, "build_class_archive", lambda *a: pytest.fail("rebuilt the archive")
    )
    result = CliRunner().invoke(jars.jars, ["fetch", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "all jars present" in result.output
    assert f"class archive present: {archive}" in result.output
    assert archive.read_bytes() == b"built"


def test_jars_fetch_builds_a_missing_class_archive_and_reports_a_failure(tmp_path, monkeypatch):
    from loglake_tools import class_archive

    present_jars(tmp_path)
    built: list[tuple[object, object]] = []

    def build(target, jars_dir):
        built.append((target, jars_dir))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x" * 2_000_000)
        return 1.0

    monkeypatch.setattr(class_archive, "build_class_archive", build)
    result = CliRunner().invoke(jars.jars, ["fetch", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = jars.class_archive_path(tmp_path)
    assert built == [(archive, tmp_path.resolve())]
    assert f"class archive ready in 1 s: {archive} (2 MB)" in result.output

    def fail(target, jars_dir):
        raise class_archive.ClassArchiveError("the training run failed (exit 1)")

    monkeypatch.setattr(class_archive, "build_class_archive", fail)
    archive.unlink()
    result = CliRunner().invoke(jars.jars, ["fetch", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "the training run failed" in result.output
    assert "--no-class-archive" in result.output


def test_port_owner_names_the_listening_process():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert f"pid {os.getpid()}" in (procs.port_owner(port) or "")
        with pytest.raises(PortInUseError, match=f"port {port} needed by s3proxy"):
            procs.ensure_port_free(port, "s3proxy")
    assert procs.port_owner(port) is None


def test_spawned_process_is_detached_logged_and_stoppable(tmp_path):
    log_file = tmp_path / "logs" / "child.log"
    proc = procs.spawn(
        [sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"],
        log_file=log_file,
        cwd=tmp_path,
    )
    assert os.getsid(proc.pid) == proc.pid  # its own session
    procs.wait_until(
        lambda: "hello" in log_file.read_text(),
        timeout=20,
        proc=proc,
        what="child",
        log_file=log_file,
    )
    started = procs.start_time(proc)
    assert procs.process_if_alive(proc.pid, started) is not None
    assert procs.process_if_alive(proc.pid, started - 100) is None
    procs.stop_process(proc, grace=5)
    assert procs.process_if_alive(proc.pid) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_wall_clock_step_does_not_make_a_running_server_a_stranger(tmp_path, monkeypatch):
    import psutil._pslinux

    proc = procs.spawn(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log_file=tmp_path / "child.log",
        cwd=tmp_path,
    )
    try:
        started = procs.start_time(proc)
        before = psutil.Process(proc.pid).create_time()
        real_boot = psutil._pslinux.boot_time()
        # The clock is stepped an hour ahead: the kernel moves btime, so create_time moves.
        monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: real_boot + 3600.0)
        assert psutil.Process(proc.pid).create_time() == pytest.approx(before + 3600.0, abs=1.0)
        assert procs.start_time(proc) == started
        assert procs.process_if_alive(proc.pid, started) is not None
    finally:
        procs.stop_process(proc, grace=5)
    assert procs.process_if_alive(proc.pid, started) is None


def test_a_server_that_dies_while_starting_reports_its_log_tail(tmp_path):
    log_file = tmp_path / "dead.log"
    proc = procs.spawn(
        [sys.executable, "-c", "import sys; print('bind failed: boom'); sys.exit(3)"],
        log_file=log_file,
        cwd=tmp_path,
    )
    with pytest.raises(procs.ServerStartError, match="bind failed: boom"):
        procs.wait_until(lambda: False, timeout=20, proc=proc, what="dead", log_file=log_file)


def test_status_of_a_stack_never_started_is_all_down(tmp_path):
    from loglake_tools.stack.cli import stack

    result = CliRunner().invoke(
        stack, ["status", "--json"], env={"LOGLAKE_STATE_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [report[k]["up"] for k in ("kafka", "s3", "aws")] == [False, False, False]
    assert report["kafka"]["bootstrap"] == "127.0.0.1:19092"
    assert report["s3"]["endpoint"] == "http://127.0.0.1:19000"
    assert report["aws"] == {"up": False, "endpoint": "http://127.0.0.1:15000", "pid": None}


def test_stack_down_without_a_stack_says_so(tmp_path):
    from loglake_tools.stack.cli import stack

    result = CliRunner().invoke(stack, ["down"], env={"LOGLAKE_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0
    assert "not running" in result.output
