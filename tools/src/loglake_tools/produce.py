"""``loglake produce``: write synthetic events (`loglake_tools.loadgen`) to a Kafka topic.

Records are generated in chunks and each chunk is handed to an idempotent
confluent-kafka producer (acks=all, lz4, 1 MB batches), so no producer retry can add
a copy the summary does not know about. The summary reconciles exactly with what a
consumer of the topic sees: ``events_total = valid + duplicates + malformed``.

Generating events is Python work that keeps one core busy, so `produce_parallel`
splits a run over several worker processes, each generating and sending its share with
`produce_events`, and merges their summaries into one with the same keys
(`merge_summaries`). ``loglake produce`` uses it: one worker per core from
`PARALLEL_FROM` events on, one below.

Example:
    >>> summary = produce_parallel("127.0.0.1:19092", "events", 1_000_000, seed=1)  # doctest: +SKIP
    >>> summary["valid"] + summary["duplicates"] + summary["malformed"]  # doctest: +SKIP
    1000000
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import click

from loglake_tools.loadgen import GenerationSummary, generate_events, now_utc, run_id_of

log = logging.getLogger(__name__)

ENV_KAFKA_BOOTSTRAP: Final = "LOGLAKE_KAFKA_BOOTSTRAP"
DEFAULT_BOOTSTRAP: Final = "127.0.0.1:19092"
#: Records generated ahead of sending (bounds memory: ~300 bytes each).
CHUNK_SIZE: Final = 100_000
#: Seconds to wait for the broker's first answer before giving up.
CONNECT_TIMEOUT: Final = 10.0
#: Pacing granularity when a rate is set.
PACE_EVERY: Final = 500
#: From this many events on, `produce_parallel` defaults to one worker process per core.
PARALLEL_FROM: Final = 200_000
#: Domain of the hash that derives worker seeds (see `worker_seeds`).
WORKER_SEED_DOMAIN: Final = b"loglake-producer"
#: Summary counters that `merge_summaries` adds up across workers.
COUNT_KEYS: Final = ("events_total", "valid", "malformed", "duplicates", "late")
#: Summary breakdowns (name -> count) that `merge_summaries` adds up key by key.
BREAKDOWN_KEYS: Final = ("per_type", "per_date", "malformed_by_reason")
#: Settings every worker of one run shares; `merge_summaries` refuses parts that differ.
SHARED_KEYS: Final = ("topic", "bootstrap", "days", "shares")

PRODUCER_CONFIG: Final[dict[str, Any]] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "message.max.bytes": 2_000_000,
}


class ProduceError(click.ClickException):
    """Producing failed; the message names the broker, topic and cause."""


def resolve_bootstrap(bootstrap: str | None = None) -> str:
    """Kafka bootstrap: argument, ``$LOGLAKE_KAFKA_BOOTSTRAP``, the stack's state file, default."""
    if bootstrap:
        return bootstrap
    env = os.environ.get(ENV_KAFKA_BOOTSTRAP)
    if env:
        return env
    from loglake_tools.stack.state import read_state

    state = read_state()
    return state.kafka_bootstrap if state else DEFAULT_BOOTSTRAP


