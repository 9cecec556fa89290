"""What a Spark run spent its time on, from its event log: start-up, read, shuffle, write.

Spark contenders of the benchmark run with an event log (``PYSPARK_SUBMIT_ARGS`` adds
``spark.eventLog.*`` to any pyspark process, whatever builds its session). Each completed
stage is put in one class:

* ``write``: the stage wrote output files (``output.bytesWritten > 0``);
* ``shuffle``: the stage wrote shuffle data (a map stage: read, compute, shuffle write);
* ``other``: every other stage (reading the Delta log, results sent to the driver).

For each class the stage wall time (submission to completion; stages of one local[2]
application barely overlap), the executor run time and the bytes are added up. The
time before the first job is the session's start-up on the JVM side.

Example:
    >>> env = event_log_env(Path("/tmp/ev"))  # doctest: +SKIP
    >>> profile(Path("/tmp/ev"))["classes"]["shuffle"]["stage_seconds"]  # doctest: +SKIP
    12.5
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def event_log_env(folder: Path) -> dict[str, str]:
    """Environment that makes a pyspark process write an uncompressed event log to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    confs = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": folder.resolve().as_uri(),
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
    args = " ".join(f"--conf {k}={v}" for k, v in confs.items())
    return {"PYSPARK_SUBMIT_ARGS": f"{args} pyspark-shell"}


def _accumulables(stage: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for acc in stage.get("Accumulables", []) or []:
        name = acc.get("Name")
        try:
            out[str(name)] = float(acc.get("Value"))
        except (TypeError, ValueError):
            continue
    return out


def _classify(acc: dict[str, float]) -> str:
    if acc.get("internal.metrics.output.bytesWritten", 0) > 0:
        return "write"
    if acc.get("internal.metrics.shuffle.write.bytesWritten", 0) > 0:
        return "shuffle"
    return "other"


def profile(folder: Path) -> dict[str, Any] | None:
    """Per-class stage time and bytes of the (single) application logged in ``folder``."""
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return None
    classes: dict[str, dict[str, float]] = {
        name: {"stages": 0, "stage_seconds": 0.0, "executor_seconds": 0.0, "bytes": 0.0}
        for name in ("write", "shuffle", "other")
    }
    app_start: float | None = None
    app_end: float | None = None
    first_job: float | None = None
    with open(files[-1], encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("Event")
            if kind == "SparkListenerApplicationStart":
                app_start = event.get("Timestamp", 0) / 1000
            elif kind == "SparkListenerApplicationEnd":
                app_end = event.get("Timestamp", 0) / 1000
            elif kind == "SparkListenerJobStart" and first_job is None:
                first_job = event.get("Submission Time", 0) / 1000
            elif kind == "SparkListenerStageCompleted":
                info = event.get("Stage Info", {})
                acc = _accumulables(info)
                cls = classes[_classify(acc)]
                start, end = info.get("Submission Time"), info.get("Completion Time")
                cls["stages"] += 1
                if start and end:
                    cls["stage_seconds"] += (end - start) / 1000
                cls["executor_seconds"] += acc.get("internal.metrics.executorRunTime", 0) / 1000
                cls["bytes"] += acc.get("internal.metrics.output.bytesWritten", 0) + acc.get(
                    "internal.metrics.shuffle.write.bytesWritten", 0
                )
    total = sum(c["stage_seconds"] for c in classes.values())
    dominant = max(classes, key=lambda k: classes[k]["stage_seconds"]) if total else None
    return {
        "classes": classes,
        "stage_seconds_total": total,
        "session_to_first_job_seconds": (first_job - app_start)
        if first_job is not None and app_start is not None
        else None,
        "application_seconds": (app_end - app_start) if app_end and app_start else None,
        "dominant_stage_class": dominant,
        "file": str(files[-1]),
    }
