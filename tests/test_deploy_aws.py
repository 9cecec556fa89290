"""``loglake deploy`` / ``destroy`` against moto's CloudFormation (in-process, no network).

moto creates the bucket, control table, topic, roles, log group, Lambda function, its
permissions and the EventBridge rules; it skips the Glue jobs, connection and catalog, the
bucket and topic policies, the e-mail subscription and the alarms, and ignores the bucket's
public access block and lifecycle and the table's point-in-time recovery (test_deploy_template.py
checks those on the template). moto also reports no stack Outputs after a change set runs.
Artifacts are stand-ins (a tiny zip and placeholder wheels) so the tests need no build.
"""

from __future__ import annotations

import ast
import json
import logging
import warnings
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from loglake_tools import deploy as dep
from loglake_tools.cli import cli
from loglake_tools.deploy import artifacts as deploy_artifacts

pytestmark = pytest.mark.unit

STACK = "ll-test"
BUCKET = "ll-test-lake"
GLUE_FILES = (
    "loglake_core-0.1.0-py3-none-any.whl",
    "loglake_glue_etl-0.1.0-py3-none-any.whl",
    "loglake_ingest-0.1.0-py3-none-any.whl",
    "entrypoint.py",
    "ingest_entry.py",
)


def stand_in_build(tag: str = "v1", extra: tuple[str, ...] = ()) -> Any:
    def build(out: Path) -> dep.Artifacts:
        glue = out / "glue"
        glue.mkdir(parents=True, exist_ok=True)
        files = []
        for name in (*GLUE_FILES, *extra):
            (glue / name).write_text(f"{name} {tag}\n")
            files.append(glue / name)
        zip_path = out / dep.LAMBDA_ZIP_NAME
        with zipfile.ZipFile(zip_path, "w") as zf:
            zf.writestr(
                "loglake_orchestrator/handler.py", f"def handler(e, c):\n    return {tag!r}\n"
            )
        return dep.Artifacts(glue_files=tuple(files), lambda_zip=zip_path)

    return build


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    from moto import mock_aws

    logging.getLogger("moto").setLevel(logging.ERROR)
    with warnings.catch_warnings(), mock_aws():
        warnings.simplefilter("ignore", UserWarning)  # "not supported by moto's CloudFormation"
        yield boto3.Session(region_name="us-east-1")


def config(**kw: Any) -> dep.DeployConfig:
    base: dict[str, Any] = {
        "stack_name": STACK,
        "bucket": BUCKET,
        "kafka_bootstrap": "b-1.msk.example:9092,b-2.msk.example:9092",
        "poll_seconds": 0,
        "timeout_seconds": 30,
        "start_ingest": False,
    }
    return dep.DeployConfig(**{**base, **kw})


