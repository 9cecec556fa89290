"""``loglake etl`` and the entry point in-process: exit codes, JSON result, result file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from loglake_core.layout import LakeLayout
from loglake_tools.cli import cli

from .conftest import FIRST_DAY, append_raw, generate_raw_parquet

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession


@pytest.mark.unit
def test_usage_errors_exit_2_with_the_fix() -> None:
    out = CliRunner().invoke(cli, ["etl", "--lake", "/tmp/l", "--dates", "2026-02-30"])
    assert out.exit_code == 2
    assert "--dates: '2026-02-30' is not a date; use YYYY-MM-DD" in out.output
    assert "Traceback" not in out.output


@pytest.mark.spark
def test_cli_runs_and_reports_then_fails_on_request(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = generate_raw_parquet(tmp_path / "raw.parquet", n=3000, days=1, seed=0.5)
    lake = LakeLayout.from_uri(str(tmp_path / "lake"))
    append_raw(spark, lake, raw.parquet)
    result_file = tmp_path / "r" / "result.json"
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        ["etl", "--lake", lake.base, "--dates", FIRST_DAY.isoformat(), "--result-path",
         str(result_file)],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    result = json.loads(ok.output.strip().splitlines()[-1])
    assert result["status"] == "ok"
    assert result["rows_after_dedup"] == 3000
    assert json.loads(result_file.read_text()) == result

    monkeypatch.setenv("LOGLAKE_ETL_FAIL", "1")
    failed = runner.invoke(
        cli,
        ["etl", "--lake", lake.base, "--dates", FIRST_DAY.isoformat(), "--result-path",
         str(result_file)],
    )  # fmt: skip
    assert failed.exit_code == 1
    assert "error: failure injected on purpose" in failed.output
    assert "Traceback" not in failed.output
    reported = json.loads(result_file.read_text())
    assert reported["status"] == "failed"
    assert "injected" in reported["error"]
