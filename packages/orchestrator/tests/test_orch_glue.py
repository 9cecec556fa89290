"""The Glue runner against moto's Glue API, and failures produced with botocore's Stubber."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from loglake_orchestrator.errors import RetryableRunnerError, RunnerError
from loglake_orchestrator.runners.base import RunState
from loglake_orchestrator.runners.glue import GlueJobRunner

pytestmark = pytest.mark.unit

DATES = [date(2026, 11, 25), date(2026, 11, 26)]


def glue_client():
    return boto3.client("glue", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def glue(aws):
    client = glue_client()
    client.create_job(
        Name="loglake-etl",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://bucket/_artifacts/entrypoint.py"},
        ExecutionProperty={"MaxConcurrentRuns": 1},
    )
    return client


def test_start_passes_dates_and_lake_and_tracks_the_run(glue):
    runner = GlueJobRunner("loglake-etl", client=glue)
    run_id = runner.start(DATES, lake_uri="s3://bucket/lake")
    run = glue.get_job_run(JobName="loglake-etl", RunId=run_id)["JobRun"]
    assert run["Arguments"]["--dates"] == "2026-11-25,2026-11-26"
    assert run["Arguments"]["--lake"] == "s3://bucket/lake"
    states = [runner.get_status(run_id).state for _ in range(3)]
    assert states[-1] == RunState.SUCCEEDED  # moto runs jobs straight through


@pytest.fixture
def held_runs():
    """Hold moto's Glue runs in their first state (STARTING) instead of finishing at once."""
    from moto.moto_api import state_manager

    state_manager.set_transition("glue::job_run", {"progression": "manual", "times": 1000})
    yield
    state_manager.unset_transition("glue::job_run")


def test_concurrent_runs_exceeded_is_retryable(glue, held_runs):
    runner = GlueJobRunner("loglake-etl", client=glue)
    run_id = runner.start(DATES, lake_uri="s3://bucket/lake")
    assert runner.get_status(run_id).state == RunState.RUNNING
    with pytest.raises(RetryableRunnerError, match="ConcurrentRunsExceededException"):
        runner.start(DATES, lake_uri="s3://bucket/lake")


def test_unknown_job_is_not_retryable(aws):
    runner = GlueJobRunner("no-such-job", client=glue_client())
    with pytest.raises(RunnerError, match="EntityNotFoundException") as info:
        runner.start(DATES, lake_uri="s3://bucket/lake")
    assert not isinstance(info.value, RetryableRunnerError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("FAILED", RunState.FAILED), ("TIMEOUT", RunState.FAILED), ("STOPPED", RunState.FAILED),
     ("ERROR", RunState.FAILED), ("RUNNING", RunState.RUNNING), ("STARTING", RunState.RUNNING),
     ("SUCCEEDED", RunState.SUCCEEDED)],
)  # fmt: skip
def test_get_status_maps_glue_states(raw, expected):
    client = glue_client()
    runner = GlueJobRunner("loglake-etl", client=client)
    with Stubber(client) as stub:
        stub.add_response(
            "get_job_run",
            {"JobRun": {"Id": "jr_1", "JobRunState": raw, "ErrorMessage": "out of memory"}},
            {"JobName": "loglake-etl", "RunId": "jr_1"},
        )
        status = runner.get_status("jr_1")
        stub.assert_no_pending_responses()
    assert (status.state, status.raw_state, status.error_message) == (
        expected,
        raw,
        "out of memory",
    )


@pytest.mark.parametrize("code", ["ThrottlingException", "ConcurrentRunsExceededException"])
def test_throttling_on_start_and_get_is_retryable(code):
    client = glue_client()
    runner = GlueJobRunner("loglake-etl", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("start_job_run", service_error_code=code, service_message="slow down")
        stub.add_client_error("get_job_run", service_error_code=code, service_message="slow down")
        with pytest.raises(RetryableRunnerError, match=code):
            runner.start(DATES, lake_uri="s3://bucket/lake")
        with pytest.raises(RetryableRunnerError):
            runner.get_status("jr_1")
        stub.assert_no_pending_responses()


def test_stop_calls_batch_stop_and_swallows_errors():
    client = glue_client()
    runner = GlueJobRunner("loglake-etl", client=client)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_stop_job_run",
            {"SuccessfulSubmissions": [{"JobName": "loglake-etl", "JobRunId": "jr_1"}]},
            {"JobName": "loglake-etl", "JobRunIds": ["jr_1"]},
        )
        stub.add_client_error("batch_stop_job_run", service_error_code="InternalServiceException")
        runner.stop("jr_1")
        runner.stop("jr_1")
        stub.assert_no_pending_responses()


def test_tick_reconciles_failed_and_timed_out_runs_with_get_job_run(store, clock, notifier, ingest):
    from loglake_core.control import DateStatus
    from loglake_orchestrator.config import OrchestratorConfig
    from loglake_orchestrator.machine import Orchestrator

    config = OrchestratorConfig(
        lake_uri="s3://bucket/lake", control_table=store.table_name, job_runner="local",
        max_attempts=2, backoff_base_seconds=1, backoff_cap_seconds=2,
    )  # fmt: skip
    client = glue_client()
    orch = Orchestrator(config, store, GlueJobRunner("loglake-etl", client=client), notifier,
                        clock=clock)  # fmt: skip
    ingest(1, clock.now, date(2026, 11, 26))
    start_args = {
        "JobName": "loglake-etl",
        "Arguments": {"--dates": "2026-11-26", "--lake": "s3://bucket/lake"},
    }
    with Stubber(client) as stub:
        stub.add_response("start_job_run", {"JobRunId": "jr_a"}, start_args)
        stub.add_response("get_job_run", {"JobRun": {"Id": "jr_a", "JobRunState": "RUNNING"}})
        stub.add_response(
            "get_job_run",
            {"JobRun": {"Id": "jr_a", "JobRunState": "FAILED", "ErrorMessage": "OOM"}},
        )
        stub.add_response("start_job_run", {"JobRunId": "jr_b"}, start_args)
        stub.add_response(
            "get_job_run",
            {"JobRun": {"Id": "jr_b", "JobRunState": "TIMEOUT", "ErrorMessage": "timed out"}},
        )
        assert orch.tick()["run_id"] == "jr_a"
        assert orch.tick()["action"] == "running"
        assert orch.tick()["action"] == "retry_scheduled"
        clock.advance(5)
        assert orch.tick()["run_id"] == "jr_b"
        assert orch.tick()["action"] == "failed"
        stub.assert_no_pending_responses()
    [(_, alert)] = notifier.sent
    assert alert["run_ids"] == ["jr_a", "jr_b"]
    assert alert["last_error"] == "timed out"
    assert store.get_date_status("loglake-etl", date(2026, 11, 26)) == DateStatus.FAILED