def stack_params(session: boto3.Session) -> dict[str, str]:
    stack = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_two_phase_deploy_then_no_op_then_new_code(
    session: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    dep.deploy_stack(session, config(), build=stand_in_build("v1"))
    assert "phase 1: bootstrap" in capsys.readouterr().out
    s3 = session.client("s3")
    # bucket (made in the bootstrap phase); moto drops its public access block (see template test)
    enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # artifacts, content-addressed
    params = stack_params(session)
    prefix = params["ArtifactsPrefix"]
    assert prefix.startswith("lake/_artifacts/")
    assert len(prefix.rsplit("/", 1)[1]) == 12
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    assert keys == {f"{prefix}/glue/{n}" for n in GLUE_FILES} | {
        f"{prefix}/lambda/orchestrator-lambda.zip"
    }
    assert params["CreateLakeBucket"] == "true"
    assert params["EtlPythonModules"] == ",".join(
        f"s3://{BUCKET}/{prefix}/glue/{n}" for n in GLUE_FILES[:2]
    )
    assert params["IngestPythonModules"].split(",") == [
        f"s3://{BUCKET}/{prefix}/glue/{GLUE_FILES[0]}",
        f"s3://{BUCKET}/{prefix}/glue/{GLUE_FILES[2]}",
        "dynamodb-json>=1.4.2",
    ]
    assert params["IngestExtraJars"] == ""  # this build has no accelerator jar
    # control table
    table = session.client("dynamodb").describe_table(TableName=f"{STACK}-control")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    # topic
    topics = [t["TopicArn"] for t in session.client("sns").list_topics()["Topics"]]
    assert topics == [f"arn:aws:sns:us-east-1:123456789012:{STACK}-alerts"]
    # log group with retention
    logs = session.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")
    assert [(g["logGroupName"], g["retentionInDays"]) for g in logs["logGroups"]] == [
        (f"/aws/lambda/{STACK}-orchestrator", 30)
    ]
    # the same build again changes nothing; new code moves the artifacts prefix
    dep.deploy_stack(session, config(), build=stand_in_build("v1"))
    out = capsys.readouterr().out
    assert "bootstrap" not in out
    assert "[pipeline] no changes" in out
    assert stack_params(session)["ArtifactsPrefix"] == prefix
    # a dry run of new code prints the update and leaves the stack as it was
    dep.deploy_stack(session, config(dry_run=True), build=stand_in_build("v2"))
    out = capsys.readouterr().out
    assert "(UPDATE)" in out
    assert "dry run: change set not executed" in out
    assert stack_params(session)["ArtifactsPrefix"] == prefix
    dep.deploy_stack(session, config(), build=stand_in_build("v2"))
    assert stack_params(session)["ArtifactsPrefix"] not in ("", prefix)


def test_existing_bucket_single_phase_and_lambda_configuration(session: boto3.Session) -> None:
    # One CREATE: moto's stack *update* does not create resources whose condition turns true
    # unless they reference a changed parameter, so the full configuration is checked here.
    session.client("s3").create_bucket(Bucket=BUCKET)
    from moto.moto_api import state_manager

    glue = session.client("glue")
    # moto's CloudFormation does not create Glue jobs; make the one the stack would, and keep
    # its runs RUNNING (moto runs them straight to SUCCEEDED otherwise).
    state_manager.set_transition(
        model_name="glue::job_run", transition={"progression": "manual", "times": 1000}
    )
    glue.create_job(Name=f"{STACK}-ingest", Role="r", Command={"Name": "gluestreaming"})
    dep.deploy_stack(session, config(start_ingest=True), build=stand_in_build())
    assert stack_params(session)["CreateLakeBucket"] == "false"
    res = session.client("cloudformation").describe_stack_resources(StackName=STACK)
    types = {r.get("ResourceType") for r in res["StackResources"]}
    assert "AWS::S3::Bucket" not in types
    assert len(glue.get_job_runs(JobName=f"{STACK}-ingest")["JobRuns"]) == 1
    # a second deploy does not start a second streaming run
    dep.deploy_stack(session, config(start_ingest=True), build=stand_in_build())
    runs = glue.get_job_runs(JobName=f"{STACK}-ingest")["JobRuns"]
    state_manager.unset_transition(model_name="glue::job_run")
    assert [r["JobRunState"] for r in runs] == ["STARTING"]
    lam = session.client("lambda")
    fn = lam.get_function(FunctionName=f"{STACK}-orchestrator")
    conf = fn["Configuration"]
    assert conf["Runtime"] == "python3.13"
    assert conf["Handler"] == "loglake_orchestrator.handler.handler"
    env = {k: str(v) for k, v in conf["Environment"]["Variables"].items()}
    assert env == {
        "LOGLAKE_CONTROL_TABLE": f"{STACK}-control",
        "LOGLAKE_GLUE_JOB_NAME": f"{STACK}-etl",
        "LOGLAKE_SNS_TOPIC_ARN": f"arn:aws:sns:us-east-1:123456789012:{STACK}-alerts",
        "LOGLAKE_LAKE_URI": f"s3://{BUCKET}/lake",
        "LOGLAKE_JOB_RUNNER": "glue",
        "LOGLAKE_MAX_ATTEMPTS": "3",
        "LOGLAKE_BACKOFF_BASE_SECONDS": "60",
        "LOGLAKE_BACKOFF_CAP_SECONDS": "3600",
        "LOGLAKE_MAX_DATES_PER_RUN": "7",
        "LOGLAKE_ALLOWED_LATENESS_SECONDS": "3600",
        "LOGLAKE_STREAM_NAME": "ingest",
    }
    assert (
        lam.get_function_concurrency(FunctionName=f"{STACK}-orchestrator")[
            "ReservedConcurrentExecutions"
        ]
        == 1
    )
    table_arn = session.client("dynamodb").describe_table(TableName=f"{STACK}-control")["Table"][
        "TableArn"
    ]
    role = conf["Role"].rsplit("/", 1)[1]
    iam = session.client("iam")
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]
    # moto keeps a CloudFormation-made inline policy as the repr of a dict
    doc = ast.literal_eval(doc) if isinstance(doc, str) else doc
    resources = {st["Sid"]: st["Resource"] for st in doc["Statement"]}
    assert resources == {
        "OwnLogGroup": "arn:aws:logs:us-east-1:123456789012:log-group:"
        f"/aws/lambda/{STACK}-orchestrator:*",
        "EtlJobRuns": f"arn:aws:glue:us-east-1:123456789012:job/{STACK}-etl",
        "ControlTable": table_arn,
        "Alerts": f"arn:aws:sns:us-east-1:123456789012:{STACK}-alerts",
    }
    # EventBridge: the schedule and this job's state changes invoke the function
    events = session.client("events")
    rules = {r["Name"].split("-")[2]: r for r in events.list_rules()["Rules"]}
    assert rules["ScheduleRule"]["ScheduleExpression"] == "rate(5 minutes)"
    pattern = json.loads(rules["EtlStateRule"]["EventPattern"])
    assert pattern["detail"] == {"jobName": [f"{STACK}-etl"]}
    for name in ("ScheduleRule", "EtlStateRule"):
        targets = events.list_targets_by_rule(Rule=rules[name]["Name"])["Targets"]
        assert [t["Arn"] for t in targets] == [conf["FunctionArn"]]
    failure = json.loads(rules["GlueFailureRule"]["EventPattern"])
    assert failure["detail"]["jobName"] == [f"{STACK}-ingest", f"{STACK}-etl"]
    policy = json.loads(lam.get_policy(FunctionName=f"{STACK}-orchestrator")["Policy"])
    sources = {st["Condition"]["ArnLike"]["AWS:SourceArn"] for st in policy["Statement"]}
    assert sources == {rules["ScheduleRule"]["Arn"], rules["EtlStateRule"]["Arn"]}


