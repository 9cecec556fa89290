"""Benchmark configuration: sizes (full, ``--smoke``, ``--large``), folders, repetition rule.

Sizes follow the benchmark issue: ingest drains >= 5 M events of ~300 bytes from a
6-partition topic; latency runs >= 2 minutes at 50% of the measured ingest capacity with a
5 s trigger; the ETL reads 10 M events over 7 days; scaling runs 1 M, 3 M, 10 M (and 30 M
with ``--large``). A run shorter than a minute is repeated until there are three and the
median is reported.

Example:
    >>> BenchConfig.create(smoke=True).sizes.ingest_events
    20000
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

ENV_BENCH_DIR: Final = "LOGLAKE_BENCH_DIR"
ENV_BENCH_MASTER: Final = "LOGLAKE_BENCH_SPARK_MASTER"
DEFAULT_SPARK_MASTER: Final = "local[2]"
#: A run shorter than this is repeated (the issue: median of >= 3 below one minute).
REPEAT_BELOW_SECONDS: Final = 60.0
MIN_REPETITIONS: Final = 3


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does.

    Attributes:
        ingest_events: events pre-loaded for ``bench ingest``.
        partitions: Kafka partitions of every benchmark topic.
        days: days of event time the generated events span.
        latency_seconds: how long the latency producer runs.
        latency_trigger_seconds: processing-time trigger of the ingest job in ``bench latency``.
        latency_load_share: producer rate as a share of the measured ingest capacity.
        latency_default_rate: producer rate when no ingest capacity was measured in the run.
        etl_events: events in the raw table of ``bench etl``.
        etl_days: days those events span.
        scaling_events: sizes of ``bench scaling``.
        timeout_seconds: a single measured run is killed after this long.
    """

    ingest_events: int = 5_000_000
    partitions: int = 6
    days: int = 7
    latency_seconds: float = 150.0
    latency_trigger_seconds: int = 5
    latency_load_share: float = 0.5
    latency_default_rate: int = 20_000
    etl_events: int = 10_000_000
    etl_days: int = 7
    scaling_events: tuple[int, ...] = (1_000_000, 3_000_000, 10_000_000)
    timeout_seconds: float = 3_600.0


FULL_SIZES: Final = Sizes()
#: Smoke sizes: every path once, within a few minutes (one scaling size: each size costs
#: two Spark start-ups, and its raw table is reused by the ETL benchmark).
SMOKE_SIZES: Final = Sizes(
    ingest_events=20_000,
    partitions=6,
    days=2,
    latency_seconds=15.0,
    latency_trigger_seconds=5,
    latency_default_rate=500,
    etl_events=30_000,
    etl_days=2,
    scaling_events=(30_000,),
    timeout_seconds=900.0,
)
LARGE_EXTRA_EVENTS: Final = 30_000_000


@dataclass(frozen=True)
class BenchConfig:
    """Settings shared by every benchmark of one ``loglake bench`` invocation.

    Attributes:
        workdir: folder for lakes, checkpoints and logs of this run.
        sizes: the work sizes.
        smoke: tiny sizes, one repetition, targets reported but meaningless.
        large: scaling also runs 30 M events.
        bootstrap: Kafka bootstrap servers (``None``: the local stack's).
        spark_master: Spark master of every Spark contender.
        keep: keep ``workdir`` afterwards.
        repeat_below_seconds: runs shorter than this are repeated.
        min_repetitions: how many runs such a measurement gets.
        run_id: suffix of topic and group names, unique per invocation.
    """

    workdir: Path
    sizes: Sizes = FULL_SIZES
    smoke: bool = False
    large: bool = False
    bootstrap: str | None = None
    spark_master: str = DEFAULT_SPARK_MASTER
    keep: bool = False
    repeat_below_seconds: float = REPEAT_BELOW_SECONDS
    min_repetitions: int = MIN_REPETITIONS
    run_id: str = ""

    @classmethod
    def create(
        cls,
        *,
        workdir: Path | None = None,
        smoke: bool = False,
        large: bool = False,
        bootstrap: str | None = None,
        spark_master: str | None = None,
        keep: bool = False,
        repetitions: int | None = None,
        scale: float | None = None,
    ) -> BenchConfig:
        """Resolve settings: argument, then environment variable, then default.

        ``scale`` multiplies every event count (e.g. 0.2 for a fifth of the full sizes,
        when the full run does not fit the time available); results record it.
        """
        run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"-{os.getpid()}"
        base = workdir or (
            Path(os.environ[ENV_BENCH_DIR]) if os.environ.get(ENV_BENCH_DIR) else None
        )
        folder = (
            base / f"run-{run_id}"
            if base
            else Path(tempfile.gettempdir()) / f"loglake-bench-{run_id}"
        )
        sizes = SMOKE_SIZES if smoke else FULL_SIZES
        if large:
            sizes = replace(sizes, scaling_events=(*sizes.scaling_events, LARGE_EXTRA_EVENTS))
        if scale is not None and scale != 1.0:
            if scale <= 0:
                raise ValueError(f"scale {scale} must be greater than 0, e.g. 0.2")
            sizes = replace(
                sizes,
                ingest_events=max(1_000, int(sizes.ingest_events * scale)),
                etl_events=max(1_000, int(sizes.etl_events * scale)),
                scaling_events=tuple(max(1_000, int(n * scale)) for n in sizes.scaling_events),
            )
        return cls(
            workdir=folder.resolve(),
            sizes=sizes,
            smoke=smoke,
            large=large,
            bootstrap=bootstrap,
            spark_master=spark_master or os.environ.get(ENV_BENCH_MASTER, DEFAULT_SPARK_MASTER),
            keep=keep,
            min_repetitions=1 if smoke else (repetitions or MIN_REPETITIONS),
            run_id=run_id,
        )

    def path(self, *parts: str) -> Path:
        """A path under the work folder (parents created)."""
        p = self.workdir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def topic(self, name: str) -> str:
        """A topic name unique to this invocation."""
        return f"bench-{name}-{self.run_id}"
