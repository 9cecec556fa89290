"""Concurrent invocations (threads) start at most one run and finish a run once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest

from loglake_core.control import JobStatus
from loglake_core.control_store import ControlStore
from loglake_orchestrator.events import JobStateChange
from loglake_orchestrator.machine import Orchestrator

pytestmark = pytest.mark.unit

THREADS = 8
JOB = "loglake-etl"


class SerializedClient:
    """Runs each DynamoDB request atomically, as DynamoDB does.

    moto's in-process backend checks a condition and writes without a lock, so two threads
    could interleave inside one request; DynamoDB itself never does. Serializing requests
    (not invocations) keeps every interleaving of whole requests possible.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def run_together(functions):
    barrier = threading.Barrier(len(functions))

    def go(fn):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(len(functions)) as pool:
        return list(pool.map(go, functions))


def test_concurrent_ticks_start_at_most_one_run(store, runner, notifier, clock, ingest, make_orch):
    shared = SerializedClient(store.client)
    config = make_orch().config
    orchestrators = [
        Orchestrator(
            config, ControlStore(store.table_name, client=shared), runner, notifier, clock=clock
        )
        for _ in range(THREADS)
    ]
    day = date(2026, 11, 20)
    for round_no in range(4):
        ingest(round_no + 1, clock.now, day + timedelta(days=round_no))
        clock.now = clock.now + timedelta(days=1)
        results = run_together([o.tick for o in orchestrators])
        actions = sorted(r["action"] for r in results)
        assert actions.count("started") + actions.count("succeeded") >= 1
        assert len(runner.started) == round_no + 1, actions
        assert set(actions) <= {"started", "claim_lost", "starting", "running", "idle"}
        state = store.get_job_state(JOB)
        assert state.status == JobStatus.RUNNING
        assert state.run_id == runner.last_run_id
        # Every invocation gets the same SUCCEEDED event at once: it is applied once.
        runner.finish(state.run_id, "SUCCEEDED")
        event = JobStateChange(JOB, state.run_id, "SUCCEEDED")
        results = run_together([lambda o=o, e=event: o.on_state_change(e) for o in orchestrators])
        assert [r["action"] for r in results].count("succeeded") == 1
        assert store.get_job_state(JOB).processed_through == day + timedelta(days=round_no)
    assert len(runner.started) == 4