def test_destroy_keeps_the_bucket_unless_delete_data(session: boto3.Session) -> None:
    dep.deploy_stack(session, config(), build=stand_in_build())
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key="lake/raw/events/part-0.parquet", Body=b"x")
    with pytest.raises(dep.DeployError, match=f"uses bucket {BUCKET}, not other-bucket"):
        dep.deploy_stack(session, config(bucket="other-bucket"), build=stand_in_build())
    dep.destroy_stack(session, dep.DestroyConfig(STACK, poll_seconds=0))
    assert dep.describe_stack(session.client("cloudformation"), STACK) is None
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    # moto leaves the stack's log group behind on delete (CloudFormation deletes it)
    session.client("logs").delete_log_group(logGroupName=f"/aws/lambda/{STACK}-orchestrator")
    # a second deploy finds the kept bucket and uses it as is
    dep.deploy_stack(session, config(), build=stand_in_build())
    assert stack_params(session)["CreateLakeBucket"] == "false"
    dep.destroy_stack(session, dep.DestroyConfig(STACK, delete_data=True, poll_seconds=0))
    # not the stack's bucket any more: only the lake prefix goes
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="lake/")["KeyCount"] == 0
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]


def test_destroy_delete_data_removes_the_stack_bucket(session: boto3.Session) -> None:
    dep.deploy_stack(session, config(), build=stand_in_build())
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key="lake/raw/events/part-0.parquet", Body=b"x")
    dep.destroy_stack(session, dep.DestroyConfig(STACK, delete_data=True, poll_seconds=0))
    assert s3.list_buckets()["Buckets"] == []


def test_a_stack_whose_bucket_is_gone_is_explained(session: boto3.Session) -> None:
    session.client("s3").create_bucket(Bucket=BUCKET)
    dep.deploy_stack(session, config(), build=stand_in_build())
    dep.delete_objects(session.client("s3"), BUCKET)
    session.client("s3").delete_bucket(Bucket=BUCKET)
    with pytest.raises(dep.DeployError, match=f"bucket {BUCKET} of stack {STACK} no longer"):
        dep.deploy_stack(session, config(), build=stand_in_build())


