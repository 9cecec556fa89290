"""CloudFormation: change sets, waiting, failure reasons; the deploy sequence."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from loglake_tools.deploy.artifacts import Artifacts, build_artifacts, upload_artifacts
from loglake_tools.deploy.config import MAX_TEMPLATE_BODY, DeployConfig, template_parameters
from loglake_tools.deploy.errors import DeployError

if TYPE_CHECKING:
    from boto3 import Session

DONE_OK: Final = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
NO_CHANGES: Final = ("didn't contain changes", "No updates are to be performed")


def aws_session(region: str | None, endpoint_url: str | None) -> tuple[Session, str]:
    """A boto3 session with a region and working credentials, or a ``DeployError`` saying why."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise DeployError(
            "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
            "or give your profile a region (aws configure)"
        )
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials found: set AWS_PROFILE (aws configure / aws sso login) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    try:
        ident = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DeployError(
            f"AWS rejected the credentials ({code}): refresh them (aws sso login, or new keys)"
        ) from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot reach AWS STS ({exc}); check --endpoint-url/network") from exc
    click.echo(f"account {ident.get('Account')} region {session.region_name} as {ident.get('Arn')}")
    return session, session.region_name


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack's description, or None if there is none."""
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def wait_until(check: Callable[[], bool], what: str, *, poll: float, timeout: float) -> None:
    """Call ``check`` every ``poll`` seconds until it is true; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DeployError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def failed_events(cfn: Any, stack: str, since: datetime) -> list[str]:
    """``Logical (Type): STATUS: reason`` of every failed resource event since ``since``."""
    lines = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
        for event in page["StackEvents"]:
            if event["Timestamp"] < since:
                return lines
            if str(event.get("ResourceStatus", "")).endswith("_FAILED"):
                lines.append(
                    f"{event['LogicalResourceId']} ({event.get('ResourceType')}): "
                    f"{event['ResourceStatus']}: {event.get('ResourceStatusReason', '(no reason)')}"
                )
    return lines


def stack_parameters(
    template_params: set[str], wanted: dict[str, str], stack: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Parameters for a change set: ours, else the stack's previous value, else the default."""
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    out: list[dict[str, Any]] = []
    for key in sorted(template_params):
        if key in wanted:
            out.append({"ParameterKey": key, "ParameterValue": wanted[key]})
        elif key in previous:
            out.append({"ParameterKey": key, "UsePreviousValue": True})
    return out


