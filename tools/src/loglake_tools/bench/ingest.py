"""``loglake bench ingest``: drain one pre-loaded topic with our job and two baselines.

The topic (>= 5 M events of ~300 bytes, 6 partitions, a realistic mix of duplicates,
late and malformed records) is loaded once; each contender drains it from earliest with
its own checkpoint or consumer group into its own folder:

* ``loglake``: our ingest job, ``python -m loglake_ingest --available-now``;
* ``spark-bare``: Kafka -> ``from_json`` -> Delta, nothing else;
* ``python``: one Python process, confluent-kafka -> orjson -> pyarrow -> Parquet.

Throughput is reported two ways: over the whole run (JVM start-up included) and
*sustained*, over the drain itself (first batch start to last commit). Targets use the
sustained figure, and CPU per event uses the whole run's CPU.

Example:
    >>> result = bench_ingest(config, run_env)  # doctest: +SKIP
    >>> result["ratios"]["vs_spark_bare_throughput"]  # doctest: +SKIP
    0.81
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.bench.contenders import (
    RunEnv,
    run_ingest,
    run_python_consumer,
    run_spark_bare,
)
from loglake_tools.bench.errors import BenchError
from loglake_tools.bench.load import drop_topic, preload
from loglake_tools.bench.results import Target, ratio, repeat, summarize

if TYPE_CHECKING:
    from loglake_tools.bench.config import BenchConfig

log = logging.getLogger(__name__)

GIB: Final = 1024**3
LABELS: Final = {
    "loglake": "loglake ingest (validate, de-dup, quarantine, reconcile -> Delta)",
    "spark-bare": "bare Spark (from_json -> Delta)",
    "python": "Python consumer (confluent-kafka -> orjson -> pyarrow -> Parquet)",
}


def measure_contender(
    cfg: BenchConfig,
    name: str,
    events: int,
    run: Callable[[int], dict[str, Any]],
    cleanup: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Measure one contender with the repetition rule; a failure is recorded, not raised."""

    def one(i: int) -> dict[str, Any]:
        try:
            return run(i)
        finally:
            if cleanup is not None and not cfg.keep:
                cleanup(i)

    try:
        runs = repeat(
            one, min_repetitions=cfg.min_repetitions, below_seconds=cfg.repeat_below_seconds
        )
    except BenchError as exc:
        log.error("%s: %s", name, exc)
        return {"name": name, "label": LABELS.get(name, name), "events": events, "error": str(exc)}
    except Exception as exc:  # keep the other contenders' figures
        log.exception("%s failed unexpectedly", name)
        return {
            "name": name,
            "label": LABELS.get(name, name),
            "events": events,
            "error": f"{type(exc).__name__}: {exc}",
        }
    return summarize(name, LABELS.get(name, name), events, runs)


def bench_ingest(cfg: BenchConfig, env: RunEnv) -> dict[str, Any]:
    """Pre-load the ingest topic and measure the three consumers on it."""
    sizes = cfg.sizes
    events = sizes.ingest_events
    topic = cfg.topic("ingest")
    pre = preload(env.bootstrap, topic, events, partitions=sizes.partitions, days=sizes.days)

    def lake(name: str, i: int) -> Any:
        return cfg.workdir / f"ingest-{name}-{i}"

    def rm(name: str) -> Callable[[int], None]:
        return lambda i: shutil.rmtree(lake(name, i), ignore_errors=True)

    contenders = [
        measure_contender(
            cfg,
            "loglake",
            events,
            lambda i: run_ingest(env, topic=topic, lake=lake("loglake", i), rep=i, expected=events),
            rm("loglake"),
        ),
        measure_contender(
            cfg,
            "spark-bare",
            events,
            lambda i: run_spark_bare(
                env, topic=topic, lake=lake("spark-bare", i), rep=i, expected=events
            ),
            rm("spark-bare"),
        ),
        measure_contender(
            cfg,
            "python",
            events,
            lambda i: run_python_consumer(
                env, topic=topic, out_dir=lake("python", i), rep=i, expected=events
            ),
            rm("python"),
        ),
    ]
    if not cfg.keep:
        drop_topic(env.bootstrap, topic)
    by_name = {c["name"]: c.get("median", {}) for c in contenders}
    ours, bare, py = by_name["loglake"], by_name["spark-bare"], by_name["python"]
    ratios = {
        "vs_spark_bare_throughput": ratio(
            ours.get("drain_events_per_second"), bare.get("drain_events_per_second")
        ),
        "vs_spark_bare_throughput_wall": ratio(
            ours.get("events_per_second"), bare.get("events_per_second")
        ),
        "vs_python_per_cpu_second": ratio(
            ours.get("events_per_cpu_second"), py.get("events_per_cpu_second")
        ),
        "vs_python_throughput": ratio(
            ours.get("drain_events_per_second"), py.get("drain_events_per_second")
        ),
    }
    rss = ours.get("peak_rss_bytes")
    targets = [
        Target("producer_rate", "producer pre-load rate >= 100,000 events/s",
               pre.get("events_per_second"), 100_000, ">=", "events/s"),
        Target("ingest_sustained_rate", "ingest sustained >= 50,000 events/s",
               ours.get("drain_events_per_second"), 50_000, ">=", "events/s"),
        Target("ingest_vs_bare_spark", "ingest throughput >= 0.7x bare Spark",
               ratios["vs_spark_bare_throughput"], 0.7, ">=", "x"),
        Target("ingest_vs_python_per_cpu", "ingest events per CPU-second >= 1.0x Python consumer",
               ratios["vs_python_per_cpu_second"], 1.0, ">=", "x"),
        Target("ingest_peak_rss", "ingest peak RSS of the process tree <= 3 GiB",
               rss / GIB if rss else None, 3.0, "<=", "GiB"),
    ]  # fmt: skip
    return {
        "events": events,
        "topic": topic,
        "preload": pre,
        "contenders": contenders,
        "ratios": ratios,
        "targets": [t.to_json() for t in targets],
    }
