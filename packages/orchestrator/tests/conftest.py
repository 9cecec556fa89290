"""Fixtures of the orchestrator tests: moto AWS, a control store, a fake runner and clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loglake_core.control_store import ControlStore
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.machine import Orchestrator
from loglake_orchestrator.notify import LogNotifier
from packages.orchestrator.tests.orch_fakes import FakeClock, FakeRunner, LambdaContext, ZeroJitter

EVENTS_DIR = Path(__file__).parent / "events"
TABLE = "loglake-control-test"
JOB = "loglake-etl"


def _load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def load_event() -> Any:
    """Load a recorded event from tests/events by file name."""
    return _load_event


@pytest.fixture(autouse=True)
def _reset_transition_logger() -> Iterator[None]:
    """The handler sends transition lines to stdout; give each test a clean logger."""
    logger = logging.getLogger("loglake_orchestrator.transitions")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


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


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
