"""The ``loglake demo`` command."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from loglake_core.errors import LoglakeError
from loglake_tools.demo.config import DEFAULT_DAYS, DEFAULT_EVENTS, DemoConfig

if TYPE_CHECKING:
    from rich.console import Console


def run_demo(config: DemoConfig, console: Console | None = None) -> dict[str, Any]:
    """Run the demo; returns what it measured (stage timings, runs, restarts).

    Library logging goes to ``<demo folder>/lakes/<lake key>/logs/demo.log``.

    Raises:
        DemoError: a stage failed; the message says why and what to do.
    """
    from rich.console import Console

    from loglake_tools.demo.pipeline import Demo

    console = console or Console()
    _log_to_file(config.state_dir / "logs" / "demo.log")
    console.rule("[bold]loglake demo")
    console.print(
        f"{config.events:,} events over {config.days} day(s)"
        + (f" at {config.rate:,.0f}/s" if config.rate else "")
        + f" · lake {config.lake}"
        + (" · ingest streaming (--follow)" if config.follow else " · ingest available-now")
        + (" · fresh start" if config.fresh else "")
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return Demo(config, console).run()
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, _frame: Any) -> None:
    """SIGTERM ends the demo like Ctrl-C does: ingest is stopped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def _log_to_file(path: Path) -> None:
    """Send every log record to ``path`` (not the terminal, which shows the stages)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@click.command(name="demo")
@click.option(
    "--events",
    type=click.IntRange(1),
    default=DEFAULT_EVENTS,
    show_default=True,
    help="Records to produce (valid + duplicates + malformed).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 30),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Event times span the last DAYS UTC days.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    default=None,
    help="Events per second to produce at [as fast as possible].",
)
@click.option(
    "--lake",
    default=None,
    help="Lake URI: a path, file:// or s3a://bucket/prefix on the stack's S3 API "
    "server [<demo folder>/lake].",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="HTML report to write [<demo folder>/report.html].",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Demo folder [$LOGLAKE_DEMO_DIR or <stack state folder>/demo].",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Run ingest as a stream while producing (default: drain once afterwards).",
)
@click.option(
    "--fresh", is_flag=True, help="Start clean: new topic and control table, lake tables removed."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option(
    "--fail-etl-once",
    is_flag=True,
    default=None,
    help="Make the first ETL run fail, to watch the retry [$LOGLAKE_ETL_FAIL_ONCE].",
)
def demo(
    events: int,
    days: int,
    rate: float | None,
    lake: str | None,
    report_path: str | None,
    workdir: str | None,
    follow: bool,
    fresh: bool,
    seed: int,
    fail_etl_once: bool | None,
) -> None:
    """Run the whole pipeline on this machine and show the result.

    Brings the local stack up (or reuses it), produces synthetic events with malformed,
    duplicate and late shares, ingests them into the raw zone, lets the orchestrator run
    the ETL with the local job runner until every date is processed, then prints the
    reconciliation and the slowest pages and writes the HTML report.
    """
    try:
        config = DemoConfig.resolve(
            events=events, days=days, rate=rate, lake=lake, workdir=workdir,
            report=report_path, follow=follow, fresh=fresh, seed=seed,
            fail_etl_once=fail_etl_once or None,
        )  # fmt: skip
    except LoglakeError as exc:
        raise click.BadParameter(str(exc), param_hint="--lake") from exc
    if config.layout.scheme == "s3":
        raise click.BadParameter(
            f"{config.lake}: the demo runs against the local stack's S3 API server; use "
            "s3a://bucket/prefix (s3:// is for AWS itself)",
            param_hint="--lake",
        )
    run_demo(config)
