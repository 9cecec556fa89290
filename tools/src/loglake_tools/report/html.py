"""Assemble the report: one self-contained HTML page (plotly.js inlined once, no network).

The page has a title, summary numbers, then one section per question: how fast are the
pages (TTI over days, distribution of the slowest), where do errors happen (heatmap),
did every event arrive (reconciliation, quarantine reasons), and what did the
orchestrator do (run history).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.report import charts

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from loglake_tools.reconcile import ReconRow
    from loglake_tools.report.data import ReportData

#: Run-history attributes shown first, in this order (others follow, keys hidden).
RUN_COLUMNS: Final = (
    "run_id",
    "status",
    "dates",
    "attempt",
    "runner",
    "started_at",
    "ended_at",
    "duration_s",
    "error",
)
#: Column titles of the run history.
RUN_TITLES: Final = {
    "run_id": "run id",
    "started_at": "started (UTC)",
    "ended_at": "ended (UTC)",
    "duration_s": "seconds",
}
HIDDEN_RUN_KEYS: Final = frozenset({"pk", "sk", "version", "ttl", "expires_at"})
MAX_RUN_COLUMNS: Final = 9

CSS: Final = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#e3e7ee; --bg:#f6f8fb; --ok:#1a7f37; --bad:#cf222e; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); line-height:1.45; }
header { background:#14213d; color:#fff; padding:24px 40px; }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:0; color:#c9d3e6; font-size:14px; }
main { max-width:1320px; margin:0 auto; padding:24px 40px 60px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px;
          padding:18px 22px; margin:0 0 22px; }
section h2 { margin:0 0 4px; font-size:19px; }
section p.lead { margin:0 0 12px; color:var(--muted); font-size:14px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(135px,1fr)); gap:12px;
         margin:0 0 22px; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card .v { font-size:21px; font-weight:650; }
.card .k { color:var(--muted); font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:13.5px; margin:6px 0 4px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); }
th { background:#f0f3f8; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.ok { color:var(--ok); font-weight:600; white-space:nowrap; }
.bad { color:var(--bad); font-weight:600; white-space:nowrap; }
.grid2 { display:grid; grid-template-columns: 3fr 2fr; gap:22px; }
.empty { color:var(--muted); font-style:italic; padding:12px 0; }
.chart { min-height:200px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
"""


def render_html(data: ReportData, *, recon: Sequence[ReconRow] | None = None) -> str:
    """The whole report page for ``data`` (and the demo's reconciliation, when given)."""
    import plotly.offline

    figures = {
        "tti-days": charts.tti_over_days(data),
        "tti-dist": charts.tti_distribution(data),
        "views-days": charts.views_per_day(data),
        "errors-heatmap": charts.error_heatmap(data),
        "quarantine": charts.quarantine_reasons(data),
    }
    days = data.days
    period = f"{days[0].isoformat()} to {days[-1].isoformat()}" if days else "no processed day"
    body = [
        "<header><h1>loglake report</h1>",
        f"<p>Lake <code>{_e(data.lake)}</code> · event dates {_e(period)} · generated "
        f"{_e(data.generated_at.strftime('%Y-%m-%d %H:%M:%S UTC'))}</p></header>",
        "<main>",
        _cards(data),
        _section(
            "Page speed: time to interactive per page over days",
            "TTI p50, p95 and p99 per day of the most viewed pages, from the processed "
            "zone's mergeable histograms (services merged; within 1% of the exact value). "
            f"Days with fewer than {charts.MIN_POINT_VIEWS} views of a page leave a gap.",
            _chart("tti-days", figures["tti-days"]) + _top_pages_table(data),
        ),
        _section(
            "Distribution of TTI for the slowest pages",
            "Share of page views per TTI range (log scale) for the five pages with the "
            "highest p95 over all days; dotted lines mark each page's p95.",
            _chart("tti-dist", figures["tti-dist"]),
        ),
        _section(
            "Page views per day",
            "Views of the most viewed pages, stacked; every other page as 'other'.",
            _chart("views-days", figures["views-days"]),
        ),
        _section(
            "Error rate per service and hour",
            "Error signals (error events, level error/fatal, or HTTP status >= 400; from "
            "processed/errors_hourly) over all raw events of the service in that UTC hour. "
            f"Hours with fewer than {charts.MIN_HOUR_EVENTS} events are left blank.",
            _chart("errors-heatmap", figures["errors-heatmap"]),
        ),
        _section(
            "Ingest reconciliation and quarantine",
            "Every record read from Kafka is in raw, in quarantine, or counted as a "
            "dropped duplicate.",
            '<div class="grid2"><div>'
            + _recon_table(data, recon)
            + "</div><div><h3>Quarantined records per reason</h3>"
            + _chart("quarantine", figures["quarantine"], empty="nothing was quarantined")
            + (_raw_by_date_table(data) if recon is None else "")
            + "</div></div>",
        ),
        _section(
            "Orchestrator run history",
            "ETL runs started by the orchestrator, newest first (from the control table).",
            _runs_table(data),
        ),
        "</main>",
        "<footer>loglake · self-contained report (plotly.js inlined; no network needed)</footer>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>loglake report · {_e(period)}</title>",
            f"<style>{CSS}</style>",
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
            "</head><body>",
            *body,
            "</body></html>",
        ]
    )


