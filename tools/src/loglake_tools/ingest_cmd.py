"""``loglake ingest``: run the streaming ingest job, compact raw dates, replay quarantine.

Endpoints default to the running local stack (``loglake stack up``): Kafka bootstrap,
S3 API and moto endpoints come from its state file unless given or set in the
environment. ``loglake ingest --topic T --lake L`` runs the job (same as
``loglake ingest run ...``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from loglake_core.errors import LoglakeError


def _stack() -> Any:
    from loglake_tools.stack.state import read_state

    try:
        return read_state()
    except Exception:  # a broken state file only means "no stack defaults"
        return None


def _default(value: str | None, env: str, attr: str) -> str | None:
    if value:
        return value
    if os.environ.get(env):
        return os.environ[env]
    state = _stack()
    return getattr(state, attr) if state is not None else None


def _args(options: dict[str, Any]) -> list[str]:
    """Turn click options back into loglake_ingest.cli arguments."""
    out: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False or value == ():
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, tuple):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def _run(command: str | None, options: dict[str, Any]) -> None:
    from loglake_ingest import cli as ingest_cli

    options = dict(options)
    options["s3_endpoint"] = _default(
        options.get("s3_endpoint"), "LOGLAKE_S3_ENDPOINT", "s3_endpoint"
    )
    options["aws_endpoint"] = _default(
        options.get("aws_endpoint"), "LOGLAKE_AWS_ENDPOINT", "aws_endpoint"
    )
    if command is None:
        options["bootstrap"] = _default(
            options.get("bootstrap"), "LOGLAKE_KAFKA_BOOTSTRAP", "kafka_bootstrap"
        )
    argv = ([command] if command else []) + _args(options)
    try:
        status = ingest_cli.main(argv)
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    if status:
        raise click.exceptions.Exit(status)


_COMMON = [
    click.option("--lake", help="Lake base URI (file://, s3://, s3a://) [$LOGLAKE_LAKE]."),
    click.option("--s3-endpoint", help="S3 API endpoint (default: the local stack's)."),
    click.option("--aws-endpoint", help="DynamoDB endpoint (default: the local stack's)."),
    click.option("--control-table", help="Control table name, or 'none'."),
    click.option("--master", help="Spark master (default local[2])."),
]


def _common(func: Any) -> Any:
    for option in reversed(_COMMON):
        func = option(func)
    return func


_RUN = [
    click.option("--topic", multiple=True, help="Kafka topic (repeatable)."),
    click.option("--bootstrap", help="Kafka bootstrap (default: the local stack's)."),
    click.option("--checkpoint", help="Checkpoint URI (default <lake>/_checkpoints/ingest)."),
    click.option("--available-now", is_flag=True, help="Drain the topics, then stop."),
    click.option("--trigger-seconds", type=float, help="Micro-batch interval (default 30)."),
    click.option("--max-offsets-per-trigger", type=int, help="Records per micro-batch."),
    click.option("--starting-offsets", type=click.Choice(["earliest", "latest"])),
    click.option("--dedup-window-seconds", type=int, help="event_id de-dup window."),
    click.option("--max-future-skew-seconds", type=int, help="Quarantine events further ahead."),
    click.option("--target-file-mb", type=int, help="Target data file size (default 128)."),
    click.option(
        "--conf", multiple=True, metavar="KEY=VALUE", help="Spark setting over the job's own."
    ),
]


def _run_options(func: Any) -> Any:
    for option in reversed(_RUN):
        func = option(func)
    return _common(func)


@click.group(invoke_without_command=True)
@_run_options
@click.pass_context
def ingest(ctx: click.Context, **options: Any) -> None:
    """Run the streaming ingest job (Kafka -> raw zone), or a maintenance sub-command."""
    if ctx.invoked_subcommand is None:
        if not options.get("topic"):
            raise click.UsageError("give --topic (and --lake), or a sub-command")
        _run(None, options)


@ingest.command("run")
@_run_options
def run(**options: Any) -> None:
    """Run the streaming ingest job."""
    if not options.get("topic"):
        raise click.UsageError("give --topic")
    _run(None, options)


@ingest.command("compact")
@click.option("--dates", multiple=True, required=True, help="YYYY-MM-DD[,..] or a..b.")
@_common
def compact(**options: Any) -> None:
    """Compact raw/events files of some dates (Delta OPTIMIZE)."""
    _run("compact", options)


@ingest.command("replay-quarantine")
@click.option("--reason", help="Only this reason code.")
@click.option("--since", help="Only records quarantined at/after this ISO time.")
@click.option("--max-future-skew-seconds", type=int, help="Validation setting to apply.")
@_common
def replay_quarantine(**options: Any) -> None:
    """Re-validate quarantined records; move the now-valid ones to raw exactly once."""
    _run("replay-quarantine", options)


def summary_line(text: str) -> dict[str, Any]:
    """Parse the JSON summary line the job prints (helper for scripts and tests)."""
    return dict(json.loads(text))
