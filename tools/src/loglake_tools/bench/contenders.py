"""How each contender is started and measured: our ingest and ETL jobs, and the baselines.

Every contender is a subprocess measured by `loglake_tools.bench.measure.run_measured`
(wall, CPU-seconds of its whole tree, peak RSS, broker CPU). Each function returns one
*run*: the measurement's figures plus what the contender reported (rows, batches, drain
time), ready for `loglake_tools.bench.results.summarize`.

Example:
    >>> run = run_ingest(env, topic="bench-ingest", lake=Path("/tmp/l"), rep=0)  # doctest: +SKIP
    >>> run["events_read"]  # doctest: +SKIP
    5000000
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from loglake_ingest.config import DEFAULT_MAX_OFFSETS_PER_TRIGGER
from loglake_tools.bench.checkpoint import batch_sizes, drain_seconds, read_batches
from loglake_tools.bench.errors import BenchError, ComponentNotAvailableError
from loglake_tools.bench.eventlog import event_log_env, profile
from loglake_tools.bench.measure import run_measured

log = logging.getLogger(__name__)

#: Name of the structured per-batch log record of the ingest job.
INGEST_BATCH_EVENT: Final = "ingest_batch"


@dataclass(frozen=True)
class RunEnv:
    """Where and how contenders run.

    Attributes:
        bootstrap: Kafka bootstrap servers.
        broker_pid: pid of the Kafka broker (its CPU is measured separately).
        workdir: folder for lakes, checkpoints and logs.
        spark_master: Spark master of the Spark contenders.
        timeout: seconds after which a run is killed.
    """

    bootstrap: str
    broker_pid: int | None
    workdir: Path
    spark_master: str = "local[2]"
    timeout: float = 1_800.0

    def log_path(self, name: str) -> Path:
        """A log file under ``<workdir>/logs``."""
        path = self.workdir / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def require_module(module: str, what: str) -> None:
    """Raise `ComponentNotAvailableError` when ``module`` cannot be run with ``python -m``."""
    try:
        found = importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ComponentNotAvailableError(
            f"{what} is not available: `python -m {module}` has no entry point in this build; "
            f"install the {module.replace('_', '-')} package (hatch env) or skip this benchmark"
        )


def last_json(stdout: str) -> dict[str, Any]:
    """The last line of ``stdout`` that is a JSON object (``{}`` when none)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def json_records(path: Path, event: str) -> list[dict[str, Any]]:
    """JSON objects with ``"event": event`` found in a log file (one per line, after a prefix)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if f'"{event}"' not in line:
                continue
            start = line.find("{")
            if start < 0:
                continue
            try:
                value = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(value, dict) and value.get("event") == event:
                out.append(value)
    return out


def ingest_command(
    env: RunEnv, *, topic: str, lake: Path, available_now: bool, trigger_seconds: float | None
) -> list[str]:
    """Command line of our ingest job for a benchmark (no control table)."""
    cmd = [
        sys.executable,
        "-m",
        "loglake_ingest",
        "--topic",
        topic,
        "--lake",
        lake.as_uri(),
        "--bootstrap",
        env.bootstrap,
        "--control-table",
        "none",
    ]
    if available_now:
        cmd.append("--available-now")
    if trigger_seconds is not None:
        cmd += ["--trigger-seconds", f"{trigger_seconds:g}"]
    return cmd


def _spark_env(env: RunEnv) -> dict[str, str]:
    return {"PYSPARK_PYTHON": sys.executable}


def run_ingest(env: RunEnv, *, topic: str, lake: Path, rep: int, expected: int) -> dict[str, Any]:
    """Drain ``topic`` with our ingest job (``--available-now``) into a fresh lake ``lake``."""
    require_module("loglake_ingest", "the ingest job")
    log_file = env.log_path(f"ingest-{lake.name}-{rep}")
    events_dir = env.workdir / "eventlog" / f"ingest-{lake.name}-{rep}"
    done = run_measured(
        ingest_command(env, topic=topic, lake=lake, available_now=True, trigger_seconds=None),
        env={**_spark_env(env), **event_log_env(events_dir)},
        broker_pid=env.broker_pid,
        timeout=env.timeout,
        stderr_path=log_file,
        what="loglake ingest",
    )
    batches = read_batches(lake / "_checkpoints" / "ingest")
    records = json_records(log_file, INGEST_BATCH_EVENT)
    read = sum(batch_sizes(batches))
    if read != expected:
        raise BenchError(
            f"loglake ingest read {read:,} records from {topic} but the topic holds "
            f"{expected:,}; see {log_file}"
        )
    counters = {
        key: sum(int(r.get(key) or 0) for r in records)
        for key in ("records_read", "rows_out", "quarantined", "duplicates")
    }
    return {
        **done.measurement.to_json(),
        "events_read": read,
        "batches": len([n for n in batch_sizes(batches) if n]),
        "drain_seconds": drain_seconds(batches),
        **counters,
        "profile": profile(events_dir),
        "log": str(log_file),
    }


def run_spark_bare(
    env: RunEnv, *, topic: str, lake: Path, rep: int, expected: int
) -> dict[str, Any]:
    """Drain ``topic`` with the bare Spark baseline into ``lake``."""
    log_file = env.log_path(f"spark-bare-{lake.name}-{rep}")
    events_dir = env.workdir / "eventlog" / f"spark-bare-{lake.name}-{rep}"
    args = {
        "topic": topic,
        "bootstrap": env.bootstrap,
        "lake": lake.as_uri(),
        "master": env.spark_master,
        # our ingest job's default micro-batch cap, so the difference is per-record work
        "max_offsets_per_trigger": DEFAULT_MAX_OFFSETS_PER_TRIGGER,
    }
    done = run_measured(
        [sys.executable, "-m", "loglake_tools.bench.baselines", "spark-bare", "--args-json",
         json.dumps(args)],
        env={**_spark_env(env), **event_log_env(events_dir)},
        broker_pid=env.broker_pid,
        timeout=env.timeout,
        stderr_path=log_file,
        what="bare Spark baseline",
    )  # fmt: skip
    batches = read_batches(lake / "_checkpoints" / "bare")
    read = sum(batch_sizes(batches))
    if read != expected:
        raise BenchError(f"bare Spark read {read:,} of {expected:,} records; see {log_file}")
    return {
        **done.measurement.to_json(),
        "events_read": read,
        "batches": len([n for n in batch_sizes(batches) if n]),
        "drain_seconds": drain_seconds(batches),
        "event_dates": partition_dates(lake / "raw" / "events"),
        "profile": profile(events_dir),
        "log": str(log_file),
    }


def partition_dates(table: Path) -> list[str]:
    """The ``event_date`` partitions of the Delta table at ``table`` (from its log)."""
    from deltalake import DeltaTable

    parts = DeltaTable(str(table)).partitions()
    return sorted({str(p["event_date"]) for p in parts if p.get("event_date")})


def run_python_consumer(
    env: RunEnv, *, topic: str, out_dir: Path, rep: int, expected: int
) -> dict[str, Any]:
    """Drain ``topic`` with the plain Python consumer into Parquet files under ``out_dir``."""
    log_file = env.log_path(f"python-consumer-{out_dir.name}-{rep}")
    args = {"topic": topic, "bootstrap": env.bootstrap, "out_dir": str(out_dir)}
    done = run_measured(
        [sys.executable, "-m", "loglake_tools.bench.baselines", "python-consumer",
         "--args-json", json.dumps(args)],
        broker_pid=env.broker_pid,
        timeout=env.timeout,
        stderr_path=log_file,
        what="Python consumer baseline",
    )  # fmt: skip
    reported = last_json(done.stdout)
    if int(reported.get("rows_read", -1)) != expected:
        raise BenchError(
            f"the Python consumer read {reported.get('rows_read')} of {expected:,} records; "
            f"see {log_file}"
        )
    return {
        **done.measurement.to_json(),
        "events_read": expected,
        "batches": reported.get("files"),
        "drain_seconds": reported.get("drain_seconds"),
        "rows_written": reported.get("rows_written"),
        "bad_records": reported.get("bad_records"),
        "log": str(log_file),
    }


def run_etl(env: RunEnv, *, lake: Path, dates: list[str], rep: int) -> dict[str, Any]:
    """Run our ETL job (local Spark) for ``dates`` of ``lake``; its JSON result is kept."""
    require_module("loglake_glue_etl", "the ETL job")
    log_file = env.log_path(f"etl-{lake.name}-{rep}")
    result_path = env.workdir / "logs" / f"etl-{lake.name}-{rep}.json"
    cmd = [
        sys.executable,
        "-m",
        "loglake_glue_etl",
        "--lake",
        lake.as_uri(),
        "--dates",
        ",".join(dates),
        "--result-path",
        str(result_path),
    ]
    events_dir = env.workdir / "eventlog" / f"etl-{lake.name}-{rep}"
    done = run_measured(
        cmd,
        env={**_spark_env(env), **event_log_env(events_dir)},
        timeout=env.timeout,
        stderr_path=log_file,
        what="loglake ETL",
    )
    result = last_json(done.stdout)
    if not result and result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    return {
        **done.measurement.to_json(),
        "result": result,
        "profile": profile(events_dir),
        "log": str(log_file),
    }


def run_duckdb(env: RunEnv, *, lake: Path, dates: list[str], rep: int) -> dict[str, Any]:
    """Compute the page metrics of ``dates`` with DuckDB from ``lake``'s raw table."""
    log_file = env.log_path(f"duckdb-{lake.name}-{rep}")
    args = {"raw_table": str(lake / "raw" / "events"), "dates": dates}
    done = run_measured(
        [sys.executable, "-m", "loglake_tools.bench.baselines", "duckdb-pages", "--args-json",
         json.dumps(args)],
        timeout=env.timeout,
        stderr_path=log_file,
        what="DuckDB baseline",
    )  # fmt: skip
    return {**done.measurement.to_json(), "result": last_json(done.stdout), "log": str(log_file)}
