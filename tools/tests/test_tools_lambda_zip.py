"""The Lambda zip: contents, size, and a tick from a fresh Python that sees only the zip + boto3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import botocore
import pytest
from moto.server import ThreadedMotoServer

from loglake_core.control_store import ControlStore
from loglake_tools.lambda_zip import build_lambda_zip

pytestmark = pytest.mark.integration

#: boto3 and what it imports, as Lambda's runtime provides them.
BOTO_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import loglake_orchestrator.handler as h
import_ms = (time.perf_counter() - t0) * 1000
t1 = time.perf_counter()
result = h.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
first_call_ms = (time.perf_counter() - t1) * 1000
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "pyarrow", "moto"))
print(json.dumps({
    "import_ms": import_ms,
    "result": result,
    # VmHWM: this process's peak RSS (ru_maxrss would include the parent's from before exec).
    "max_rss_mb": int(
        next(x for x in open("/proc/self/status") if x.startswith("VmHWM")).split()[1]
    ) / 1024,
    "heavy": heavy,
    "first_call_ms": first_call_ms,
}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "orchestrator-lambda.zip"
    return build_lambda_zip(out)


def test_zip_contents_and_size(built):
    names = zipfile.ZipFile(built).namelist()
    size_mb = built.stat().st_size / 1e6
    print(f"lambda zip: {built.stat().st_size} bytes, {len(names)} files")
    assert size_mb < 5
    assert "loglake_orchestrator/handler.py" in names
    assert "loglake_core/control_store.py" in names
    assert "dynamodb_json/json_util.py" in names
    assert "six.py" in names
    assert not [n for n in names if n.split("/")[0] in ("pyspark", "py4j", "boto3", "botocore")]
    assert not [n for n in names if "/tests/" in n or n.endswith((".pyc", ".so"))]
    assert not [n for n in names if n.startswith("loglake_core/spark/")]


def test_build_is_reproducible(built, tmp_path):
    again = build_lambda_zip(tmp_path)
    assert again.name == "orchestrator-lambda.zip"
    assert again.read_bytes() == built.read_bytes()


def test_fresh_python_with_only_the_zip_and_boto3_runs_a_tick(built, tmp_path):
    unpacked = tmp_path / "task"
    unpacked.mkdir()
    zipfile.ZipFile(built).extractall(unpacked)
    runtime = tmp_path / "runtime"  # stands in for the boto3 that Lambda's runtime ships
    runtime.mkdir()
    site = Path(botocore.__file__).parent.parent
    for module in BOTO_MODULES:
        (runtime / module).symlink_to(site / module)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        store = ControlStore("lambda-zip", client=boto3.client("dynamodb", endpoint_url=endpoint))
        store.create_table_if_missing()
        now = datetime.now(UTC)
        store.update_stream_progress(
            "ingest", batch_id=1, watermark=now, dates={now.date() - timedelta(days=2)}, counters={}
        )
        boto3.client("glue", endpoint_url=endpoint).create_job(
            Name="loglake-etl", Role="arn:aws:iam::123456789012:role/glue",
            Command={"Name": "glueetl", "ScriptLocation": "s3://bucket/_artifacts/entrypoint.py"},
        )  # fmt: skip
        topic = boto3.client("sns", endpoint_url=endpoint).create_topic(Name="alerts")["TopicArn"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin"),
            "PYTHONPATH": f"{unpacked}:{runtime}",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOGLAKE_AWS_ENDPOINT": endpoint, "LOGLAKE_CONTROL_TABLE": "lambda-zip",
            "LOGLAKE_LAKE_URI": "s3://bucket/lake", "LOGLAKE_SNS_TOPIC_ARN": topic,
        }  # fmt: skip
        # -S: no site-packages at all; -s: no user site. Only the zip and boto3 are importable.
        proc = subprocess.run(
            [sys.executable, "-S", "-s", "-c", CHILD], env=env, capture_output=True, text=True,
            timeout=120, cwd=tmp_path,
        )  # fmt: skip
        state = store.get_job_state("loglake-etl")
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"cold import {report['import_ms']:.0f} ms, first tick {report['first_call_ms']:.0f} ms "
        f"(boto3 import and clients included), peak RSS {report['max_rss_mb']:.1f} MB"
    )
    assert report["result"]["ok"] is True, report["result"]
    assert report["result"]["action"] == "started"
    assert report["heavy"] == []
    assert report["max_rss_mb"] < 128
    assert report["import_ms"] < 2000  # target 300 ms; generous here for a busy CI machine
    assert state.run_id == report["result"]["run_id"]
