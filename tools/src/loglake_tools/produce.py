"""``loglake produce``: write synthetic events (`loglake_tools.loadgen`) to a Kafka topic.

Records are generated in chunks and each chunk is handed to an idempotent
confluent-kafka producer (acks=all, lz4, 1 MB batches), so no producer retry can add
a copy the summary does not know about. The summary reconciles exactly with what a
consumer of the topic sees: ``events_total = valid + duplicates + malformed``.

Example:
    >>> summary = produce_events("127.0.0.1:19092", "events", 100_000, seed=1)  # doctest: +SKIP
    >>> summary["valid"] + summary["duplicates"] + summary["malformed"]  # doctest: +SKIP
    100000
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import click

from loglake_tools.loadgen import GenerationSummary, generate_events

log = logging.getLogger(__name__)

ENV_KAFKA_BOOTSTRAP: Final = "LOGLAKE_KAFKA_BOOTSTRAP"
DEFAULT_BOOTSTRAP: Final = "127.0.0.1:19092"
#: Records generated ahead of sending (bounds memory: ~300 bytes each).
CHUNK_SIZE: Final = 100_000
#: Seconds to wait for the broker's first answer before giving up.
CONNECT_TIMEOUT: Final = 10.0
#: Pacing granularity when a rate is set.
PACE_EVERY: Final = 500

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
        second while sending, ``generate_rate`` and ``wall_seconds`` cover the whole run.

    Raises:
        ProduceError: a record could not be delivered or the broker is unreachable.
    """
    from confluent_kafka import KafkaException, Producer

    server = resolve_bootstrap(bootstrap)
    if create:
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
            "rate": round(sent / send_seconds, 1) if send_seconds else None,
            "generate_rate": round(sent / gen_seconds, 1) if gen_seconds else None,
            "wall_seconds": round(wall, 3),
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
    summary = produce_events(
        bootstrap,
        topic,
        n,
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