def apply_change_set(
    cfn: Any, cfg: DeployConfig, wanted: dict[str, str], template_body: str, *, label: str
) -> bool:
    """Create, print and (unless dry run) execute one change set; return whether it changed.

    Raises:
        DeployError: if the change set or the stack operation fails (with the failing
            resources' reasons from the stack events).
    """
    from botocore.exceptions import ClientError

    stack = describe_stack(cfn, cfg.stack_name)
    status = (stack or {}).get("StackStatus", "")
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {cfg.stack_name} is busy ({status}); wait for it and run again")
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(
            f"stack {cfg.stack_name} is {status} and cannot be updated; "
            f"run `loglake destroy --stack-name {cfg.stack_name}` and deploy again"
        )
    kind = "UPDATE" if stack and status != "REVIEW_IN_PROGRESS" else "CREATE"
    name = f"loglake-{label}-{datetime.now(UTC):%Y%m%d%H%M%S}"
    started = datetime.now(UTC)
    try:
        _create_change_set(cfn, cfg, name, kind, wanted, template_body, stack, label)
    except ClientError as exc:
        if any(marker in str(exc) for marker in NO_CHANGES):
            click.echo(f"[{label}] no changes")
            return False
        raise DeployError(f"creating change set {name} failed: {exc}") from exc
    described: dict[str, Any] = {}

    def ready() -> bool:
        described.update(cfn.describe_change_set(StackName=cfg.stack_name, ChangeSetName=name))
        return described.get("Status") in ("CREATE_COMPLETE", "FAILED")

    wait_until(ready, f"change set {name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(StackName=cfg.stack_name, ChangeSetName=name)
        if any(marker in reason for marker in NO_CHANGES):
            click.echo(f"[{label}] no changes")
            return False
        raise DeployError(f"change set {name} failed: {reason}")
    print_change_set(described, kind, label)
    if cfg.dry_run:
        cfn.delete_change_set(StackName=cfg.stack_name, ChangeSetName=name)
        if kind == "CREATE":
            # The CREATE change set left an empty REVIEW_IN_PROGRESS stack behind.
            cfn.delete_stack(StackName=cfg.stack_name)
        click.echo(f"[{label}] dry run: change set not executed")
        return True
    cfn.execute_change_set(StackName=cfg.stack_name, ChangeSetName=name)
    final: dict[str, Any] = {}

    def finished() -> bool:
        final.update(describe_stack(cfn, cfg.stack_name) or {})
        return not str(final.get("StackStatus", "")).endswith("_IN_PROGRESS")

    wait_until(
        finished, f"stack {cfg.stack_name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds
    )
    if final.get("StackStatus") not in DONE_OK:
        reasons = failed_events(cfn, cfg.stack_name, started) or ["(no failed resource event)"]
        raise DeployError(
            f"stack {cfg.stack_name} ended {final.get('StackStatus')}: "
            f"{final.get('StackStatusReason', '')}\n  " + "\n  ".join(reasons)
        )
    click.echo(f"[{label}] stack {cfg.stack_name}: {final['StackStatus']}")
    return True


def _create_change_set(
    cfn: Any,
    cfg: DeployConfig,
    name: str,
    kind: str,
    wanted: dict[str, str],
    template_body: str,
    stack: dict[str, Any] | None,
    label: str,
) -> None:
    cfn.create_change_set(
        StackName=cfg.stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=template_body,
        Parameters=stack_parameters(template_parameters(cfg.template), wanted, stack),
        Capabilities=["CAPABILITY_IAM"],
        Tags=[{"Key": "loglake:stack", "Value": cfg.stack_name}],
        Description=f"loglake deploy ({label})",
    )


def print_change_set(described: dict[str, Any], kind: str, label: str) -> None:
    """Print one line per resource change of a change set."""
    changes = described.get("Changes", [])
    click.echo(
        f"[{label}] change set {described.get('ChangeSetName')} ({kind}), {len(changes)} changes:"
    )
    for change in changes:
        rc = change.get("ResourceChange", {})
        replace = f" replacement={rc['Replacement']}" if rc.get("Replacement") else ""
        click.echo(
            f"  {rc.get('Action', '?'):<8} {rc.get('LogicalResourceId', '?'):<28} "
            f"{rc.get('ResourceType', '?')}{replace}"
        )


def bucket_state(s3: Any, bucket: str) -> str:
    """``mine`` (exists, we can use it), ``missing``, or a ``DeployError`` if someone else's."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("403", "AccessDenied"):
            raise DeployError(
                f"bucket {bucket} exists but belongs to another account (or you may not list it);"
                " choose another --bucket"
            ) from exc
        raise
    return "mine"


def deploy_stack(
    session: Session, cfg: DeployConfig, build: Callable[[Path], Artifacts] = build_artifacts
) -> dict[str, str]:
    """Deploy (or update) the stack; return its outputs (empty for a dry run)."""
    cfn = session.client("cloudformation", endpoint_url=cfg.endpoint_url)
    s3 = session.client("s3", endpoint_url=cfg.endpoint_url)
    body = cfg.template.read_text(encoding="utf-8")
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise DeployError(f"template {cfg.template} is over {MAX_TEMPLATE_BODY} bytes")
    stack = describe_stack(cfn, cfg.stack_name)
    if stack and stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
        stack = None  # an empty stack left by a change set that never ran
    previous = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])
    }
    if previous.get("LakeBucketName") not in (None, cfg.bucket):
        raise DeployError(
            f"stack {cfg.stack_name} uses bucket {previous['LakeBucketName']}, not {cfg.bucket};"
            " a stack keeps its lake bucket (deploy another stack for another bucket)"
        )
    wanted = {
        **cfg.params,
        "LakeBucketName": cfg.bucket,
        "LakePrefix": cfg.prefix,
        "KafkaBootstrapServers": cfg.kafka_bootstrap,
        "KafkaTopic": cfg.kafka_topic,
    }
    exists = bucket_state(s3, cfg.bucket) == "mine"
    if stack and not exists:
        raise DeployError(
            f"bucket {cfg.bucket} of stack {cfg.stack_name} no longer exists; create it again "
            f"(aws s3 mb s3://{cfg.bucket}) or run `loglake destroy --stack-name "
            f"{cfg.stack_name}` and deploy again"
        )
    if "CreateLakeBucket" in previous:
        wanted["CreateLakeBucket"] = previous["CreateLakeBucket"]
    else:
        wanted["CreateLakeBucket"] = "false" if exists else "true"
        if exists:
            click.echo(
                f"bucket {cfg.bucket} exists: the stack uses it as it is (no encryption, public "
                "access block, TLS policy or lifecycle managed by the stack)"
            )
    if not exists and not cfg.dry_run:
        click.echo(f"phase 1: bootstrap stack {cfg.stack_name} with bucket {cfg.bucket}")
        apply_change_set(cfn, cfg, {**wanted, "ArtifactsPrefix": ""}, body, label="bootstrap")
    with tempfile.TemporaryDirectory(prefix="loglake-deploy-") as tmp:
        click.echo("building artifacts")
        artifacts = build(Path(tmp))
        if cfg.dry_run and not exists:
            click.echo(f"dry run: bucket {cfg.bucket} does not exist yet; nothing uploaded")
        wanted.update(upload_artifacts(s3, cfg, artifacts))
        apply_change_set(cfn, cfg, wanted, body, label="pipeline")
    if cfg.dry_run:
        return {}
    if cfg.start_ingest:
        glue = session.client("glue", endpoint_url=cfg.endpoint_url)
        start_ingest(glue, f"{cfg.stack_name}-ingest")
    return stack_outputs(cfn, cfg.stack_name)


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """The stack's outputs as a dict."""
    stack = describe_stack(cfn, name) or {}
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def start_ingest(glue: Any, job: str) -> None:
    """Start the streaming ingest job unless a run is already active."""
    from botocore.exceptions import ClientError

    try:
        runs = glue.get_job_runs(JobName=job, MaxResults=10).get("JobRuns", [])
        active = [r for r in runs if r.get("JobRunState") in ("STARTING", "RUNNING", "WAITING")]
        if active:
            click.echo(
                f"ingest job {job} already running ({active[0]['Id']});"
                " restart it to pick up new code"
            )
            return
        run = glue.start_job_run(JobName=job)
        click.echo(f"started ingest job {job}: run {run['JobRunId']}")
    except ClientError as exc:
        click.echo(f"warning: could not start ingest job {job}: {exc}", err=True)
