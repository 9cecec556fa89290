"""What the demo prints: stage lines with elapsed time, and the closing tables.

Everything goes through one rich ``Console``; library logging goes to the demo's log
file instead, so the terminal shows only the story of the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from loglake_tools.reconcile import ReconRow


@dataclass
class StageClock:
    """Times each stage and prints its start and end lines.

    Attributes:
        console: where to print.
        timings: stage name -> seconds, in order.
    """

    console: Console
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @contextlib.contextmanager
    def stage(self, name: str, status: str | None = None) -> Iterator[None]:
        """Run one stage under a spinner (``status``) and print ``✓ name (12.3 s)``."""
        t0 = time.monotonic()
        self.console.print(f"[bold cyan]▶ {name}[/]")
        try:
            if status:
                with self.console.status(status):
                    yield
            else:
                yield
        except BaseException:
            self.timings[name] = time.monotonic() - t0
            self.console.print(f"[bold red]✗ {name}[/] after {self.timings[name]:.1f}s")
            raise
        self.timings[name] = time.monotonic() - t0
        self.console.print(f"[green]✓ {name}[/] [dim]({self.timings[name]:.1f}s)[/]")

    @property
    def total(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        """Print an indented detail line of the current stage."""
        self.console.print(f"   {text}")


def recon_table(rows: Sequence[ReconRow]) -> Any:
    """The reconciliation as a rich table."""
    from rich.table import Table

    table = Table(title="Reconciliation: produced = raw + quarantined + duplicates dropped")
    table.add_column("what")
    table.add_column("produced", justify="right")
    table.add_column("in the lake", justify="right")
    table.add_column("where")
    table.add_column("check")
    for r in rows:
        table.add_row(
            r.kind,
            _n(r.produced),
            _n(r.landed),
            r.where,
            "[green]✓ equal[/]" if r.ok else "[bold red]✗ differs[/]",
        )
    return table


def top_pages_table(day: str, rows: Sequence[dict[str, Any]]) -> Any:
    """Pages of ``day`` by p95 TTI (the ETL's stored percentiles)."""
    from rich.table import Table

    table = Table(title=f"Slowest pages on {day} by p95 TTI (processed/page_metrics_daily)")
    table.add_column("service")
    table.add_column("page")
    table.add_column("views", justify="right")
    for q in ("p50", "p95", "p99"):
        table.add_column(f"TTI {q} ms", justify="right")
    table.add_column("error rate", justify="right")
    for r in rows:
        table.add_row(
            r["service"],
            r["page"],
            _n(r["views"]),
            f"{r['tti_p50']:,.0f}",
            f"{r['tti_p95']:,.0f}",
            f"{r['tti_p99']:,.0f}",
            f"{100 * (r.get('error_rate') or 0):.2f}%",
        )
    return table


def timings_table(timings: dict[str, float], total: float) -> Any:
    """Seconds per stage."""
    from rich.table import Table

    table = Table(title="Time per stage")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in timings.items():
        table.add_row(name, f"{seconds:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{total:.1f}[/]")
    return table


def _n(value: int | None) -> str:
    return f"{value:,}" if value is not None else "n/a"
