"""Test doubles of the orchestrator tests: a settable clock, a jitter source, a fake runner."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from loglake_orchestrator.errors import RunnerError
from loglake_orchestrator.runners.base import JobRunner, RunState, RunStatus, classify_state

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


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
