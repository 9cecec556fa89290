"""``loglake orchestrate``: run the Lambda orchestrator's handler logic here.

The same state machine as the Lambda, against the local stack's moto server (DynamoDB,
Glue, SNS) by default, with the local job runner (the ETL in a subprocess):

    $ loglake orchestrate --lake /var/lake tick
    $ loglake orchestrate --lake /var/lake backfill --start 2026-11-01 --end 2026-11-03
    $ loglake orchestrate --lake /var/lake run-until-idle --interval 5
    $ loglake orchestrate status

Settings not given as options come from the orchestrator's environment variables
(``LOGLAKE_LAKE_URI``, ``LOGLAKE_CONTROL_TABLE``, ... see docs/orchestrator.md).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from loglake_orchestrator.machine import Orchestrator


@dataclass(frozen=True)
class CliSettings:
    """What the group's options say."""

    lake: str | None
    runner: str
    table: str | None
    job: str | None
    aws_endpoint: str | None
    real_aws: bool


def _endpoint(settings: CliSettings) -> str | None:
    if settings.real_aws:
        return None
    if settings.aws_endpoint:
        return settings.aws_endpoint
    if os.environ.get("LOGLAKE_AWS_ENDPOINT"):
        return os.environ["LOGLAKE_AWS_ENDPOINT"]
    from loglake_tools.stack.state import read_state

    state = read_state()
    if state is None:
        raise click.ClickException(
            "no AWS endpoint: start the local stack (`loglake stack up`), pass --aws-endpoint "
            "URL or set LOGLAKE_AWS_ENDPOINT, or pass --aws to use real AWS"
        )
    return state.aws_endpoint


def build(settings: CliSettings) -> Orchestrator:
    """An orchestrator wired from the options and the environment (table created if missing)."""
    from loglake_core.errors import LoglakeError
    from loglake_orchestrator.config import OrchestratorConfig
    from loglake_orchestrator.handler import build_orchestrator

    lake = settings.lake or os.environ.get("LOGLAKE_LAKE_URI") or ""
    if not lake:
        raise click.ClickException("no lake: pass --lake URI or set LOGLAKE_LAKE_URI")
    try:
        config = OrchestratorConfig.from_env(
            lake_uri=lake,
            job_runner=settings.runner,
            control_table=settings.table,
            job_name=settings.job,
            aws_endpoint=_endpoint(settings),
        )
        orchestrator = build_orchestrator(config)
        orchestrator.store.create_table_if_missing()
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    return orchestrator


def _run(orchestrator: Orchestrator, event: dict[str, Any]) -> dict[str, Any]:
    from loglake_orchestrator.handler import run_event

    result = run_event(orchestrator, event)
    if not result.get("ok"):
        raise click.ClickException(str(result.get("error")))
    return result


def _echo(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))


@click.group()
@click.option("--lake", default=None, help="Base URI of the lake [LOGLAKE_LAKE_URI].")
@click.option(
    "--runner",
    type=click.Choice(["local", "glue"]),
    default="local",
    show_default=True,
    help="Run the ETL here (local) or as the Glue job.",
)
@click.option("--table", default=None, help="Control table [LOGLAKE_CONTROL_TABLE].")
@click.option("--job", default=None, help="Job name [LOGLAKE_GLUE_JOB_NAME].")
@click.option("--aws-endpoint", default=None, help="AWS API endpoint [the local stack's moto].")
@click.option("--aws", "real_aws", is_flag=True, help="Use the real AWS endpoints.")
@click.pass_context
def orchestrate(
    ctx: click.Context,
    lake: str | None,
    runner: str,
    table: str | None,
    job: str | None,
    aws_endpoint: str | None,
    real_aws: bool,
) -> None:
    """Drive the orchestrator (the Lambda's state machine) from this machine."""
    ctx.obj = CliSettings(lake, runner, table, job, aws_endpoint, real_aws)


@orchestrate.command()
@click.pass_obj
def tick(settings: CliSettings) -> None:
    """Reconcile the active run and start the next one if due."""
    _echo(_run(build(settings), {"action": "tick"}))


@orchestrate.command()
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First date.")
@click.option("--end", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Last date [start].")
@click.option("--reason", default="backfill", show_default=True, help="Kept with each date.")
@click.pass_obj
def backfill(settings: CliSettings, start: Any, end: Any, reason: str) -> None:
    """Mark dates dirty so the next ticks re-run them (before new dates)."""
    event = {
        "action": "backfill",
        "start": start.date().isoformat(),
        "end": (end or start).date().isoformat(),
        "reason": reason,
    }
    _echo(_run(build(settings), event))


@orchestrate.command()
@click.pass_obj
def status(settings: CliSettings) -> None:
    """Show the job state, dates by status and the stream watermark."""
    _echo(_run(build(settings), {"action": "status"}))


def _progress_line(result: dict[str, Any]) -> str:
    action = str(result.get("action"))
    parts = [action]
    for key in ("run_id", "attempt", "next_attempt_at", "processed_through", "error"):
        if result.get(key) is not None:
            parts.append(f"{key}={result[key]}")
    if result.get("dates"):
        parts.append("dates=" + ",".join(result["dates"]))
    finished = result.get("finished")
    if isinstance(finished, dict):
        parts.append(f"(after {finished.get('run_id')} {finished.get('action')})")
    return " ".join(parts)


@orchestrate.command("run-until-idle")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between ticks.")
@click.option("--timeout", default=3600.0, show_default=True, help="Give up after seconds.")
@click.pass_obj
def run_until_idle(settings: CliSettings, interval: float, timeout: float) -> None:
    """Tick until no run is active, none is waiting and no date is ready."""
    orchestrator = build(settings)
    deadline = time.monotonic() + timeout
    failed: list[str] = []
    while True:
        result = _run(orchestrator, {"action": "tick"})
        stamp = time.strftime("%H:%M:%S")
        click.echo(f"{stamp} {_progress_line(result)}")
        if result.get("action") == "failed":
            failed += result.get("dates", [])
        if result.get("action") == "idle":
            break
        if time.monotonic() > deadline:
            raise click.ClickException(f"still busy after {timeout:.0f}s; tick again later")
        if result.get("action") != "succeeded":
            time.sleep(interval)
    processed = orchestrator.status()
    click.echo(f"idle: dates by status {json.dumps(processed['dates'], sort_keys=True)}")
    if failed:
        raise click.ClickException(
            f"dates {', '.join(failed)} failed after every retry; fix the cause and run "
            f"`loglake orchestrate backfill --start {min(failed)} --end {max(failed)}`"
        )
