"""The Lambda handler end to end on moto: DynamoDB, Glue, SNS with an SQS subscription."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from loglake_core.control import DateStatus, JobStatus
from loglake_core.control_store import ControlStore
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.handler import build_orchestrator, handler, run_event

pytestmark = pytest.mark.unit

TABLE = "loglake-control-test"
D26 = date(2026, 11, 26)


@pytest.fixture
def topic(aws):
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    arn = sns.create_topic(Name="loglake-alerts")["TopicArn"]
    url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)

    def messages():
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]

    return arn, messages


@pytest.fixture
def env(topic, store):
    arn, _ = topic
    boto3.client("glue", region_name="us-east-1").create_job(
        Name="loglake-etl",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://bucket/_artifacts/entrypoint.py"},
    )
    now = datetime.now(UTC)
    store.update_stream_progress(
        "ingest", batch_id=1, watermark=now, dates={now.date() - timedelta(days=1)}, counters={}
    )
    return {
        "LOGLAKE_CONTROL_TABLE": TABLE,
        "LOGLAKE_LAKE_URI": "s3://bucket/lake",
        "LOGLAKE_SNS_TOPIC_ARN": arn,
        "LOGLAKE_JOB_RUNNER": "glue",
        "LOGLAKE_ALLOWED_LATENESS_SECONDS": "0",
    }


def test_tick_then_glue_success_event(env, store, load_event, lambda_context):
    result = handler(load_event("scheduled_tick.json"), lambda_context, env=env)
    assert result["ok"]
    assert result["action"] == "started"
    run_id = result["run_id"]
    event = load_event("glue_state_succeeded.json")
    event["detail"]["jobRunId"] = run_id
    assert handler(event, lambda_context, env=env)["action"] == "succeeded"
    assert handler(event, lambda_context, env=env)["action"] == "ignored"  # duplicate
    state = store.get_job_state("loglake-etl")
    assert state.status == JobStatus.IDLE
    assert state.processed_through == datetime.now(UTC).date() - timedelta(days=1)
    status = handler(load_event("manual_status.json"), lambda_context, env=env)
    assert status["ok"]
    assert status["dates"] == {"processed": 1}


def test_bad_events_give_a_clear_error_and_change_nothing(env, store, lambda_context):
    before = store.get_job_state("loglake-etl")
    for event, fragment in [
        ({"action": "explode"}, "unknown event"),
        ([1, 2], "must be a JSON object"),
        ({"action": "backfill", "start": "2026-13-01"}, "'start'='2026-13-01' is not a date"),
        ({"source": "aws.glue", "detail-type": "Glue Job State Change", "detail": {}}, "jobName"),
    ]:
        result = handler(event, lambda_context, env=env)
        assert result["ok"] is False
        assert fragment in result["error"]
    assert store.get_job_state("loglake-etl") == before


def test_missing_env_var_names_it(lambda_context):
    result = handler({"action": "status"}, lambda_context, env={"LOGLAKE_JOB_RUNNER": "glue"})
    assert result["ok"] is False
    assert "LOGLAKE_LAKE_URI is not set" in result["error"]
    result = handler(
        {"action": "status"},
        lambda_context,
        env={"LOGLAKE_LAKE_URI": "s3://b/l", "LOGLAKE_JOB_RUNNER": "emr"},
    )
    assert "LOGLAKE_JOB_RUNNER='emr'" in result["error"]
    assert "glue, local" in result["error"]


def test_final_failure_publishes_exactly_one_sns_message(topic, store, load_event):
    arn, messages = topic
    config = OrchestratorConfig(
        lake_uri="s3://bucket/lake", control_table=TABLE, sns_topic_arn=arn, max_attempts=2,
        backoff_base_seconds=0, backoff_cap_seconds=0, allowed_lateness_seconds=0,
    )  # fmt: skip
    store.update_stream_progress(
        "ingest", batch_id=1, watermark=datetime.now(UTC), dates={D26}, counters={}
    )
    glue = boto3.client("glue", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    orch = build_orchestrator(config, dynamodb=store.client, glue=glue)
    args = {
        "JobName": "loglake-etl",
        "Arguments": {"--dates": "2026-11-26", "--lake": "s3://bucket/lake"},
    }
    with Stubber(glue) as stub:
        stub.add_client_error("start_job_run", service_error_code="ThrottlingException")
        stub.add_response("start_job_run", {"JobRunId": "jr_a"}, args)
        stub.add_response("start_job_run", {"JobRunId": "jr_b"}, args)
        assert run_event(orch, load_event("scheduled_tick.json"))["action"] == "start_deferred"
        assert run_event(orch, load_event("scheduled_tick.json"))["run_id"] == "jr_a"
        failed = load_event("glue_state_failed.json")
        failed["detail"]["jobRunId"] = "jr_a"
        assert run_event(orch, failed)["action"] == "retry_scheduled"
        assert run_event(orch, load_event("scheduled_tick.json"))["run_id"] == "jr_b"
        timeout = load_event("glue_state_timeout.json")
        timeout["detail"]["jobRunId"] = "jr_b"
        assert run_event(orch, timeout)["action"] == "failed"
        assert run_event(orch, timeout)["action"] == "ignored"
        assert run_event(orch, load_event("scheduled_tick.json"))["action"] == "idle"
        stub.assert_no_pending_responses()
    [message] = messages()
    assert message == {
        "job": "loglake-etl",
        "dates": ["2026-11-26"],
        "run_ids": ["jr_a", "jr_b"],
        "attempts": 2,
        "last_error": "Job run timed out",
        "failed_at": message["failed_at"],
    }
    assert messages() == []
    assert store.get_date_status("loglake-etl", D26) == DateStatus.FAILED


def test_manual_backfill_event(env, store, load_event, lambda_context):
    result = handler(load_event("manual_backfill.json"), lambda_context, env=env)
    assert result == {
        "ok": True, "action": "backfill", "requested": 3,
        "dirtied": ["2026-11-20", "2026-11-21", "2026-11-22"],
    }  # fmt: skip
    assert store.get_date("loglake-etl", date(2026, 11, 21)).reason == "reprocess after fix"


def test_store_is_shared_state_not_the_container(env, store, lambda_context, load_event):
    """Two warm containers (two orchestrators) see one state through the table."""
    first = handler(load_event("scheduled_tick.json"), lambda_context, env=env)
    config = OrchestratorConfig.from_env(env)
    other = build_orchestrator(config, dynamodb=ControlStore(TABLE).client)
    assert run_event(other, load_event("scheduled_tick.json"))["run_id"] == first["run_id"]


def test_missing_control_table_is_a_clear_error(env, lambda_context):
    result = handler(
        {"action": "status"}, lambda_context, env={**env, "LOGLAKE_CONTROL_TABLE": "nope"}
    )
    assert result == {
        "ok": False,
        "error": "control table 'nope' does not exist at this endpoint; deploy it or set "
        "LOGLAKE_CONTROL_TABLE to its name",
    }
