"""Faults during a streaming demo: ingest is killed with SIGKILL mid-way and restarted,
and the first ETL run fails (injected). At the end nothing is lost or doubled, and the
orchestrator retried the failed run exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import DemoRunner

EVENTS = 20_000
RATE = 1_000
#: Small micro-batches, so the kill lands while most of the topic is still unread.
MAX_OFFSETS_PER_TRIGGER = 4_000


def _records_read(state_dir: Path, aws_endpoint: str) -> int:
    from loglake_core.control_store import ControlStore, default_client

    try:
        token = json.loads((state_dir / "demo.json").read_text())["token"]
        store = ControlStore(f"loglake-demo-{token}", client=default_client(aws_endpoint))
        progress = store.get_stream_progress("ingest")
    except Exception:
        return 0
    return int(progress.counters.get("records_read", 0)) if progress else 0


@pytest.mark.e2e
def test_kill_9_of_ingest_and_a_failed_etl_run_lose_and_double_nothing(
    demo_runner: DemoRunner,
) -> None:
    from loglake_core.control_store import ControlStore, default_client
    from loglake_tools.reconcile import LakeReader, lake_counts, reconcile
    from loglake_tools.stack import read_state

    stack = read_state()
    assert stack is not None
    killed: dict[str, Any] = {}

    def kill_ingest_after_first_batch(proc: subprocess.Popen[str], state_dir: Path) -> None:
        deadline = time.monotonic() + 300
        pid_file = state_dir / "ingest.pid"
        while time.monotonic() < deadline and proc.poll() is None:
            read = _records_read(state_dir, stack.aws_endpoint) if pid_file.exists() else 0
            if read > 0:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, read=read)
                return
            time.sleep(0.3)

    run = demo_runner(
        "--events", str(EVENTS), "--days", "2", "--rate", str(RATE), "--follow", "--fresh",
        "--fail-etl-once",
        env={"LOGLAKE_INGEST_MAX_OFFSETS_PER_TRIGGER": str(MAX_OFFSETS_PER_TRIGGER)},
        on_start=kill_ingest_after_first_batch,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-4000:]
    assert killed, "ingest never committed a batch to kill it after"
    assert 0 < killed["read"] < EVENTS, killed

    # The demo noticed the death and restarted ingest from its checkpoint, once. Spark
    # 4.1.1's Kafka source can fail right after replaying the interrupted batch
    # (SPARK-55271: a NullPointerException in KafkaMicroBatchStream.metrics, the batch
    # itself committed); the ingest job restarts its query for that itself, in-process.
    assert "restarted from its checkpoint" in run.output
    assert run.book["runs"][-1]["ingest_restarts"] == 1
    ingest_log = (run.state_dir / "logs" / "ingest.log").read_text(encoding="utf-8")
    in_process = ingest_log.count("after Spark's known Kafka-source failure")
    assert in_process <= 1

    # Nothing lost, nothing doubled.
    summary = run.book["summary"]
    counts = lake_counts(LakeReader.open(run.lake))
    assert [r.kind for r in reconcile(summary, counts) if not r.ok] == []
    assert counts.raw_rows == counts.raw_distinct_ids == summary["valid"]
    assert counts.records_read == EVENTS

    # Exactly one failed run, retried once by a run of the same dates that succeeded.
    store = ControlStore(run.control_table, client=default_client(stack.aws_endpoint))
    runs = sorted(store.list_runs("loglake-etl"), key=lambda r: r.started_at)
    failed = [r for r in runs if r.status != "SUCCEEDED"]
    assert len(failed) == 1, [(r.run_id, r.status) for r in runs]
    first, retry = runs[0], runs[1]
    assert first is failed[0]
    assert "injected failure" in (first.error or "")
    assert (retry.status, retry.attempt, retry.dates) == ("SUCCEEDED", 2, first.dates)
    processed = [d for r in runs if r.status == "SUCCEEDED" for d in r.dates]
    assert sorted(processed) == sorted(counts.raw_by_date)
    assert len(processed) == len(set(processed))
    # The report shows the failed run too.
    assert first.run_id in run.report.read_text(encoding="utf-8")
