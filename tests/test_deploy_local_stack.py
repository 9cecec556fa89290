"""``loglake deploy --endpoint-url`` against the local stack's moto server (a real HTTP endpoint).

The same walk as a user without an AWS account would take: deploy, inspect, destroy with
data. moto's CloudFormation creates the bucket, table, topic, roles, Lambda function and
rules; Glue jobs, alarms and policies are checked on the template (test_deploy_template.py).
"""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from click.testing import CliRunner

from loglake_tools import deploy as dep
from loglake_tools.cli import cli
from loglake_tools.deploy import artifacts as deploy_artifacts

if TYPE_CHECKING:
    from loglake_tools.stack import StackState

pytestmark = pytest.mark.integration


def _stand_in_build(out: Path) -> dep.Artifacts:
    glue = out / "glue"
    glue.mkdir(parents=True, exist_ok=True)
    names = [
        "loglake_core-0.1.0-py3-none-any.whl",
        "loglake_glue_etl-0.1.0-py3-none-any.whl",
        "loglake_ingest-0.1.0-py3-none-any.whl",
        "entrypoint.py",
        "ingest_entry.py",
    ]
    for name in names:
        (glue / name).write_text(name)
    zip_path = out / dep.LAMBDA_ZIP_NAME
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("loglake_orchestrator/handler.py", "def handler(e, c):\n    return None\n")
    return dep.Artifacts(tuple(glue / n for n in names), zip_path)


def test_deploy_and_destroy_through_an_endpoint(
    local_stack: StackState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy_artifacts, "build_artifacts", _stand_in_build)
    endpoint = local_stack.aws_endpoint
    suffix = uuid.uuid4().hex[:8]
    stack, bucket = f"dl-{suffix}", f"dl-lake-{suffix}"
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, [*args, "--endpoint-url", endpoint], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    out = run(
        "deploy", "--stack-name", stack, "--bucket", bucket,
        "--kafka-bootstrap", "127.0.0.1:19092", "--no-start-ingest",
    ).output  # fmt: skip
    assert "phase 1: bootstrap" in out
    assert f"[pipeline] stack {stack}: UPDATE_COMPLETE" in out
    session = boto3.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    prefix = next(
        p["ParameterValue"]
        for p in session.client("cloudformation", endpoint_url=endpoint).describe_stacks(
            StackName=stack
        )["Stacks"][0]["Parameters"]
        if p["ParameterKey"] == "ArtifactsPrefix"
    )
    assert s3.head_object(Bucket=bucket, Key=f"{prefix}/lambda/orchestrator-lambda.zip")
    table = session.client("dynamodb", endpoint_url=endpoint).describe_table(
        TableName=f"{stack}-control"
    )
    assert table["Table"]["TableStatus"] == "ACTIVE"
    out = run("destroy", "--stack-name", stack, "--delete-data", "--yes").output
    assert f"stack {stack} deleted" in out
    assert f"deleted bucket {bucket}" in out
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