def produce_events(
    bootstrap: str | None,
    topic: str,
    n: int,
    *,
    seed: int = 0,
    rate: float | None = None,
    malformed_share: float = 0.0,
    duplicate_share: float = 0.0,
    late_share: float = 0.0,
    days: float = 1.0,
    now: datetime | None = None,
    partitions: int = 6,
    create: bool = True,
    producer_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate ``n`` records and send them to ``topic``; return the summary dict.

    Args:
        bootstrap: Kafka bootstrap servers (see `resolve_bootstrap`).
        topic: target topic; created with ``partitions`` partitions if missing and ``create``.
        n: records to send (valid + duplicates + malformed).
        seed: seed of the generator (same seed and ``now``: same bytes).
        rate: events per second to pace at (``None``: as fast as possible).
        malformed_share: share of malformed records.
        duplicate_share: share of byte-identical re-sends.
        late_share: share of valid events whose time lags by hours or days.
        days: event times span the last ``days`` UTC days.
        now: end of the time span (default: now).
        partitions: partitions of a topic this call creates.
        create: create the topic if it does not exist.
        producer_config: extra librdkafka settings.

    Returns:
        ``{"topic", "events_total", "valid", "malformed", "duplicates", "late", "per_type",
        "per_date", "malformed_by_reason", "seed", "rate", ...}``; ``rate`` is events per
        second while sending (``send_seconds``), ``generate_rate`` while generating
        (``generate_seconds``); ``wall_seconds`` and ``events_per_second`` cover the
        whole run.

    Raises:
        ProduceError: a record could not be delivered or the broker is unreachable.
    """
    from confluent_kafka import KafkaException, Producer

    server = resolve_bootstrap(bootstrap)
    if create:
        _ensure_topic(server, topic, partitions)
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    config = {
        **PRODUCER_CONFIG,
        "bootstrap.servers": server,
        "on_delivery": on_delivery,
        **(producer_config or {}),
    }
    try:
        producer = Producer(config)
    except KafkaException as exc:
        raise ProduceError(f"bad producer configuration: {exc}") from exc

    summary = GenerationSummary()
    records = generate_events(
        n,
        seed,
        malformed_share=malformed_share,
        duplicate_share=duplicate_share,
        late_share=late_share,
        days=days,
        now=now,
        summary=summary,
    )
    wall0 = time.perf_counter()
    gen_seconds = 0.0
    send_seconds = 0.0
    sent = 0
    pace_start = time.perf_counter()
    produce = producer.produce
    poll = producer.poll
    while sent < n:
        t0 = time.perf_counter()
        chunk = [r for _, r in zip(range(CHUNK_SIZE), records, strict=False)]
        t1 = time.perf_counter()
        gen_seconds += t1 - t0
        if not chunk:
            break
        for key, value, _kind in chunk:
            while True:
                try:
                    produce(topic, value, key)
                    break
                except BufferError:
                    poll(0.05)
            sent += 1
            if sent % 10_000 == 0:
                poll(0)
            if rate and sent % PACE_EVERY == 0:
                ahead = pace_start + sent / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        send_seconds += time.perf_counter() - t1
    t2 = time.perf_counter()
    remaining = producer.flush(120)
    send_seconds += time.perf_counter() - t2
    wall = time.perf_counter() - wall0
    if remaining:
        raise ProduceError(f"{remaining} records were still undelivered to {server} after 120 s")
    if failures:
        raise ProduceError(
            f"{len(failures)} of {sent} records to {topic!r} failed; first error: {failures[0]}"
        )
    out: dict[str, Any] = {"topic": topic, **summary.to_json()}
    out.update(
        {
            "seed": seed,
            "rate": _per_second(sent, send_seconds),
            "generate_rate": _per_second(sent, gen_seconds),
            "wall_seconds": round(wall, 3),
            "events_per_second": _per_second(sent, wall),
            "send_seconds": round(send_seconds, 3),
            "generate_seconds": round(gen_seconds, 3),
            "bootstrap": server,
            "days": days,
            "shares": {
                "malformed": malformed_share,
                "duplicate": duplicate_share,
                "late": late_share,
            },
        }
    )
    log.info("sent %d records to %s in %.2fs", sent, topic, wall)
    return out


def _per_second(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def _ensure_topic(server: str, topic: str, partitions: int) -> None:
    """Create ``topic`` unless it exists; a `ProduceError` naming the fix otherwise."""
    from loglake_tools.stack.kafka import create_topic, is_ready

    try:
        if not is_ready(server, timeout=CONNECT_TIMEOUT):
            raise ProduceError(f"no broker answers at {server}")
        create_topic(server, topic, partitions)
    except Exception as exc:
        raise ProduceError(
            f"cannot create topic {topic!r} on {server}: {exc}; is the broker up "
            "(`loglake stack status`)?"
        ) from exc


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(n: int) -> int:
    """Worker processes for ``n`` events: one per usable core from `PARALLEL_FROM` on, else 1."""
    return 1 if n < PARALLEL_FROM else _cores()


def worker_seeds(seed: int, workers: int) -> list[int]:
    """The generator seed of each worker of a run with ``seed`` and ``workers`` processes.

    One worker uses ``seed`` itself, so a single-process run sends the same bytes as
    `produce_events` with that seed. Several workers use seeds hashed from
    ``(seed, workers, k)`` (BLAKE2b, 48 bits: exact in any JSON reader) rather than
    ``seed + k``: with ``seed + k`` the run with seed 1 and the run with seed 2 would
    share a worker seed and send the same event ids. Event ids are ``<run id>-<index>``
    where the run id is 32 bits drawn from the seed (`loglake_tools.loadgen.run_id_of`);
    the workers of one run never share a run id (a colliding derivation is re-hashed
    with a counter), and two different runs share one only by a 32-bit chance.

    Args:
        seed: the run's seed.
        workers: the run's worker processes (>= 1).

    Returns:
        ``workers`` seeds, deterministic for ``(seed, workers)``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
    if workers == 1:
        return [seed]
    seeds: list[int] = []
    run_ids: set[str] = set()
    for k in range(workers):
        attempt = 0
        while True:
            text = f"{seed}/{workers}/{k}/{attempt}".encode()
            digest = hashlib.blake2b(text, digest_size=6, person=WORKER_SEED_DOMAIN).digest()
            candidate = int.from_bytes(digest, "big")
            run_id = run_id_of(candidate)
            if run_id not in run_ids:
                break
            attempt += 1
        run_ids.add(run_id)
        seeds.append(candidate)
    return seeds


def split_count(n: int, workers: int) -> list[int]:
    """``n`` split into ``workers`` parts that differ by at most one, larger ones first."""
    return [n // workers + (1 if k < n % workers else 0) for k in range(workers)]


def merge_summaries(
    parts: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    wall_seconds: float,
    worker_seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """One summary for a run whose workers each returned a `produce_events` summary.

    Counters and the per-type, per-date and per-reason breakdowns are added up exactly;
    ``rate`` and ``generate_rate`` divide all events by the longest worker's send and
    generation time (the workers run side by side); ``wall_seconds`` and
    ``events_per_second`` are the whole run's, measured by the caller. The result has
    every key of a `produce_events` summary plus ``workers``, ``worker_seeds`` and
    ``per_worker`` (each worker's events, seed and rates).

    Args:
        parts: the workers' summaries, in worker order.
        seed: the run's seed (reported as ``seed``).
        wall_seconds: wall time of the whole run, generation and start-up included.
        worker_seeds: the workers' seeds (default: each part's ``seed``).

    Raises:
        ValueError: no parts, parts of different runs (topic, broker, days or shares
            differ), or a part whose breakdowns do not add up to its counters.
    """
    if not parts:
        raise ValueError("no worker summaries to merge")
    first = parts[0]
    for key in SHARED_KEYS:
        values = {json.dumps(p.get(key), sort_keys=True) for p in parts}
        if len(values) > 1:
            raise ValueError(f"worker summaries disagree on {key!r}: {sorted(values)}")
    seeds = list(worker_seeds) if worker_seeds is not None else [p.get("seed") for p in parts]
    if len(seeds) != len(parts):
        raise ValueError(f"{len(seeds)} worker seeds for {len(parts)} worker summaries")
    counts = {key: sum(int(p[key]) for p in parts) for key in COUNT_KEYS}
    breakdowns: dict[str, Counter[str]] = {key: Counter() for key in BREAKDOWN_KEYS}
    for p in parts:
        for key in BREAKDOWN_KEYS:
            breakdowns[key].update({name: int(n) for name, n in p[key].items()})
    total = counts["events_total"]
    checks = {
        "valid + duplicates + malformed": (
            counts["valid"] + counts["duplicates"] + counts["malformed"],
            total,
        ),
        "per_type": (sum(breakdowns["per_type"].values()), counts["valid"]),
        "per_date": (sum(breakdowns["per_date"].values()), counts["valid"]),
        "malformed_by_reason": (
            sum(breakdowns["malformed_by_reason"].values()),
            counts["malformed"],
        ),
    }
    for what, (got, want) in checks.items():
        if got != want:
            raise ValueError(f"worker summaries do not add up: {what} sums to {got}, not {want}")
    send_seconds = max(float(p.get("send_seconds") or 0.0) for p in parts)
    gen_seconds = max(float(p.get("generate_seconds") or 0.0) for p in parts)
    return {
        "topic": first.get("topic"),
        **counts,
        **{key: dict(sorted(breakdowns[key].items())) for key in BREAKDOWN_KEYS},
        "seed": seed,
        "rate": _per_second(total, send_seconds),
        "generate_rate": _per_second(total, gen_seconds),
        "wall_seconds": round(wall_seconds, 3),
        "events_per_second": _per_second(total, wall_seconds),
        "send_seconds": round(send_seconds, 3),
        "generate_seconds": round(gen_seconds, 3),
        "bootstrap": first.get("bootstrap"),
        "days": first.get("days"),
        "shares": first.get("shares"),
        "workers": len(parts),
        "worker_seeds": seeds,
        "per_worker": [
            {
                "seed": s,
                "events_total": p["events_total"],
                "rate": p.get("rate"),
                "generate_rate": p.get("generate_rate"),
                "wall_seconds": p.get("wall_seconds"),
            }
            for s, p in zip(seeds, parts, strict=True)
        ],
    }


def _produce_part(job: dict[str, Any]) -> dict[str, Any]:
    """One worker process: generate and send its share (module level: spawn pickles it)."""
    return produce_events(**job)


def produce_parallel(
    bootstrap: str | None,
    topic: str,
    n: int,
    *,
    workers: int | None = None,
    seed: int = 0,
    rate: float | None = None,
    malformed_share: float = 0.0,
    duplicate_share: float = 0.0,
    late_share: float = 0.0,
    days: float = 1.0,
    now: datetime | None = None,
    partitions: int = 6,
    create: bool = True,
    producer_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Like `produce_events`, with generation and sending split over worker processes.

    The topic is created once, here; then ``workers`` spawned processes each run
    `produce_events` on their share of ``n`` (shares differ by at most one) with their
    own seed (`worker_seeds`), the same ``now`` and shares, and ``rate`` split in
    proportion. A single worker runs in this process. Each worker generates in chunks of
    `CHUNK_SIZE`, so memory stays bounded per worker. The workers are spawned, so a
    script that calls this needs the ``if __name__ == "__main__":`` guard.

    Args:
        bootstrap: Kafka bootstrap servers (see `resolve_bootstrap`).
        topic: target topic; created with ``partitions`` partitions if missing and ``create``.
        n: records to send in total (valid + duplicates + malformed).
        workers: worker processes (default `default_workers`; never more than ``n``).
        seed: the run's seed; the workers' seeds derive from it and ``workers``.
        rate: total events per second to pace at (``None``: as fast as possible).
        malformed_share: share of malformed records.
        duplicate_share: share of byte-identical re-sends (of the same worker's records).
        late_share: share of valid events whose time lags by hours or days.
        days: event times span the last ``days`` UTC days (every worker spans them all).
        now: end of the time span (default: now, taken once for all workers).
        partitions: partitions of a topic this call creates.
        create: create the topic if it does not exist.
        producer_config: extra librdkafka settings (must pickle).

    Returns:
        The merged summary (`merge_summaries`): the keys of `produce_events` plus
        ``workers``, ``worker_seeds`` and ``per_worker``; ``wall_seconds`` and
        ``events_per_second`` cover the workers' start-up, generation and sending.

    Raises:
        ProduceError: a worker failed to deliver, or the broker is unreachable.
        ValueError: a bad share, ``days``, ``now`` or ``workers``.
    """
    count = default_workers(n) if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be >= 1 (got {count})")
    count = min(count, max(n, 1))
    if now is None:
        now = now_utc()
    # Checks the shares, days and now here, before any process starts.
    generate_events(
        0,
        seed,
        malformed_share=malformed_share,
        duplicate_share=duplicate_share,
        late_share=late_share,
        days=days,
        now=now,
    )
    server = resolve_bootstrap(bootstrap)
    if create:
        _ensure_topic(server, topic, partitions)
    seeds = worker_seeds(seed, count)
    jobs = [
        {
            "bootstrap": server,
            "topic": topic,
            "n": part,
            "seed": part_seed,
            "rate": rate * part / n if rate and n else None,
            "malformed_share": malformed_share,
            "duplicate_share": duplicate_share,
            "late_share": late_share,
            "days": days,
            "now": now,
            "partitions": partitions,
            "create": False,
            "producer_config": producer_config,
        }
        for part, part_seed in zip(split_count(n, count), seeds, strict=True)
    ]
    started = time.perf_counter()
    # One worker runs here: no process start-up for small loads.
    parts = [_produce_part(jobs[0])] if count == 1 else _run_workers(jobs)
    wall = time.perf_counter() - started
    merged = merge_summaries(parts, seed=seed, wall_seconds=wall, worker_seeds=seeds)
    log.info(
        "sent %d records to %s with %d workers in %.2fs (%.0f events/s)",
        merged["events_total"],
        topic,
        count,
        wall,
        merged["events_per_second"] or 0,
    )
    return merged


def _run_workers(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn"))
    try:
        futures = [pool.submit(_produce_part, job) for job in jobs]
        return [f.result() for f in futures]
    except BrokenProcessPool as exc:
        raise ProduceError(f"a producer worker process died: {exc}") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"produced to {summary['topic']}", show_header=True)
    table.add_column("kind")
    table.add_column("records", justify="right")
    for name in ("events_total", "valid", "late", "duplicates", "malformed"):
        table.add_row(name, f"{summary[name]:,}")
    for name, count in summary["per_type"].items():
        table.add_row(f"  type {name}", f"{count:,}")
    for name, count in summary["per_date"].items():
        table.add_row(f"  date {name}", f"{count:,}")
    for name, count in summary["malformed_by_reason"].items():
        table.add_row(f"  malformed {name}", f"{count:,}")
    console = Console()
    console.print(table)
    console.print(
        f"send rate {summary['rate'] or 0:,.0f} events/s, generation "
        f"{summary['generate_rate'] or 0:,.0f} events/s, wall {summary['wall_seconds']:.2f}s"
    )


def _share(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise click.BadParameter(f"{value} is not a share; use a number in [0, 1), e.g. 0.02")
    return value


@click.command()
@click.option("--topic", required=True, help="Target topic (created if missing).")
@click.option("--events", "n", type=click.IntRange(0), default=10_000, show_default=True)
@click.option("--rate", type=click.FloatRange(min=1), help="Events per second [unlimited].")
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--malformed-share", type=float, default=0.0, callback=_share, show_default=True)
@click.option("--duplicate-share", type=float, default=0.0, callback=_share, show_default=True)
@click.option("--late-share", type=float, default=0.0, callback=_share, show_default=True)
@click.option("--days", type=click.FloatRange(min=0.001), default=1.0, show_default=True)
@click.option("--now", "now_text", help="End of the time span, ISO-8601 with offset [now].")
@click.option("--partitions", type=click.IntRange(1), default=6, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1),
    help=f"Producer processes [one per core from {PARALLEL_FROM:,} events, else 1].",
)
@click.option("--bootstrap", help=f"Kafka bootstrap [${ENV_KAFKA_BOOTSTRAP} or the stack's].")
@click.option("--summary-out", type=click.Path(dir_okay=False), help="Write the summary JSON.")
def produce(
    topic: str,
    n: int,
    rate: float | None,
    seed: int,
    malformed_share: float,
    duplicate_share: float,
    late_share: float,
    days: float,
    now_text: str | None,
    partitions: int,
    workers: int | None,
    bootstrap: str | None,
    summary_out: str | None,
) -> None:
    """Write N synthetic log events to a Kafka topic and print what was sent."""
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter(
                f"{now_text!r} is not ISO-8601; use e.g. 2026-11-27T12:00:00+00:00",
                param_hint="--now",
            ) from exc
        if now.tzinfo is None:
            raise click.BadParameter(
                f"{now_text!r} has no UTC offset; add +00:00", param_hint="--now"
            )
    if malformed_share + duplicate_share >= 1:
        raise click.BadParameter(
            f"--malformed-share {malformed_share} + --duplicate-share {duplicate_share} "
            "must stay below 1",
            param_hint="--duplicate-share",
        )
    summary = produce_parallel(
        bootstrap,
        topic,
        n,
        workers=workers,
        seed=seed,
        rate=rate,
        malformed_share=malformed_share,
        duplicate_share=duplicate_share,
        late_share=late_share,
        days=days,
        now=now,
        partitions=partitions,
    )
    _print_summary(summary)
    if summary_out:
        Path(summary_out).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_out).write_text(json.dumps(summary, indent=2) + "\n")
