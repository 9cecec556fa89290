"""The local runner with a tiny fake ETL command in a real subprocess."""

from __future__ import annotations

import json
import sys
import time
from datetime import date

import pytest

from loglake_orchestrator.errors import RunnerError
from loglake_orchestrator.runners.base import RunState
from loglake_orchestrator.runners.local import LocalJobRunner

pytestmark = pytest.mark.unit

FAKE_ETL = """
import argparse, json, sys, time
p = argparse.ArgumentParser()
p.add_argument("--lake"); p.add_argument("--dates"); p.add_argument("--result-path")
p.add_argument("--sleep", type=float, default=0); p.add_argument("--exit", type=int, default=0)
a = p.parse_args()
time.sleep(a.sleep)
result = {"dates": a.dates.split(","), "lake": a.lake, "rows": 3}
open(a.result_path, "w").write(json.dumps(result))
print(json.dumps(result))
if a.exit:
    print("AnalysisException: table not found", file=sys.stderr)
sys.exit(a.exit)
"""


@pytest.fixture
def fake_etl(tmp_path):
    script = tmp_path / "fake_etl.py"
    script.write_text(FAKE_ETL, encoding="utf-8")
    return [sys.executable, str(script)]


def wait_done(runner, run_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runner.get_status(run_id)
        if status.state != RunState.RUNNING:
            return status
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still running after {timeout}s")


def test_successful_run_records_result(tmp_path, fake_etl):
    runner = LocalJobRunner(tmp_path / "runs", fake_etl)
    run_id = runner.start([date(2026, 11, 25), date(2026, 11, 26)], lake_uri="file:///tmp/lake")
    status = wait_done(runner, run_id)
    assert (status.state, status.raw_state) == (RunState.SUCCEEDED, "SUCCEEDED")
    assert runner.result(run_id) == {
        "dates": ["2026-11-25", "2026-11-26"], "lake": "file:///tmp/lake", "rows": 3,
    }  # fmt: skip
    meta = json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
    assert meta["command"][-4:-2] == ["--dates", "2026-11-25,2026-11-26"]


def test_failed_run_reports_exit_code_and_output(tmp_path, fake_etl):
    runner = LocalJobRunner(tmp_path / "runs", [*fake_etl, "--exit", "2"])
    status = wait_done(runner, runner.start([date(2026, 11, 26)], lake_uri="/tmp/lake"))
    assert status.state == RunState.FAILED
    assert "exit code 2" in status.error_message
    assert "AnalysisException: table not found" in status.error_message


def test_running_then_stop(tmp_path, fake_etl):
    runner = LocalJobRunner(tmp_path / "runs", [*fake_etl, "--sleep", "30"])
    run_id = runner.start([date(2026, 11, 26)], lake_uri="/tmp/lake")
    assert runner.get_status(run_id).state == RunState.RUNNING
    runner.stop(run_id)
    assert wait_done(runner, run_id).state == RunState.FAILED


def test_fail_once_fails_only_the_first_run(tmp_path, fake_etl):
    runner = LocalJobRunner(tmp_path / "runs", fake_etl, fail_once=True)
    first = wait_done(runner, runner.start([date(2026, 11, 26)], lake_uri="/tmp/lake"))
    second = wait_done(runner, runner.start([date(2026, 11, 26)], lake_uri="/tmp/lake"))
    assert first.state == RunState.FAILED
    assert "injected failure" in first.error_message
    assert second.state == RunState.SUCCEEDED


def test_missing_command_and_unknown_run(tmp_path):
    runner = LocalJobRunner(tmp_path / "runs", "/nonexistent/etl-binary")
    status = wait_done(runner, runner.start([date(2026, 11, 26)], lake_uri="/tmp/lake"))
    assert status.state == RunState.FAILED
    assert "exit code 127" in status.error_message
    with pytest.raises(RunnerError, match="unknown"):
        runner.get_status("local-nope")
