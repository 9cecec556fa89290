"""The end of the demo: reconciliation, slowest pages, the report, and where things are."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.demo.errors import DemoError
from loglake_tools.demo.view import recon_table, timings_table, top_pages_table

if TYPE_CHECKING:
    from loglake_tools.demo.pipeline import Demo
    from loglake_tools.reconcile import LakeReader

#: Rows of the slowest-pages table, and the views a page needs to be ranked.
TOP_PAGES: Final = 10
MIN_VIEWS: Final = 20


def finish(demo: Demo) -> dict[str, Any]:
    """Reconcile, show the slowest pages, write the report, print where everything is.

    Raises:
        DemoError: the reconciliation does not hold (after the report is written).
    """
    from loglake_tools.reconcile import LakeReader, lake_counts, reconcile
    from loglake_tools.report import build_report

    cfg = demo.cfg
    reader = LakeReader.open(cfg.lake, s3_endpoint=demo.s3_endpoint)
    with demo.clock.stage("reconcile (reading the lake back with delta-rs)"):
        counts = lake_counts(reader)
        rows = reconcile(demo.book.summary, counts)
    demo.console.print(recon_table(rows))
    last_day, top = slowest_pages(reader)
    if top:
        demo.console.print(top_pages_table(last_day, top))
    with demo.clock.stage("report", "writing the HTML report"):
        build_report(
            cfg.lake, cfg.report, control_table=demo.book.control_table,
            aws_endpoint=demo.state.aws_endpoint, s3_endpoint=demo.s3_endpoint,
            producer_summary=demo.book.summary,
        )  # fmt: skip
    total = demo.clock.total
    demo.console.print(timings_table(demo.clock.timings, total))
    ok = all(r.ok for r in rows)
    record = {
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(total, 1),
        "timings": {k: round(v, 1) for k, v in demo.clock.timings.items()},
        "events": cfg.events,
        "follow": cfg.follow,
        "reconciled": ok,
        **demo.results,
    }
    demo.book.runs.append(record)
    demo.book.save()
    print_where(demo)
    if not ok:
        bad = ", ".join(r.kind for r in rows if not r.ok)
        raise DemoError(
            f"the reconciliation does not hold for: {bad}; see the table above, the report "
            f"{cfg.report} and the logs in {cfg.state_dir / 'logs'}"
        )
    demo.console.print(
        f"[bold green]Demo finished in {total:.0f}s: every produced record is accounted for.[/]"
    )
    return record


def slowest_pages(reader: LakeReader) -> tuple[str, list[dict[str, Any]]]:
    """The last event date and its pages with the highest p95 TTI (ETL-stored percentiles)."""
    table = reader.table(
        reader.layout.processed_page_metrics,
        columns=["event_date", "service", "page", "views", "tti_p50", "tti_p95", "tti_p99",
                 "error_rate"],
    )  # fmt: skip
    if table is None or table.num_rows == 0:
        return "", []
    rows = table.to_pylist()
    last = max(r["event_date"] for r in rows)
    ranked = sorted(
        (
            r for r in rows
            if r["event_date"] == last and r["views"] >= MIN_VIEWS and r["tti_p95"] is not None
        ),
        key=lambda r: -r["tti_p95"],
    )  # fmt: skip
    return last.isoformat(), ranked[:TOP_PAGES]


def duckdb_one_liner(demo: Demo) -> str:
    """A shell command that queries the processed table with DuckDB over delta-rs."""
    layout = demo.cfg.layout
    table_uri = layout.processed_page_metrics
    options = ""
    if not layout.is_local:
        table_uri = "s3://" + table_uri.split("://", 1)[1]
        options = (
            f', storage_options=dict(AWS_ENDPOINT_URL="{demo.state.s3_endpoint}", '
            'AWS_ALLOW_HTTP="true", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", '
            'AWS_SECRET_ACCESS_KEY="testing")'
        )
    code = (
        "import duckdb, deltalake; "
        f'pm = deltalake.DeltaTable("{table_uri}"{options}).to_pyarrow_dataset(); '
        'duckdb.sql("SELECT event_date, page, sum(views) AS views, round(max(tti_p95)) AS p95_ms '
        'FROM pm GROUP BY ALL ORDER BY event_date DESC, p95_ms DESC LIMIT 10").show()'
    )
    return f"hatch run python -c {shlex.quote(code)}"


def print_where(demo: Demo) -> None:
    """The closing panel: lake, report, query, logs, how to re-run and stop."""
    from rich.panel import Panel

    cfg = demo.cfg
    lines = [
        f"[bold]lake[/]           {cfg.lake}",
        f"[bold]report[/]         {cfg.report.as_uri()}",
        f"[bold]topic[/]          {demo.book.topic}  (Kafka {demo.state.kafka_bootstrap})",
        f"[bold]control table[/]  {demo.book.control_table}  (moto {demo.state.aws_endpoint})",
        f"[bold]logs, ETL runs[/] {cfg.state_dir}",
        "",
        "[bold]run again[/]      hatch run demo        (reuses this lake: nothing is doubled)",
        "[bold]start over[/]     hatch run demo --fresh",
        "[bold]stop the stack[/] hatch run loglake stack down   (--purge also deletes its data)",
    ]
    demo.console.print(Panel("\n".join(lines), title="where everything is", expand=False))
    demo.console.print("[bold]Query it[/] (DuckDB over the Delta table, read by delta-rs):")
    # One unbroken line, so that it can be copied and pasted as it is.
    demo.console.print(duckdb_one_liner(demo), soft_wrap=True, markup=False, highlight=False)
