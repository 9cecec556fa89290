"""The Glue artifacts: wheels + entry script, upload to S3 and job definition (moto), magics,
and a spark-submit run that imports the job from the built wheels only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from loglake_core.layout import LakeLayout

from .conftest import FIRST_DAY, append_raw, generate_raw_parquet

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BUCKET = "ll-artifacts"


@pytest.fixture(scope="module")
def glue_dist(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from loglake_tools.build import build_glue_artifacts

    return build_glue_artifacts(tmp_path_factory.mktemp("dist") / "glue")


@pytest.mark.unit
def test_build_makes_two_wheels_and_the_entry_script(glue_dist: list[Path]) -> None:
    names = [p.name for p in glue_dist]
    assert names[0].startswith("loglake_core-")
    assert names[0].endswith("-py3-none-any.whl")
    assert names[1].startswith("loglake_glue_etl-")
    assert names[2] == "entrypoint.py"
    with zipfile.ZipFile(glue_dist[0]) as zf:
        assert "loglake_core/histogram.py" in zf.namelist()
        assert "loglake_core/spark/metrics.py" in zf.namelist()
    with zipfile.ZipFile(glue_dist[1]) as zf:
        assert {"loglake_glue_etl/job.py", "loglake_glue_etl/entrypoint.py"} <= set(zf.namelist())
        source = zf.read("loglake_glue_etl/entrypoint.py")
    assert glue_dist[2].read_bytes() == source


@pytest.mark.unit
def test_upload_and_job_definition_against_moto(glue_dist: list[Path]) -> None:
    import boto3
    from moto import mock_aws

    from loglake_tools.build import glue_job_definition, session_magics, upload_glue_artifacts

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        uris = upload_glue_artifacts(
            glue_dist, bucket=BUCKET, prefix="lake", version="7", s3_client=s3
        )
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        assert keys == sorted(f"lake/_artifacts/glue/7/{p.name}" for p in glue_dist)
        definition = glue_job_definition(bucket=BUCKET, prefix="lake", version="7", files=glue_dist)
        glue = boto3.client("glue", region_name="us-east-1")
        glue.create_job(**definition)
        job = glue.get_job(JobName="loglake-etl")["Job"]
    assert job["GlueVersion"] == "6.0"
    assert job["Command"]["ScriptLocation"] == uris[2]
    args = job["DefaultArguments"]
    assert args["--datalake-formats"] == "delta"
    assert args["--additional-python-modules"] == ",".join(uris[:2])
    assert args["--lake"] == f"s3://{BUCKET}/lake"
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in args["--conf"]
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 1
    # reserved names are never set by us
    assert not {"--JOB_NAME", "--JOB_RUN_ID", "--job-bookmark-option"} & set(args)
    magics = session_magics(definition).splitlines()
    assert magics[:2] == ["%glue_version 6.0", "%idle_timeout 30"]
    assert f"%additional_python_modules {','.join(uris[:2])}" in magics
    configure = json.loads("\n".join(magics[magics.index("%%configure") + 1 :]))
    assert configure["--datalake-formats"] == "delta"


@pytest.mark.unit
def test_upload_cli_prints_magics_and_fails_clearly_without_bucket(
    glue_dist: list[Path], tmp_path: Path
) -> None:
    import boto3
    from click.testing import CliRunner
    from moto import mock_aws

    from loglake_tools.cli import cli

    runner = CliRunner()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        out = runner.invoke(
            cli,
            ["upload", "glue", "--bucket", BUCKET, "--dist", str(glue_dist[0].parent), "--no-build",
             "--print-magics",
             "--output", str(tmp_path / "job.json")],
        )  # fmt: skip
        assert out.exit_code == 0, out.output
        assert "%glue_version 6.0" in out.output
        assert json.loads((tmp_path / "job.json").read_text())["GlueVersion"] == "6.0"
        missing = runner.invoke(
            cli,
            [
                "upload",
                "glue",
                "--bucket",
                "nope",
                "--dist",
                str(glue_dist[0].parent),
                "--no-build",
            ],
        )
        empty = runner.invoke(
            cli, ["upload", "glue", "--bucket", BUCKET, "--dist", str(tmp_path), "--no-build"]
        )
    assert empty.exit_code == 1
    assert "run `loglake build glue --out" in empty.output
    assert missing.exit_code == 1
    assert "s3://nope/_artifacts/glue/" in missing.output
    assert "check that the bucket exists" in missing.output
    assert "Traceback" not in missing.output


def _no_site_python(folder: Path) -> Path:
    """A python that ignores site-packages: only spark-submit's PYTHONPATH (wheels) is seen."""
    wrapper = folder / "python-nosite"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


@pytest.mark.spark
def test_spark_submit_runs_the_job_from_the_built_wheels(
    spark: SparkSession, glue_dist: list[Path], tmp_path: Path
) -> None:
    import pyspark

    from loglake_core.spark.session import spark_jars

    days = [FIRST_DAY, FIRST_DAY + timedelta(days=1)]
    raw = generate_raw_parquet(tmp_path / "raw.parquet", n=4000, days=2, seed=0.3)
    lake = LakeLayout.from_uri(str(tmp_path / "lake"))
    append_raw(spark, lake, raw.parquet)
    python = _no_site_python(tmp_path)
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    core_whl, etl_whl, script = glue_dist
    env = {
        **os.environ,
        "PYSPARK_PYTHON": str(python),
        "PYSPARK_DRIVER_PYTHON": str(python),
        "PYTHONPATH": "",
    }
    env.pop("LOGLAKE_ETL_FAIL", None)
    result_path = tmp_path / "result.json"
    cmd = [
        str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=2", "--driver-memory", "1g",
        "--jars", ",".join(spark_jars()), "--py-files", f"{core_whl},{etl_whl}", str(script),
        "--lake", lake.base, "--dates", ",".join(d.isoformat() for d in days),
        "--result-path", str(result_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok"
    assert result["dates"] == [d.isoformat() for d in days]
    assert result["rows_after_dedup"] == 4000
    assert json.loads(result_path.read_text()) == result
    written = spark.read.format("delta").load(lake.processed_page_metrics).count()
    assert written == result["rows_written"]["page_metrics_daily"] > 0
