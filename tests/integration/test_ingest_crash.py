"""Crash safety: kill -9 the ingest process at random points, restart, drain: exactly once.

Three runs of ``python -m loglake_ingest`` are killed (SIGKILL to the whole process
group, JVM included) at random moments after they committed at least one batch; a
final run from the built wheels through ``spark-submit --py-files`` drains the topic.
Raw must then hold each valid event once, quarantine each malformed record once, and
the reconciliation table one row per batch whose counters add up to the topic.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

N_EVENTS = 3_000
KILLS = 3
#: Longest wait for a killed run to commit a batch (Spark startup is slow on a busy box).
BATCH_WAIT_SECONDS = 240


def _commits(lake: Path) -> int:
    log = lake / "raw" / "_ingest_batches" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def _env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # a killed driver leaves its scratch folders (shuffle files, block store) behind:
    # keep them under the test's own folder, which pytest cleans, not in /tmp
    env["SPARK_LOCAL_DIRS"] = str(scratch)
    return env


def _build_wheels(out: Path) -> list[Path]:
    root = Path(__file__).resolve().parents[2]
    for package in ("core", "ingest"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "build",
                "--wheel",
                "--installer",
                "uv",
                "-o",
                str(out),
                str(root / "packages" / package),
            ],
            check=True,
            capture_output=True,
        )
    wheels = sorted(out.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["loglake_core", "loglake_ingest"]
    return wheels


def test_kill_dash_nine_then_drain_with_spark_submit_is_exactly_once(
    spark, local_stack, kafka_topic, tmp_path
):
    import pyspark

    from loglake_core.spark.session import spark_jars
    from loglake_tools.produce import produce_events

    bootstrap = local_stack.kafka_bootstrap
    summary = produce_events(
        bootstrap,
        kafka_topic,
        N_EVENTS,
        seed=11,
        malformed_share=0.05,
        duplicate_share=0.05,
        late_share=0.05,
        days=2,
        create=False,
    )
    lake = tmp_path / "lake"
    args = [
        "--topic",
        kafka_topic,
        "--lake",
        str(lake),
        "--bootstrap",
        bootstrap,
        "--control-table",
        "none",
        "--max-offsets-per-trigger",
        "250",
        "--dedup-window-seconds",
        "3600",
        "--master",
        "local[2]",
    ]
    seed = int(os.environ.get("LOGLAKE_TEST_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    print(f"kill schedule seed {seed}")
    for attempt in range(KILLS):
        before = _commits(lake)
        log = tmp_path / f"run-{attempt}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "loglake_ingest", *args, "--trigger-seconds", "0.5"],
                env=_env(tmp_path / "spark-local"),
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + BATCH_WAIT_SECONDS
            while _commits(lake) <= before and time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-3000:]
                    pytest.fail(f"run {attempt} exited early ({proc.returncode}):\n{tail}")
                time.sleep(0.2)
            assert _commits(lake) > before, f"run {attempt} committed no batch in time"
            time.sleep(rnd.uniform(0.0, 4.0))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    # Drain from the built wheels with spark-submit.
    wheels = _build_wheels(tmp_path / "dist")
    entry = tmp_path / "ingest_entry.py"
    shutil.copy(
        Path(__file__).resolve().parents[2] / "packages/ingest/src/loglake_ingest/spark_entry.py",
        entry,
    )
    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    done = subprocess.run(
        [
            str(spark_submit),
            "--master",
            "local[2]",
            "--jars",
            ",".join(spark_jars()),
            "--py-files",
            ",".join(str(w) for w in wheels),
            str(entry),
            *[a for a in args if a not in ("--master", "local[2]")],
            "--available-now",
        ],
        env=_env(tmp_path / "spark-local"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    final = json.loads(done.stdout.strip().splitlines()[-1])
    assert final["stopped_by"] == "drained"
    raw = spark.read.format("delta").load(str(lake / "raw" / "events"))
    quarantine = spark.read.format("delta").load(str(lake / "raw" / "quarantine"))
    batches = spark.read.format("delta").load(str(lake / "raw" / "_ingest_batches")).collect()
    assert raw.count() == summary["valid"]
    assert raw.select("event_id").distinct().count() == summary["valid"]
    assert quarantine.count() == summary["malformed"]
    assert (
        quarantine.select("kafka_partition", "kafka_offset").distinct().count()
        == summary["malformed"]
    )
    assert len({b.batch_id for b in batches}) == len(batches)
    assert sum(b.records_read for b in batches) == N_EVENTS
    assert sum(b.duplicates_dropped for b in batches) == summary["duplicates"]
