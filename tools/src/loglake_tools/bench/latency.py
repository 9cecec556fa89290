"""``loglake bench latency``: end-to-end latency of our ingest job under a steady load.

Our job runs continuously with a 5 s processing-time trigger while the producer writes at
a fixed rate (50% of the ingest capacity measured in the same run, or a given rate) for
>= 2 minutes. Then:

* an event's *produce time* is its Kafka record timestamp (set by the producer when sent);
* its batch is the micro-batch whose offset range holds it (checkpoint ``offsets/N``);
* the batch's *commit time* is when Spark recorded it done (checkpoint ``commits/N``);
* latency = commit time - produce time, reported as p50/p95/p99 over every event;
* the per-batch fixed overhead is the job's ``batch_ms - write_ms`` per batch (trigger
  execution minus add-batch, from the query progress the job logs).

Example:
    >>> lat = event_latencies(batches, times, "events")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from loglake_tools.bench.checkpoint import BatchInfo, read_batches
from loglake_tools.bench.contenders import (
    INGEST_BATCH_EVENT,
    RunEnv,
    ingest_command,
    json_records,
    require_module,
)
from loglake_tools.bench.errors import BenchError
from loglake_tools.bench.load import drop_topic, kafka_record_times, preload
from loglake_tools.bench.measure import BROKER_QUIET_TIMEOUT, Completed, run_measured
from loglake_tools.bench.results import Target

if TYPE_CHECKING:
    from loglake_tools.bench.config import BenchConfig

log = logging.getLogger(__name__)

#: Events written before the measurement so that the query has run its first batch.
WARMUP_EVENTS: Final = 1_000
#: Seconds to wait for the first batch (JVM start-up on a busy machine) and to catch up.
START_TIMEOUT: Final = 900.0
CATCH_UP_TIMEOUT: Final = 900.0
#: Exit statuses of a job stopped with SIGTERM: graceful (0), or killed by the signal.
STOPPED_OK: Final = (0, -signal.SIGTERM, 128 + signal.SIGTERM, 130)
#: Target: p95 latency <= trigger + this many seconds.
P95_SLACK_SECONDS: Final = 5.0
#: Target: median per-batch overhead.
OVERHEAD_P50_TARGET_MS: Final = 500.0


def event_latencies(
    batches: list[BatchInfo], times: dict[int, tuple[list[int], list[int]]], topic: str
) -> tuple[np.ndarray, int]:
    """Latency (seconds) of every record of ``times`` that a committed batch holds.

    Args:
        batches: the query's batches (see `read_batches`).
        times: partition -> (offsets, Kafka timestamps in ms), e.g. from `kafka_record_times`.
        topic: the topic whose offsets the batches list.

    Returns:
        The latencies and the number of records that no committed batch holds.
    """
    committed = [b for b in batches if b.committed_at is not None and topic in b.end_offsets]
    out: list[np.ndarray] = []
    missing = 0
    for part, (offsets, stamps) in times.items():
        if not offsets:
            continue
        ends = np.array([b.end_offsets[topic].get(part, 0) for b in committed], dtype=np.int64)
        commits = np.array([b.committed_at for b in committed], dtype=np.float64)
        offs = np.asarray(offsets, dtype=np.int64)
        idx = np.searchsorted(ends, offs, side="right") if len(ends) else np.full(len(offs), 0)
        held = idx < len(ends)
        missing += int((~held).sum())
        if held.any():
            produced = np.asarray(stamps, dtype=np.float64)[held] / 1000.0
            out.append(commits[idx[held]] - produced)
    return (np.concatenate(out) if out else np.array([], dtype=np.float64)), missing


def percentiles(values: np.ndarray, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` (empty when there are no values)."""
    if values.size == 0:
        return {}
    return {f"p{q:g}": float(np.percentile(values, q)) for q in qs}


def batch_overheads(records: list[dict[str, Any]]) -> np.ndarray:
    """Per-batch fixed overhead in ms: trigger execution minus add-batch, batches with rows."""
    vals = [
        float(r["batch_ms"]) - float(r.get("write_ms") or 0)
        for r in records
        if r.get("batch_ms") is not None and int(r.get("rows_in") or 0) > 0
    ]
    return np.asarray(vals, dtype=np.float64)


