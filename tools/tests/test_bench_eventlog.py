"""Stage-time profile from a Spark event log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loglake_tools.bench.eventlog import event_log_env, profile

pytestmark = pytest.mark.unit


def stage(sid: int, start: int, end: int, **metrics: float) -> dict[str, object]:
    acc = [{"ID": i, "Name": f"internal.metrics.{k}", "Value": v}
           for i, (k, v) in enumerate(metrics.items())]  # fmt: skip
    return {
        "Event": "SparkListenerStageCompleted",
        "Stage Info": {"Stage ID": sid, "Submission Time": start, "Completion Time": end,
                       "Accumulables": acc},
    }  # fmt: skip


def test_stages_are_classed_and_timed(tmp_path: Path) -> None:
    events = [
        {"Event": "SparkListenerApplicationStart", "Timestamp": 1_000},
        {"Event": "SparkListenerJobStart", "Submission Time": 4_000},
        stage(0, 4_000, 5_000, executorRunTime=1_500),
        stage(1, 5_000, 9_000, executorRunTime=7_000, **{"shuffle.write.bytesWritten": 2048}),
        stage(2, 9_000, 11_000, executorRunTime=3_000, **{"output.bytesWritten": 4096}),
        {"Event": "SparkListenerJobStart", "Submission Time": 9_000},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 12_000},
    ]
    (tmp_path / "local-1").write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    p = profile(tmp_path)
    assert p is not None
    assert p["classes"]["shuffle"] == {
        "stages": 1, "stage_seconds": 4.0, "executor_seconds": 7.0, "bytes": 2048.0,
    }  # fmt: skip
    assert p["classes"]["write"]["stage_seconds"] == 2.0
    assert p["classes"]["other"]["stages"] == 1
    assert p["dominant_stage_class"] == "shuffle"
    assert p["session_to_first_job_seconds"] == 3.0
    assert p["application_seconds"] == 11.0
    assert profile(tmp_path / "missing") is None


def test_env_asks_pyspark_for_an_uncompressed_log(tmp_path: Path) -> None:
    args = event_log_env(tmp_path / "ev")["PYSPARK_SUBMIT_ARGS"]
    assert "--conf spark.eventLog.enabled=true" in args
    assert "spark.eventLog.compress=false" in args
    assert args.endswith("pyspark-shell")
    assert (tmp_path / "ev").is_dir()
