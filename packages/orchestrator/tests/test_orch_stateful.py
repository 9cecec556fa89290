"""Model-based test: random ticks, events, failures, late data and backfills keep the invariants.

Invariants checked after every step:
- at most one run is active in the runner, and it is the one the job state names;
- a processed date only stays processed or becomes dirty; processed-through never goes back;
- every failed run is part of the retrying unit of work, or of a unit whose retry succeeded, or
  named in exactly one alert; each alert covers ``max_attempts`` attempts.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from moto import mock_aws

from loglake_core.control import DateStatus, JobState, JobStatus
from loglake_core.control_store import ControlStore
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.errors import RetryableRunnerError, RunnerError
from loglake_orchestrator.events import JobStateChange
from loglake_orchestrator.machine import Orchestrator
from loglake_orchestrator.notify import LogNotifier
from loglake_orchestrator.runners.base import RunState
from packages.orchestrator.tests.orch_fakes import FakeClock, FakeRunner

pytestmark = pytest.mark.unit

JOB = "loglake-etl"
DAY0 = date(2026, 11, 1)
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
MAX_ATTEMPTS = 3
days = st.integers(min_value=0, max_value=5).map(lambda i: DAY0 + timedelta(days=i))


@pytest.fixture(autouse=True, scope="module")
def _one_moto_for_all_examples():
    """One moto backend for the module; each example gets its own table (fast to create)."""
    with mock_aws():
        OrchestratorModel.client = boto3.client("dynamodb", region_name="us-east-1")
        yield
        OrchestratorModel.client = None


class OrchestratorModel(RuleBasedStateMachine):
    client = None

    def __init__(self) -> None:
        super().__init__()
        self.table = f"model-{uuid.uuid4().hex[:12]}"
        self.store = ControlStore(self.table, client=self.client)
        self.store.create_table_if_missing()
        self.runner = FakeRunner()
        self.clock = FakeClock(START)
        self.notifier = LogNotifier()
        config = OrchestratorConfig(
            lake_uri="file:///tmp/lake", control_table=self.table, job_runner="local",
            max_attempts=MAX_ATTEMPTS, backoff_base_seconds=1, backoff_cap_seconds=8,
            max_dates_per_run=2, allowed_lateness_seconds=0,
        )  # fmt: skip
        self.orch = Orchestrator(
            config, self.store, self.runner, self.notifier, clock=self.clock, rng=random.Random(0)
        )
        self.batch = 0
        self.statuses: dict[date, DateStatus] = {}
        self.through: date | None = None
        # Units of work seen so far: the run ids the job state listed together, by first run.
        self.units: dict[str, set[str]] = {}

    def teardown(self) -> None:
        self.client.delete_table(TableName=self.table)

    # ------------------------------------------------------------------ rules
    @initialize(day=days)
    def first_run(self, day: date) -> None:
        """Every example starts with a complete date and a tick, so a run is active."""
        self.ingest(day, 30)
        self.orch.tick()

    @rule(day=days, hours=st.sampled_from([6, 30]))  # the day stays open, or completes
    def ingest(self, day: date, hours: int) -> None:
        self.batch += 1
        watermark = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)
        self.store.update_stream_progress(
            "ingest", batch_id=self.batch, watermark=watermark, dates={day}, counters={"read": 1}
        )

    @rule()
    def tick(self) -> None:
        self.orch.tick()

    @rule(seconds=st.sampled_from([1, 10, 3600]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(outcome=st.sampled_from(["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED"]))
    def finish_active_run(self, outcome: str) -> None:
        for run_id, status in self.runner.runs.items():
            if status.state == RunState.RUNNING:
                self.runner.finish(run_id, outcome, f"{outcome.lower()} by the model")

    @rule()
    def fail_active_run_and_retry(self) -> None:
        """Macro step: the active run fails, a tick sees it, the back-off passes, a tick retries."""
        self.finish_active_run("FAILED")
        self.orch.tick()
        self.clock.advance(10)
        self.orch.tick()

    @rule(data=st.data(), state=st.sampled_from(["SUCCEEDED", "FAILED", "RUNNING", "TIMEOUT"]))
    def state_change_event(self, data: st.DataObject, state: str) -> None:
        """Any run, any state: duplicates, stale and out-of-order events included."""
        if not self.runner.started:
            return
        run_id, _ = data.draw(st.sampled_from(self.runner.started))
        actual = self.runner.runs[run_id]
        # Glue only reports what happened: a final state matching the run, or RUNNING earlier.
        reported = actual.raw_state if actual.state != RunState.RUNNING else "RUNNING"
        if state == "RUNNING":
            reported = "RUNNING"
        self.orch.on_state_change(JobStateChange(JOB, run_id, reported, actual.error_message))

    @rule(retryable=st.booleans())
    def next_start_fails(self, retryable: bool) -> None:
        error = RetryableRunnerError("Throttling") if retryable else RunnerError("no such job")
        self.runner.start_errors.append(error)

    @rule(day=days)
    def late_data(self, day: date) -> None:
        self.store.mark_dates_dirty(JOB, [day], "late data")

    @rule(day=days)
    def backfill(self, day: date) -> None:
        self.orch.backfill(day, day + timedelta(days=1))

    # ------------------------------------------------------------------ invariants
    @invariant()
    def invariants_hold(self) -> None:
        state = self.store.get_job_state(JOB)
        self._at_most_one_active_run(state)
        self._processed_dates_move_forward(state)
        self._failed_runs_retried_or_alerted_once(state)

    def _at_most_one_active_run(self, state: JobState) -> None:
        active = [r for r, s in self.runner.runs.items() if s.state == RunState.RUNNING]
        assert len(active) <= 1
        if active:
            assert state.status == JobStatus.RUNNING
            assert state.run_id == active[0]
        if state.status == JobStatus.RUNNING:
            assert state.run_id in self.runner.runs

    def _processed_dates_move_forward(self, state: JobState) -> None:
        current = {i.day: i.status for i in self.store.list_dates(JOB)}
        for day, before in self.statuses.items():
            if before == DateStatus.PROCESSED:
                assert current[day] in (DateStatus.PROCESSED, DateStatus.DIRTY), (day, current[day])
        self.statuses = current
        through = state.processed_through
        if self.through is not None:
            assert through is not None
            assert through >= self.through
        self.through = through

    def _failed_runs_retried_or_alerted_once(self, state: JobState) -> None:
        alerted: list[str] = []
        for _, alert in self.notifier.sent:
            assert alert["attempts"] == MAX_ATTEMPTS
            assert len(alert["run_ids"]) == MAX_ATTEMPTS
            alerted += alert["run_ids"]
        assert len(alerted) == len(set(alerted)), "a run was alerted twice"
        assert state.pending_alert is None
        if state.run_ids:
            self.units.setdefault(state.run_ids[0], set()).update(state.run_ids)
        succeeded = {r for r, s in self.runner.runs.items() if s.state == RunState.SUCCEEDED}
        retried = set().union(*(u for u in self.units.values() if u & succeeded))
        for run_id, status in self.runner.runs.items():
            if status.state != RunState.FAILED or run_id == state.run_id:
                continue  # not failed, or failed but not yet seen by the orchestrator
            assert run_id in alerted or run_id in state.run_ids or run_id in retried, run_id


OrchestratorModel.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrchestratorModel = OrchestratorModel.TestCase


def test_failed_attempts_of_a_unit_that_then_succeeded_count_as_retried():
    """A sequence the model found: three failures and an alert, a backfill, two failed
    retries, then success and a new run in the same tick; nothing may look lost."""
    model = OrchestratorModel()
    try:
        model.first_run(DAY0)
        model.invariants_hold()
        for _ in range(3):
            model.fail_active_run_and_retry()
            model.invariants_hold()
        assert [a["run_ids"] for _, a in model.notifier.sent] == [["jr_1", "jr_2", "jr_3"]]
        model.ingest(DAY0, 6)
        model.backfill(DAY0 + timedelta(days=1))
        for _ in range(3):
            model.fail_active_run_and_retry()
            model.invariants_hold()
        model.backfill(DAY0 + timedelta(days=2))
        model.finish_active_run("SUCCEEDED")
        model.invariants_hold()
        model.tick()
        model.invariants_hold()
        assert len(model.notifier.sent) == 1, "the unit that succeeded must not alert"
    finally:
        model.teardown()
