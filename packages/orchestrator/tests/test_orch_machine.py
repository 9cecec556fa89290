"""Scenarios of the job state machine against a moto control table and a fake runner."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date, timedelta

import pytest

from loglake_core.control import DateStatus, JobStatus
from loglake_orchestrator.errors import RetryableRunnerError, RunnerError
from loglake_orchestrator.events import JobStateChange

pytestmark = pytest.mark.unit

D25, D26, D27 = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)
JOB = "loglake-etl"


def change(run_id, state, message=None, job=JOB):
    return JobStateChange(job_name=job, run_id=run_id, state=state, message=message)


def test_no_stream_progress_means_idle(orch, runner):
    assert orch.tick() == {"action": "idle"}
    assert runner.started == []


def test_first_run_starts_complete_dates_only(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D25, D26, D27)  # 06:00 on the 27th: the 27th is not complete
    result = orch.tick()
    assert result["action"] == "started"
    assert runner.started == [("jr_1", (D25, D26))]
    state = store.get_job_state(JOB)
    assert (state.status, state.run_id, state.attempt, state.dates) == (
        JobStatus.RUNNING, "jr_1", 1, (D25, D26),
    )  # fmt: skip
    assert store.get_date_status(JOB, D25) == DateStatus.RUNNING
    assert store.get_date_status(JOB, D27) == DateStatus.PENDING
    [record] = store.list_runs(JOB)
    assert (record.run_id, record.status, record.dates) == ("jr_1", "RUNNING", (D25, D26))
    # A second tick while the run is going starts nothing.
    assert orch.tick()["action"] == "running"
    assert len(runner.started) == 1


def test_allowed_lateness_holds_a_date_back(make_orch, runner, clock, ingest):
    orch = make_orch(allowed_lateness_seconds=7 * 3600)  # 26th complete only at 07:00 on the 27th
    ingest(1, clock.now, D26)
    assert orch.tick()["action"] == "idle"
    ingest(2, clock.now + timedelta(hours=1), D26)
    assert orch.tick()["action"] == "started"


def test_success_marks_dates_processed_and_advances(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D25, D26, D27)
    orch.tick()
    runner.finish("jr_1", "SUCCEEDED")
    clock.advance(600)
    result = orch.tick()
    assert result == {
        "action": "succeeded", "run_id": "jr_1", "dates": ["2026-11-25", "2026-11-26"],
        "processed_through": "2026-11-26",
    }  # fmt: skip
    state = store.get_job_state(JOB)
    assert (state.status, state.processed_through, state.run_id) == (JobStatus.IDLE, D26, None)
    assert store.get_date_status(JOB, D26) == DateStatus.PROCESSED
    assert store.get_date(JOB, D26).last_run_id == "jr_1"
    [record] = store.list_runs(JOB)
    assert record.status == "SUCCEEDED"
    assert [t["to"] for t in record.transitions] == ["running", "idle"]
    # The 27th completes the next day; the next tick runs it alone.
    ingest(2, clock.now + timedelta(days=1), D27)
    assert orch.tick()["action"] == "started"
    assert runner.started[-1] == ("jr_2", (D27,))


def test_failures_retry_with_growing_delays_then_alert_once(
    orch, store, runner, clock, ingest, notifier
):
    ingest(1, clock.now, D26)
    orch.tick()
    waits = []
    for attempt in (1, 2):
        runner.finish(runner.last_run_id, "FAILED", f"boom {attempt}")
        result = orch.tick()
        assert result["action"] == "retry_scheduled"
        state = store.get_job_state(JOB)
        assert state.status == JobStatus.RETRY_WAIT
        waits.append((state.next_attempt_at - clock.now).total_seconds())
        # Before the back-off has passed nothing starts.
        clock.advance(waits[-1] - 1)
        assert orch.tick()["action"] == "backing_off"
        clock.advance(1)
        assert orch.tick()["action"] == "started"
    assert waits == [120.0, 240.0]  # min(cap, 60 * 2**attempt), jitter at its ceiling
    runner.finish(runner.last_run_id, "TIMEOUT", "Job run timed out")
    result = orch.tick()
    assert result["action"] == "failed"
    assert len(notifier.sent) == 1
    subject, message = notifier.sent[0]
    assert JOB in subject
    assert message["job"] == JOB
    assert message["dates"] == ["2026-11-26"]
    assert message["run_ids"] == ["jr_1", "jr_2", "jr_3"]
    assert message["attempts"] == 3
    assert message["last_error"] == "Job run timed out"
    assert store.get_date_status(JOB, D26) == DateStatus.FAILED
    state = store.get_job_state(JOB)
    assert (state.status, state.pending_alert, state.processed_through) == (
        JobStatus.IDLE,
        None,
        None,
    )
    # More ticks and duplicate events send nothing more and start nothing (a failed date waits
    # for a backfill or new data).
    for _ in range(3):
        clock.advance(3600)
        assert orch.tick()["action"] == "idle"
    assert orch.on_state_change(change("jr_3", "TIMEOUT"))["action"] == "ignored"
    assert len(notifier.sent) == 1
    assert len(runner.started) == 3
    assert [r.status for r in store.list_runs(JOB)] == ["FAILED", "FAILED", "TIMEOUT"]


def test_recovery_after_one_retry(orch, store, runner, clock, ingest, notifier):
    ingest(1, clock.now, D26)
    orch.tick()
    runner.finish("jr_1", "FAILED", "executor lost")
    orch.tick()
    assert store.get_job_state(JOB).last_error == "executor lost"
    clock.advance(3600)
    assert orch.tick()["run_id"] == "jr_2"
    runner.finish("jr_2", "SUCCEEDED")
    assert orch.tick()["action"] == "succeeded"
    state = store.get_job_state(JOB)
    assert (state.status, state.attempt, state.last_error, state.processed_through) == (
        JobStatus.IDLE, 0, None, D26,
    )  # fmt: skip
    assert notifier.sent == []


def test_state_change_events_duplicate_out_of_order_and_foreign(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    orch.tick()
    version = store.get_job_state(JOB).version
    assert orch.on_state_change(change("jr_1", "RUNNING"))["action"] == "ignored"
    assert orch.on_state_change(change("jr_1", "SUCCEEDED", job="other-job"))["action"] == "ignored"
    assert orch.on_state_change(change("jr_999", "FAILED"))["action"] == "ignored"
    assert store.get_job_state(JOB).version == version
    assert orch.on_state_change(change("jr_1", "FAILED", "boom"))["action"] == "retry_scheduled"
    after_first = store.get_job_state(JOB)
    # The same event again, a late SUCCEEDED for the same run, and a tick: nothing moves twice.
    assert orch.on_state_change(change("jr_1", "FAILED", "boom"))["action"] == "ignored"
    assert orch.on_state_change(change("jr_1", "SUCCEEDED"))["action"] == "ignored"
    assert store.get_job_state(JOB) == after_first
    clock.advance(3600)
    orch.tick()  # starts jr_2
    assert orch.on_state_change(change("jr_1", "FAILED"))["action"] == "ignored"
    assert store.get_job_state(JOB).run_id == "jr_2"
    assert orch.on_state_change(change("jr_2", "SUCCEEDED"))["action"] == "succeeded"
    assert orch.on_state_change(change("jr_2", "SUCCEEDED"))["action"] == "ignored"
    assert store.get_job_state(JOB).attempt == 0


def test_backfill_dates_run_before_new_dates(make_orch, store, runner, clock, ingest):
    orch = make_orch(max_dates_per_run=2)
    ingest(1, clock.now, D25, D26)
    orch.tick()
    runner.finish("jr_1", "SUCCEEDED")
    orch.tick()
    ingest(2, clock.now + timedelta(days=1), D27)
    result = orch.backfill(date(2026, 11, 20), date(2026, 11, 21))
    assert result["dirtied"] == ["2026-11-20", "2026-11-21"]
    assert orch.backfill(date(2026, 11, 20), date(2026, 11, 20))["dirtied"] == []  # already dirty
    assert orch.tick()["dates"] == ["2026-11-20", "2026-11-21"]
    runner.finish("jr_2", "SUCCEEDED")
    result = orch.tick()
    assert result["action"] == "started"  # success then the next dates in the same tick
    assert runner.started[-1] == ("jr_3", (D27,))
    assert store.get_job_state(JOB).processed_through == D26  # never moves back


def test_late_data_for_a_processed_date_reruns_it(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    orch.tick()
    runner.finish("jr_1", "SUCCEEDED")
    orch.tick()
    assert store.mark_dates_dirty(JOB, {D26, D27}, "late data") == [D26]  # 27th never ran
    assert orch.tick()["dates"] == ["2026-11-26"]


def test_date_dirtied_during_its_run_runs_again(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    orch.tick()
    assert store.mark_dates_dirty(JOB, [D26], "late data") == [D26]
    runner.finish("jr_1", "SUCCEEDED")
    assert orch.tick()["action"] == "started"  # finished jr_1, then restarted for the dirty date
    assert runner.started[-1] == ("jr_2", (D26,))


def test_throttled_start_is_retried_without_counting_an_attempt(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    runner.start_errors.append(RetryableRunnerError("ConcurrentRunsExceededException"))
    result = orch.tick()
    assert result["action"] == "start_deferred"
    state = store.get_job_state(JOB)
    assert (state.status, state.attempt) == (JobStatus.RETRY_WAIT, 0)
    assert store.get_date_status(JOB, D26) == DateStatus.RUNNING
    clock.advance(60)
    result = orch.tick()
    assert (result["action"], result["attempt"]) == ("started", 1)


def test_start_error_counts_as_a_failed_attempt(make_orch, store, runner, clock, ingest, notifier):
    orch = make_orch(max_attempts=1)
    ingest(1, clock.now, D26)
    runner.start_errors.append(RunnerError("EntityNotFoundException: no job loglake-etl"))
    assert orch.tick()["action"] == "failed"
    assert notifier.sent[0][1]["last_error"] == "EntityNotFoundException: no job loglake-etl"
    assert store.get_date_status(JOB, D26) == DateStatus.FAILED


def test_unknown_run_on_reconcile_is_a_failure(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    orch.tick()
    del runner.runs["jr_1"]
    assert orch.tick()["action"] == "retry_scheduled"
    assert "unknown run" in store.get_job_state(JOB).last_error


def test_throttled_reconcile_changes_nothing(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    orch.tick()
    before = store.get_job_state(JOB)

    def throttled(run_id):
        raise RetryableRunnerError("ThrottlingException")

    runner.get_status = throttled
    assert orch.tick()["action"] == "reconcile_deferred"
    assert store.get_job_state(JOB) == before


def test_expired_claim_is_released_and_retried(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    state = store.get_job_state(JOB)
    stuck = state.moved(JobStatus.STARTING, now=clock.now, dates=(D26,), attempt=1,
                        claim_token="dead", claimed_at=clock.now)  # fmt: skip
    store.commit(stuck)
    assert orch.tick()["action"] == "starting"  # young claim: leave it alone
    clock.advance(901)
    result = orch.tick()
    assert (result["action"], result["attempt"]) == ("started", 1)
    assert store.get_job_state(JOB).status == JobStatus.RUNNING


def test_run_started_after_losing_the_claim_is_stopped(orch, store, runner, clock, ingest):
    ingest(1, clock.now, D26)
    real_start = runner.start

    def slow_start(dates, *, lake_uri):
        run_id = real_start(dates, lake_uri=lake_uri)
        # Meanwhile another invocation released our claim (it looked expired).
        current = store.get_job_state(JOB)
        store.commit(replace(current, version=current.version + 1, claim_token="someone-else"))
        return run_id

    runner.start = slow_start
    result = orch.tick()
    assert result == {"action": "claim_lost", "stopped_run_id": "jr_1"}
    assert runner.stopped == ["jr_1"]


def test_every_transition_is_one_json_line(orch, runner, clock, ingest, caplog):
    ingest(1, clock.now, D26)
    with caplog.at_level(logging.INFO, logger="loglake_orchestrator.transitions"):
        orch.tick()
        runner.finish("jr_1", "SUCCEEDED")
        orch.tick()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("transitions")]
    transitions = [(t["from"], t["to"]) for t in lines if t["event"] == "transition"]
    assert transitions == [("idle", "starting"), ("starting", "running"), ("running", "idle")]
    assert all(t["job"] == JOB and t["dates"] == ["2026-11-26"] for t in lines)
    assert lines[-1]["run_id"] == "jr_1"
    assert lines[-1]["reason"] == "run SUCCEEDED (tick)"


def test_status_reports_state_counts_and_watermark(orch, runner, clock, ingest):
    ingest(1, clock.now, D25, D26)
    orch.tick()
    status = orch.status()
    assert status["state"]["status"] == "running"
    assert status["dates"] == {"running": 2}
    assert status["watermark"] == clock.now.isoformat()


class FlakySns:
    """Refuses the first publish, like an SNS outage, then works."""

    def __init__(self):
        self.sent = []
        self.calls = 0

    def publish(self, subject, message):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("SNS is down")
        self.sent.append(message)


def test_alert_survives_a_failed_publish(make_orch, store, runner, clock, ingest):
    orch = make_orch(max_attempts=1)
    orch.notifier = sns = FlakySns()
    ingest(1, clock.now, D26)
    orch.tick()
    runner.finish("jr_1", "FAILED", "boom")
    assert orch.tick()["action"] == "failed"
    assert sns.sent == []
    assert store.get_job_state(JOB).pending_alert["run_ids"] == ["jr_1"]
    assert orch.tick()["action"] == "idle"  # a fresh alert is left to its writer for a while
    assert sns.sent == []
    clock.advance(901)  # older than the claim TTL: the writer is gone, a tick sends it
    orch.tick()
    orch.tick()
    assert [m["run_ids"] for m in sns.sent] == [["jr_1"]]
    assert store.get_job_state(JOB).pending_alert is None
