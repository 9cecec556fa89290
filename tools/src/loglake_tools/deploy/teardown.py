"""``loglake destroy``: stop the jobs, delete the stack, optionally the lake."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from loglake_tools.deploy.errors import DeployError
from loglake_tools.deploy.stack import describe_stack, failed_events, wait_until

if TYPE_CHECKING:
    from boto3 import Session

    from loglake_tools.deploy.config import DestroyConfig


def stop_job_runs(glue: Any, jobs: Iterable[str]) -> None:
    """Stop the active runs of ``jobs`` (best effort: a missing job is fine)."""
    from botocore.exceptions import ClientError

    for job in jobs:
        try:
            runs = glue.get_job_runs(JobName=job, MaxResults=50).get("JobRuns", [])
            active = [
                r["Id"] for r in runs if r.get("JobRunState") in ("STARTING", "RUNNING", "WAITING")
            ]
            if active:
                glue.batch_stop_job_run(JobName=job, JobRunIds=active)
                click.echo(f"stopped {len(active)} run(s) of {job}")
        except ClientError as exc:
            click.echo(f"note: {job}: {exc.response.get('Error', {}).get('Code', exc)}")


def delete_objects(s3: Any, bucket: str, prefix: str = "") -> int:
    """Delete every object (and object version) under ``prefix``; return how many."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
        ]
        for start in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )
        deleted += len(keys)
    return deleted


def destroy_stack(session: Session, cfg: DestroyConfig) -> None:
    """Delete the stack; with ``delete_data`` also the lake (bucket or prefix)."""
    cfn = session.client("cloudformation", endpoint_url=cfg.endpoint_url)
    stack = describe_stack(cfn, cfg.stack_name)
    if stack is None:
        raise DeployError(f"no stack named {cfg.stack_name} in region {session.region_name}")
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    bucket, prefix = params.get("LakeBucketName", ""), params.get("LakePrefix", "")
    owned = params.get("CreateLakeBucket") == "true"
    stop_job_runs(
        session.client("glue", endpoint_url=cfg.endpoint_url),
        [f"{cfg.stack_name}-ingest", f"{cfg.stack_name}-etl"],
    )
    started = datetime.now(UTC)
    cfn.delete_stack(StackName=cfg.stack_name)
    final: dict[str, Any] = {}

    def gone() -> bool:
        final.clear()
        final.update(describe_stack(cfn, cfg.stack_name) or {"StackStatus": "DELETE_COMPLETE"})
        return final["StackStatus"] != "DELETE_IN_PROGRESS"

    wait_until(
        gone, f"deletion of {cfg.stack_name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds
    )
    if final["StackStatus"] != "DELETE_COMPLETE":
        reasons = failed_events(cfn, cfg.stack_name, started) or ["(no failed resource event)"]
        raise DeployError(
            f"deleting {cfg.stack_name} ended {final['StackStatus']}:\n  " + "\n  ".join(reasons)
        )
    click.echo(f"stack {cfg.stack_name} deleted")
    if not bucket:
        return
    if not cfg.delete_data:
        click.echo(
            f"kept s3://{bucket}/{prefix} (lake data and artifacts); --delete-data removes it"
        )
        return
    s3 = session.client("s3", endpoint_url=cfg.endpoint_url)
    if owned:
        count = delete_objects(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
        click.echo(f"deleted bucket {bucket} ({count} objects)")
    else:
        count = delete_objects(s3, bucket, f"{prefix}/")
        click.echo(
            f"deleted {count} objects under s3://{bucket}/{prefix}/"
            " (the bucket was not the stack's, so it stays)"
        )
