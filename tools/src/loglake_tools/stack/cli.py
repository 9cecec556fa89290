"""``loglake stack up|status|down``: the local stack from the command line."""

from __future__ import annotations

import json

import click

from loglake_tools.stack.errors import StackError
from loglake_tools.stack.manager import DEFAULT_TIMEOUT, stack_status, start_stack, stop_stack
from loglake_tools.stack.state import state_file


@click.group()
def stack() -> None:
    """Start, inspect and stop the local stack (Kafka, s3proxy, moto) on 127.0.0.1."""


@stack.command()
@click.option("--fresh", is_flag=True, help="Stop everything and wipe all stack data first.")
@click.option("--kafka-port", type=click.IntRange(1024, 65534), help="Kafka port [19092].")
@click.option("--s3-port", type=click.IntRange(1024, 65535), help="S3 API port [19000].")
@click.option("--aws-port", type=click.IntRange(1024, 65535), help="moto server port [15000].")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds each server gets to answer.",
)
def up(
    fresh: bool,
    kafka_port: int | None,
    s3_port: int | None,
    aws_port: int | None,
    timeout: float,
) -> None:
    """Start the servers that are not running; return when every one answers."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        with console.status("starting the local stack ..."):
            result = start_stack(
                kafka_port=kafka_port,
                s3_port=s3_port,
                aws_port=aws_port,
                timeout=timeout,
                fresh=fresh,
            )
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    state = result.state
    if not result.started:
        console.print("[green]the local stack is already up[/green] (nothing started)")
    else:
        console.print(
            f"[green]started {', '.join(result.started)}[/green] in {result.seconds:.1f}s"
            + (f"; reused {', '.join(result.reused)}" if result.reused else "")
        )
    console.print(f"  kafka  {state.kafka_bootstrap}  (pid {state.pids.get('kafka')})")
    console.print(f"  s3     {state.s3_endpoint}  (pid {state.pids.get('s3')})")
    console.print(f"  aws    {state.aws_endpoint}  (pid {state.pids.get('aws')})")
    console.print(f"  state  {state_file(state.state_dir)}")


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show whether each server runs and answers; exit 1 if any is down."""
    report = stack_status()
    if as_json:
        click.echo(json.dumps(report))
    else:
        for name, item in report.items():
            where = item.get("bootstrap") or item.get("endpoint")
            mark = "up" if item["up"] else "DOWN"
            click.echo(f"{name:<6} {mark:<5} {where}  pid={item['pid']}")
    if not all(item["up"] for item in report.values()):
        raise SystemExit(1)


@stack.command()
@click.option("--purge", is_flag=True, help="Also delete the stack's data (topics, buckets).")
def down(purge: bool) -> None:
    """Stop every server of the stack (SIGTERM, then SIGKILL after a grace period)."""
    stopped = stop_stack(purge=purge)
    if stopped:
        click.echo(f"stopped {', '.join(stopped)}" + (" and wiped the data" if purge else ""))
    else:
        click.echo("the local stack was not running" + ("; data wiped" if purge else ""))
