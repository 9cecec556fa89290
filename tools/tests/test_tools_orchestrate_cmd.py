"""``loglake orchestrate`` against an in-test moto server, with the local runner and a fake ETL."""

from __future__ import annotations

import json
import socket
import sys
from datetime import UTC, date, datetime

import boto3
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from loglake_core.control_store import ControlStore
from loglake_tools.orchestrate_cmd import orchestrate

pytestmark = pytest.mark.integration

FAKE_ETL = """
import argparse, json, sys
p = argparse.ArgumentParser()
p.add_argument("--lake"); p.add_argument("--dates"); p.add_argument("--result-path")
a = p.parse_args()
print(json.dumps({"dates": a.dates.split(",")}))
"""


@pytest.fixture(scope="module")
def moto_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def cli_env(tmp_path, moto_endpoint, monkeypatch):
    script = tmp_path / "fake_etl.py"
    script.write_text(FAKE_ETL, encoding="utf-8")
    table = f"control-{tmp_path.name[-12:]}"
    monkeypatch.setenv("LOGLAKE_LOCAL_ETL_COMMAND", f"{sys.executable} {script}")
    monkeypatch.setenv("LOGLAKE_LOCAL_RUNNER_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("LOGLAKE_CONTROL_TABLE", table)
    monkeypatch.setenv("LOGLAKE_ALLOWED_LATENESS_SECONDS", "0")
    store = ControlStore(table, client=boto3.client("dynamodb", endpoint_url=moto_endpoint))
    store.create_table_if_missing()
    return store, ["--lake", str(tmp_path / "lake"), "--aws-endpoint", moto_endpoint]


def test_run_until_idle_processes_ready_dates(cli_env):
    store, base = cli_env
    store.update_stream_progress(
        "ingest", batch_id=1, watermark=datetime(2026, 11, 27, 1, tzinfo=UTC),
        dates={date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)}, counters={},
    )  # fmt: skip
    result = CliRunner().invoke(orchestrate, [*base, "run-until-idle", "--interval", "0.2"])
    assert result.exit_code == 0, result.output
    assert "started run_id=local-" in result.output
    assert 'idle: dates by status {"processed": 2}' in result.output
    assert store.get_job_state("loglake-etl").processed_through == date(2026, 11, 26)

    result = CliRunner().invoke(orchestrate, [*base, "backfill", "--start", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dirtied"] == ["2026-11-25"]
    result = CliRunner().invoke(orchestrate, [*base, "tick"])
    assert json.loads(result.output)["dates"] == ["2026-11-25"]
    status = json.loads(CliRunner().invoke(orchestrate, [*base, "status"]).output)
    assert status["state"]["status"] == "running"


def test_user_errors_are_messages_not_tracebacks(cli_env):
    _, base = cli_env
    result = CliRunner().invoke(orchestrate, [*base, "backfill", "--start", "2026-11-27",
                                              "--end", "2026-11-01"])  # fmt: skip
    assert result.exit_code == 1
    assert "Error: backfill end 2026-11-01 is before start 2026-11-27" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        orchestrate, ["--aws-endpoint", "http://x", "tick"], env={"LOGLAKE_LAKE_URI": ""}
    )
    assert "no lake: pass --lake" in result.output