def _topic_ends(bootstrap: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        parts = sorted(c.list_topics(topic, timeout=30).topics[topic].partitions)
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
    finally:
        c.close()


def _wait_for(check: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the ingest job exited (status {proc.returncode}) {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s {what}")
        time.sleep(0.5)


def _caught_up(checkpoint: Path, topic: str, ends: dict[int, int]) -> bool:
    batches = [b for b in read_batches(checkpoint) if b.committed_at is not None]
    if not batches:
        return False
    last = batches[-1].end_offsets.get(topic, {})
    return all(last.get(p, 0) >= end for p, end in ends.items())


def bench_latency(cfg: BenchConfig, env: RunEnv, *, rate: float | None = None) -> dict[str, Any]:
    """Run our job continuously under a fixed-rate load and measure per-event latency."""
    require_module("loglake_ingest", "the ingest job")
    sizes = cfg.sizes
    rate = float(rate or sizes.latency_default_rate)
    trigger = float(sizes.latency_trigger_seconds)
    topic = cfg.topic("latency")
    lake = cfg.workdir / "latency-lake"
    checkpoint = lake / "_checkpoints" / "ingest"
    log_file = env.log_path("latency-ingest")
    preload(env.bootstrap, topic, WARMUP_EVENTS, partitions=sizes.partitions, days=1, workers=1)
    started: list[subprocess.Popen[bytes]] = []
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["done"] = run_measured(
                ingest_command(
                    env, topic=topic, lake=lake, available_now=False, trigger_seconds=trigger
                ),
                broker_pid=env.broker_pid,
                timeout=env.timeout,
                stderr_path=log_file,
                what="loglake ingest (latency)",
                on_start=started.append,
                ok_returncodes=STOPPED_OK,
            )
        except BenchError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="bench-latency-ingest", daemon=True)
    thread.start()
    try:
        # the measured run first waits (up to its timeout) for the broker to go quiet
        _wait_for(lambda: bool(started), 30 + BROKER_QUIET_TIMEOUT, "before starting", None)
        proc = started[0]
        _wait_for(
            lambda: any(b.committed_at for b in read_batches(checkpoint)),
            START_TIMEOUT,
            "before its first batch",
            proc,
        )
        start_offsets = _topic_ends(env.bootstrap, topic)
        events = int(rate * sizes.latency_seconds)
        load = preload(
            env.bootstrap, topic, events, partitions=sizes.partitions, days=1, rate=rate, seed=7
        )
        ends = _topic_ends(env.bootstrap, topic)
        _wait_for(
            lambda: _caught_up(checkpoint, topic, ends),
            CATCH_UP_TIMEOUT,
            "before catching up with the producer",
            proc,
        )
    finally:
        if started and started[0].poll() is None:
            started[0].send_signal(signal.SIGTERM)
        thread.join(timeout=300)
    if "error" in outcome:
        raise outcome["error"]
    done: Completed = outcome["done"]
    times = kafka_record_times(env.bootstrap, topic, skip_before=start_offsets)
    latencies, missing = event_latencies(read_batches(checkpoint), times, topic)
    if not cfg.keep:
        drop_topic(env.bootstrap, topic)
        shutil.rmtree(lake, ignore_errors=True)
    records = json_records(log_file, INGEST_BATCH_EVENT)
    overhead = batch_overheads(records)
    lat = percentiles(latencies)
    ovh = percentiles(overhead)
    targets = [
        Target("latency_p95", f"p95 latency <= trigger + {P95_SLACK_SECONDS:g} s at 50% load",
               lat.get("p95"), trigger + P95_SLACK_SECONDS, "<=", "s"),
        Target("batch_overhead_p50", "per-batch overhead p50 <= 500 ms",
               ovh.get("p50"), OVERHEAD_P50_TARGET_MS, "<=", "ms"),
    ]  # fmt: skip
    return {
        "rate": rate,
        "trigger_seconds": trigger,
        "duration_seconds": sizes.latency_seconds,
        "load": load,
        "events_measured": int(latencies.size),
        "events_not_committed": missing,
        "latency_seconds": {**lat, "mean": float(latencies.mean()) if latencies.size else None},
        "batches": len(records),
        "batch_overhead_ms": {**ovh, "mean": float(overhead.mean()) if overhead.size else None},
        "batch_ms": percentiles(np.asarray([float(r.get("batch_ms") or 0) for r in records])),
        "ingest_process": done.measurement.to_json(),
        "log": str(log_file),
        "targets": [t.to_json() for t in targets],
    }