def _cards(data: ReportData) -> str:
    c = data.counts
    p95 = charts.overall_quantile(data, 0.95)
    runs_ok = sum(1 for r in data.runs if str(r.get("status", "")).upper() == "SUCCEEDED")
    runs_failed = sum(
        1
        for r in data.runs
        if str(r.get("status", "")).upper() in ("FAILED", "TIMEOUT", "STOPPED", "ERROR")
    )
    cards = [
        (f"{c.raw_rows:,}", "events in raw"),
        (f"{c.quarantined:,}", "quarantined records"),
        (_num(c.duplicates_dropped), "duplicates dropped"),
        (f"{len(data.days)}", "days processed"),
        (f"{len({p.page for p in data.page_days}):,}", "pages"),
        (f"{len({s for _, s, _, _ in data.error_hours}):,}", "services"),
        (f"{p95:,.0f} ms" if p95 is not None else "n/a", "TTI p95, last day, all pages"),
        (f"{runs_ok} ok / {runs_failed} failed", "ETL runs"),
    ]
    inner = "".join(
        f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
        for v, k in cards
    )
    return f'<div class="cards">{inner}</div>'


def _section(title: str, lead: str, content: str) -> str:
    return f'<section><h2>{_e(title)}</h2><p class="lead">{_e(lead)}</p>{content}</section>'


def _chart(div_id: str, fig: go.Figure | None, *, empty: str = "no data in the lake") -> str:
    if fig is None:
        return f'<div class="empty" id="{div_id}-empty">{_e(empty)}</div>'
    inner = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True, "displayModeBar": False},
    )
    return f'<div class="chart">{inner}</div>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: set[int]) -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(v if isinstance(v, _Raw) else f"<td{cls}>{_e(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """A pre-rendered table cell."""


def _top_pages_table(data: ReportData) -> str:
    days = data.days
    if not days:
        return ""
    last = days[-1]
    from loglake_core.histogram import percentile_from_histogram as pct

    hists = data.page_histograms(last)
    rows = []
    for page, _p95, views in data.slowest_pages(10, day=last, min_views=charts.MIN_POINT_VIEWS):
        hist = hists[page]
        rows.append([page, views, pct(hist, 0.5), pct(hist, 0.95), pct(hist, 0.99)])
    return f"<h3>Slowest pages on {last.isoformat()} (by p95)</h3>" + _table(
        ["page", "views", "p50 ms", "p95 ms", "p99 ms"], rows, numeric={1, 2, 3, 4}
    )


def _recon_table(data: ReportData, recon: Sequence[ReconRow] | None) -> str:
    from loglake_tools.reconcile import reconcile

    rows = list(recon) if recon is not None else reconcile(None, data.counts)
    cells = [
        [
            r.kind,
            r.produced,
            r.landed,
            r.where,
            _Raw(
                f'<td class="{"ok" if r.ok else "bad"}">{"✓ equal" if r.ok else "✗ differs"}</td>'
            ),
        ]
        for r in rows
    ]
    heading = "produced" if recon is not None else "expected"
    return (
        "<h3>Reconciliation</h3>"
        + _table(["what", heading, "in the lake", "where", "check"], cells, numeric={1, 2})
        + f"<p class='lead'>{data.counts.batches:,} ingest micro-batches committed; "
        f"raw holds {data.counts.raw_distinct_ids:,} distinct event ids in "
        f"{data.counts.raw_rows:,} rows.</p>"
    )


def _raw_by_date_table(data: ReportData) -> str:
    by_date = data.counts.raw_by_date
    if not by_date:
        return ""
    return "<h3>Raw events per event date</h3>" + _table(
        ["event date", "rows"], [[d, n] for d, n in by_date.items()], numeric={1}
    )


def _runs_table(data: ReportData) -> str:
    if not data.runs:
        return f'<div class="empty">{_e(data.runs_note or "no run recorded")}</div>'
    keys: list[str] = [k for k in RUN_COLUMNS if any(k in r for r in data.runs)]
    for r in data.runs:
        keys.extend(k for k in r if k not in keys and k not in HIDDEN_RUN_KEYS)
    keys = keys[:MAX_RUN_COLUMNS]
    numeric = {
        i
        for i, k in enumerate(keys)
        if all(isinstance(r.get(k), int | float) for r in data.runs if r.get(k) is not None)
    }
    rows = [[_short(r.get(k)) for k in keys] for r in data.runs]
    return _table([RUN_TITLES.get(k, k) for k in keys], rows, numeric=numeric)


def _short(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _num(value: int | None) -> str:
    return f"{value:,}" if value is not None else "n/a"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