class FailingCfn:
    """A CloudFormation client whose stack update rolls back with one failed resource."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.statuses = iter(["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"])
        self.stack = {"StackName": STACK, "StackStatus": "UPDATE_COMPLETE", "Parameters": []}

    def describe_stacks(self, **kw: Any) -> dict[str, Any]:
        return {"Stacks": [self.stack]}

    def create_change_set(self, **kw: Any) -> dict[str, Any]:
        self.kind = kw["ChangeSetType"]
        return {}

    def describe_change_set(self, **kw: Any) -> dict[str, Any]:
        return {"Status": "CREATE_COMPLETE", "ChangeSetName": kw["ChangeSetName"], "Changes": []}

    def execute_change_set(self, **kw: Any) -> None:
        self.stack = {**self.stack, "StackStatus": "UPDATE_IN_PROGRESS"}

    def get_paginator(self, name: str) -> Any:
        later = self.now + timedelta(hours=1)
        events = [
            {
                "Timestamp": later,
                "LogicalResourceId": STACK,
                "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE",
            },
            {
                "Timestamp": later,
                "LogicalResourceId": "OrchestratorFunction",
                "ResourceType": "AWS::Lambda::Function",
                "ResourceStatus": "UPDATE_FAILED",
                "ResourceStatusReason": "Specified ReservedConcurrentExecutions decreases below 10",
            },
            {"Timestamp": self.now - timedelta(days=1), "ResourceStatus": "CREATE_FAILED"},
        ]

        class Pages:
            def paginate(self, **kw: Any) -> list[dict[str, Any]]:
                return [{"StackEvents": events}]

        return Pages()


def test_failed_update_shows_the_failing_resource(tmp_path: Path) -> None:
    cfn = FailingCfn()

    def describe(**kw: Any) -> dict[str, Any]:
        status = next(cfn.statuses, "UPDATE_ROLLBACK_COMPLETE")
        if cfn.stack["StackStatus"] != "UPDATE_COMPLETE":
            cfn.stack = {**cfn.stack, "StackStatus": status}
        return {"Stacks": [cfn.stack]}

    cfn.describe_stacks = describe  # type: ignore[method-assign]
    with pytest.raises(dep.DeployError) as err:
        dep.apply_change_set(cfn, config(), {}, "{}", label="pipeline")
    message = str(err.value)
    assert "ended UPDATE_ROLLBACK_COMPLETE" in message
    assert "OrchestratorFunction (AWS::Lambda::Function): UPDATE_FAILED: Specified" in message
    assert message.count("_FAILED") == 1  # the older event is not reported
    assert cfn.kind == "UPDATE"


# ---------------------------------------------------------------- CLI errors


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


DEPLOY = ["deploy", "--stack-name", STACK, "--bucket", BUCKET, "--kafka-bootstrap", "b:9092"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "Bad_Bucket"], "--bucket 'Bad_Bucket' is not valid"),
        (["--stack-name", "9lives"], "--stack-name '9lives' is not valid"),
        (["--kafka-bootstrap", "broker"], "--kafka-bootstrap 'broker' is not valid; use host:port"),
        (["--param", "Nope=1"], "--param Nope=… is not a template parameter; known: "),
        (["--param", "ArtifactsPrefix=x"], "--param ArtifactsPrefix=… is set by deploy"),
        (["--param", "LakePrefix=x"], "use --prefix"),
        (["--param", "broken"], "--param 'broken' is not KEY=VALUE"),
        (["--param", "KafkaSubnetId=subnet-1"], "needs all of --param KafkaSubnetId"),
    ],
)
def test_bad_options_are_named(args: list[str], message: str) -> None:
    result = run(*DEPLOY, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def _no_aws_env(tmp_path: Path) -> dict[str, str]:
    missing = str(tmp_path / "none")
    return {
        "AWS_CONFIG_FILE": missing,
        "AWS_SHARED_CREDENTIALS_FILE": missing,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": "",
        "AWS_REGION": "",
        "AWS_DEFAULT_REGION": "",
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_SECURITY_TOKEN": "",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "",
    }


def test_missing_region_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _no_aws_env(tmp_path).items():
        monkeypatch.setenv(key, value) if value else monkeypatch.delenv(key, raising=False)
    result = run(*DEPLOY)
    assert result.exit_code == 1
    assert "no AWS region: pass --region, set AWS_REGION" in result.output


def test_missing_credentials_are_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _no_aws_env(tmp_path).items():
        monkeypatch.setenv(key, value) if value else monkeypatch.delenv(key, raising=False)
    result = run(*DEPLOY, "--region", "eu-west-1")
    assert result.exit_code == 1
    assert "no AWS credentials found" in result.output
    result = run("destroy", "--stack-name", STACK, "--region", "eu-west-1")
    assert "no AWS credentials found" in result.output


def test_cli_dry_run_and_destroy(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy_artifacts, "build_artifacts", stand_in_build())
    result = run(*DEPLOY, "--dry-run", "--param", "EtlNumberOfWorkers=4")
    assert result.exit_code == 0, result.output
    assert "account 123456789012 region us-east-1" in result.output
    assert "[pipeline] change set loglake-pipeline-" in result.output
    assert "Add      EtlJob" in result.output
    assert "dry run: change set not executed" in result.output
    # nothing is left behind: no bucket, no stack
    assert session.client("s3").list_buckets()["Buckets"] == []
    stacks = session.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)
    result = run("destroy", "--stack-name", STACK)
    assert result.exit_code == 1
    assert f"no stack named {STACK} in region us-east-1" in result.output


# ---------------------------------------------------------------- the real build


def test_the_accelerator_jar_goes_first_in_the_ingest_jobs_extra_jars(tmp_path: Path) -> None:
    build = stand_in_build("v1", extra=("loglake-accel-0123456789ab.jar",))
    artifacts = build(tmp_path / "with-jar")
    own = "s3://other/jars/own.jar"
    cfg = config(params={"IngestExtraJars": f"{own}, "})
    params = deploy_artifacts.artifact_parameters(cfg, artifacts)
    base = f"s3://{BUCKET}/{params['ArtifactsPrefix']}/glue"
    assert params["IngestExtraJars"] == f"{base}/loglake-accel-0123456789ab.jar,{own}"
    # the jar is not a Python module of either job
    assert ".jar" not in params["IngestPythonModules"] + params["EtlPythonModules"]
    no_jar = stand_in_build("v1")(tmp_path / "without")
    assert deploy_artifacts.artifact_parameters(config(), no_jar)["IngestExtraJars"] == ""


def test_build_artifacts_uses_the_real_builders(tmp_path: Path) -> None:
    from loglake_core.spark import accel

    artifacts = dep.build_artifacts(tmp_path)
    names = sorted(p.name for p in artifacts.glue_files)
    # a JDK is part of the project's prerequisites, so the accelerator jar is built and shipped
    jar = f"loglake-accel-{accel.source_digest()}.jar"
    assert names == sorted((*GLUE_FILES, jar))
    with zipfile.ZipFile(tmp_path / "glue" / jar) as zf:
        assert accel.CLASS_NAME.replace(".", "/") + ".class" in zf.namelist()
    with zipfile.ZipFile(artifacts.lambda_zip) as zf:
        members = set(zf.namelist())
    assert "loglake_orchestrator/handler.py" in members
    assert not any(m.startswith("pyspark/") for m in members)
    assert artifacts.version == dep.Artifacts(artifacts.glue_files, artifacts.lambda_zip).version


def test_ingest_glue_script_keeps_only_ingest_options() -> None:
    calls: list[list[str]] = []
    namespace: dict[str, Any] = {"__name__": "__main__"}
    script = dep.INGEST_GLUE_SCRIPT.replace("from loglake_ingest.cli import main", "")
    namespace["main"] = lambda argv: calls.append(argv) or 0
    glue_argv = [
        "ingest_entry.py",
        "--JOB_ID", "j_1",
        "--topic", "events",
        "--enable-metrics", "true",
        "--conf", "spark.a=b --conf spark.c=d",
        "--lake=s3://b/lake",
        "--continuous-log-flag",
        "--trigger-seconds", "60",
        "--job", "st-etl",
        "--JOB_RUN_ID", "jr_1",
    ]  # fmt: skip
    import sys

    saved = sys.argv
    sys.argv = glue_argv
    try:
        with pytest.raises(SystemExit) as done:
            exec(compile(script, "ingest_entry.py", "exec"), namespace)
    finally:
        sys.argv = saved
    assert done.value.code == 0
    assert calls == [
        [
            "run",
            "--topic",
            "events",
            "--lake=s3://b/lake",
            "--trigger-seconds",
            "60",
            "--job",
            "st-etl",
        ]
    ]
    from loglake_ingest.cli import run_parser

    # every option the stack passes is one the ingest CLI knows
    known = {a for action in run_parser()._actions for a in action.option_strings}
    assert set(dep.INGEST_OPTIONS) <= known
