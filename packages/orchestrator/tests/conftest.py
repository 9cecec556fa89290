"""Fixtures of the orchestrator tests: moto AWS, a control store, a fake runner and clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loglake_core.control_store import ControlStore
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.errors import RunnerError
from loglake_orchestrator.machine import Orchestrator
from loglake_orchestrator.notify import LogNotifier
from loglake_orchestrator.runners.base import JobRunner, RunState, RunStatus, classify_state

EVENTS_DIR = Path(__file__).parent / "events"
TABLE = "loglake-control-test"
JOB = "loglake-etl"
T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def _load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def load_event() -> Any:
    """Load a recorded event from tests/events by file name."""
    return _load_event


class FakeClock:
    """A settable clock."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ZeroJitter:
    """A jitter source that always returns the ceiling (deterministic maximal back-off)."""

    def uniform(self, a: float, b: float) -> float:
        return b


@dataclass
class FakeRunner(JobRunner):
    """An in-memory runner: runs stay RUNNING until a test finishes them."""

    name: str = "fake"
    runs: dict[str, RunStatus] = field(default_factory=dict)
    started: list[tuple[str, tuple[date, ...]]] = field(default_factory=list)
    start_errors: list[Exception] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, dates: Sequence[date], *, lake_uri: str) -> str:
        with self.lock:
            if self.start_errors:
                raise self.start_errors.pop(0)
            run_id = f"jr_{len(self.started) + 1}"
            self.started.append((run_id, tuple(dates)))
            self.runs[run_id] = RunStatus(run_id, RunState.RUNNING, "RUNNING")
            return run_id

    def get_status(self, run_id: str) -> RunStatus:
        if run_id not in self.runs:
            raise RunnerError(f"unknown run {run_id}")
        return self.runs[run_id]

    def stop(self, run_id: str) -> None:
        self.stopped.append(run_id)
        self.finish(run_id, "STOPPED")

    def finish(self, run_id: str, raw: str, message: str | None = None) -> None:
        self.runs[run_id] = RunStatus(run_id, classify_state(raw), raw, message)

    @property
    def last_run_id(self) -> str:
        return self.started[-1][0]


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def store(dynamodb: Any) -> ControlStore:
    store = ControlStore(TABLE, client=dynamodb)
    store.create_table_if_missing()
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def notifier() -> LogNotifier:
    return LogNotifier()


def make_config(**overrides: Any) -> OrchestratorConfig:
    values: dict[str, Any] = {
        "lake_uri": "file:///tmp/lake",
        "control_table": TABLE,
        "job_name": JOB,
        "job_runner": "local",
        "max_attempts": 3,
        "backoff_base_seconds": 60.0,
        "backoff_cap_seconds": 600.0,
        "max_dates_per_run": 3,
        "allowed_lateness_seconds": 3600,
    }
    values.update(overrides)
    return OrchestratorConfig(**values)


@pytest.fixture
def make_orch(
    store: ControlStore, runner: FakeRunner, notifier: LogNotifier, clock: FakeClock
) -> Any:
    def build(**overrides: Any) -> Orchestrator:
        return Orchestrator(
            make_config(**overrides), store, runner, notifier, clock=clock, rng=ZeroJitter()
        )

    return build


@pytest.fixture
def orch(make_orch: Any) -> Orchestrator:
    built: Orchestrator = make_orch()
    return built


@pytest.fixture
def ingest(store: ControlStore) -> Any:
    """Record an ingest batch the way the streaming job does: ingest(batch_id, watermark, *days)."""

    def record(batch_id: int, watermark: datetime, *days: date) -> None:
        store.update_stream_progress(
            "ingest", batch_id=batch_id, watermark=watermark, dates=set(days), counters={"read": 1}
        )

    return record


@dataclass
class LambdaContext:
    """The attributes of a Lambda context object the handler may read."""

    function_name: str = "loglake-orchestrator"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:loglake-orchestrator"
    )
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
