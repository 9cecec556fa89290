"""The report's charts, as plotly figures built from a `ReportData`.

Each function returns a figure with a fixed height (so the page lays out before the
scripts run) or ``None`` when there is nothing to draw; the page then says so in words.
plotly.js is inlined once by `loglake_tools.report.html`, so the figures need no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from loglake_core.histogram import bucket_bounds, percentile_from_histogram

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from loglake_tools.report.data import ReportData

#: Colour of each series, in order (colour-blind safe, from plotly's qualitative sets).
PALETTE: Final = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Fewer views than this on a day leave a gap in the TTI lines (too noisy to plot).
MIN_POINT_VIEWS: Final = 20
#: Fewer events than this in an hour leave the heatmap cell blank.
MIN_HOUR_EVENTS: Final = 20
#: Consecutive 2%-wide histogram buckets drawn as one bar (1.02**8 ~ 17% wide).
DISPLAY_BUCKET_SPAN: Final = 8
FONT: Final = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def _layout(
    fig: go.Figure,
    *,
    height: int,
    title: str | None = None,
    legend_y: float = 1.04,
    top: int = 70,
) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": top, "b": 50},
        template="plotly_white",
        font={"family": FONT, "size": 12},
        title={"text": title} if title else None,
        legend={"orientation": "h", "yanchor": "bottom", "y": legend_y, "x": 0},
    )
    return fig


def tti_over_days(data: ReportData, *, n_pages: int = 8) -> go.Figure | None:
    """Lines of TTI p50, p95 and p99 per day for the most viewed pages (one panel each).

    Quantiles come from the histograms merged over services, so a page served by
    several services has one line.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not data.page_days:
        return None
    pages = data.pages_by_views[:n_pages]
    by_page = {p: [d for d in data.page_days if d.page == p] for p in pages}
    fig = make_subplots(
        rows=1,
        cols=len(_quantiles()),
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=[f"TTI {name} (ms)" for name, _ in _quantiles()],
    )
    mode = "lines+markers"
    for col, (name, q) in enumerate(_quantiles(), start=1):
        for i, page in enumerate(pages):
            days = by_page[page]
            fig.add_trace(
                go.Scatter(
                    x=[d.day.isoformat() for d in days],
                    y=[d.quantile(q) if d.views >= MIN_POINT_VIEWS else None for d in days],
                    name=page,
                    legendgroup=page,
                    showlegend=col == 1,
                    mode=mode,
                    line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                    hovertemplate=f"{page}<br>%{{x}}<br>{name} %{{y:.0f}} ms<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(type="category", row=1, col=col)
    fig.update_yaxes(title_text="ms", row=1, col=1, rangemode="tozero")
    return _layout(fig, height=440, legend_y=1.12)


def tti_distribution(data: ReportData, *, n_pages: int = 5) -> go.Figure | None:
    """Share of views per TTI range for the slowest pages (by p95 over all days).

    Drawn from the stored mergeable histograms: adjacent 2% buckets are summed into
    ~17% wide ranges, on a logarithmic TTI axis.
    """
    import plotly.graph_objects as go

    slowest = data.slowest_pages(n_pages, min_views=MIN_POINT_VIEWS)
    if not slowest:
        return None
    hists = data.page_histograms()
    fig = go.Figure()
    for i, (page, p95, views) in enumerate(slowest):
        xs, ys = _display_bins(hists[page])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=f"{page} (p95 {p95:,.0f} ms, {views:,} views)",
                mode="lines",
                line={"shape": "hv", "width": 2, "color": PALETTE[i % len(PALETTE)]},
                fill="tozeroy" if i == 0 else None,
                hovertemplate="TTI ≥ %{x:.0f} ms: %{y:.2f}% of views<extra>" + page + "</extra>",
            )
        )
        fig.add_vline(x=p95, line={"dash": "dot", "width": 1, "color": PALETTE[i % len(PALETTE)]})
    fig.update_xaxes(type="log", title_text="TTI (ms, log scale)")
    fig.update_yaxes(title_text="% of page views", rangemode="tozero")
    return _layout(fig, height=420)


def error_heatmap(data: ReportData) -> go.Figure | None:
    """Heatmap of the error rate (errors / events, %) per service and hour."""
    import plotly.graph_objects as go

    if not data.error_hours:
        return None
    hours = sorted({h for h, _, _, _ in data.error_hours})
    services = sorted({s for _, s, _, _ in data.error_hours})
    cell = {(h, s): (e, x) for h, s, e, x in data.error_hours}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for s in services:
        zr: list[float | None] = []
        tr: list[str] = []
        for h in hours:
            events, errors = cell.get((h, s), (0, 0))
            zr.append(100.0 * errors / events if events >= MIN_HOUR_EVENTS else None)
            tr.append(f"{errors:,} errors / {events:,} events")
        z.append(zr)
        text.append(tr)
    fig = go.Figure(
        go.Heatmap(
            x=[h.strftime("%Y-%m-%d %H:00") for h in hours],
            y=services,
            z=z,
            text=text,
            colorscale="YlOrRd",
            colorbar={"title": {"text": "error %"}, "thickness": 14},
            hovertemplate="%{y}<br>%{x} UTC<br>%{z:.2f}% (%{text})<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(type="category", nticks=12, title_text="hour (UTC)")
    return _layout(fig, height=max(300, 140 + 40 * len(services)), top=20)


def quarantine_reasons(data: ReportData) -> go.Figure | None:
    """Horizontal bars: quarantined records per reason code."""
    import plotly.graph_objects as go

    reasons = data.counts.quarantine_by_reason
    if not reasons:
        return None
    items = sorted(reasons.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[n for _, n in items],
            y=[code for code, _ in items],
            orientation="h",
            marker={"color": "#d62728"},
            text=[f"{n:,}" for _, n in items],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} records<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="quarantined records")
    fig.update_layout(showlegend=False)
    return _layout(fig, height=max(220, 80 + 30 * len(items)), top=20)


def views_per_day(data: ReportData, *, n_pages: int = 8) -> go.Figure | None:
    """Stacked bars of page views per day for the most viewed pages (the rest as 'other')."""
    import plotly.graph_objects as go

    if not data.page_days:
        return None
    top = data.pages_by_views[:n_pages]
    days = data.days
    fig = go.Figure()
    for i, page in enumerate([*top, "other"]):
        ys = [
            sum(
                p.views
                for p in data.page_days
                if p.day == d and (p.page == page or (page == "other" and p.page not in top))
            )
            for d in days
        ]
        if page == "other" and not any(ys):
            continue
        fig.add_trace(
            go.Bar(
                x=[d.isoformat() for d in days],
                y=ys,
                name=page,
                marker={"color": PALETTE[i % len(PALETTE)] if page != "other" else "#cccccc"},
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text="page views")
    return _layout(fig, height=320)


def _quantiles() -> tuple[tuple[str, float], ...]:
    from loglake_tools.report.data import QUANTILES

    return QUANTILES


def _display_bins(hist: dict[int, int]) -> tuple[list[float], list[float]]:
    """Sum ``DISPLAY_BUCKET_SPAN`` adjacent buckets; x = lower bound (ms), y = % of values.

    The zero bucket (TTI below 1 ms) joins the first range. One extra point with y = 0
    closes the last step.
    """
    n = sum(hist.values())
    if n == 0:
        return [], []
    coarse: dict[int, int] = {}
    for i, c in hist.items():
        k = max(i, 0) // DISPLAY_BUCKET_SPAN
        coarse[k] = coarse.get(k, 0) + c
    xs: list[float] = []
    ys: list[float] = []
    for k in range(min(coarse), max(coarse) + 2):
        xs.append(bucket_bounds(k * DISPLAY_BUCKET_SPAN)[0])
        ys.append(100.0 * coarse.get(k, 0) / n)
    return xs, ys


def overall_quantile(data: ReportData, q: float) -> float | None:
    """TTI quantile over every page of the last day (None without data)."""
    days = data.days
    if not days:
        return None
    hist: dict[int, int] = {}
    for h in data.page_histograms(days[-1]).values():
        for i, c in h.items():
            hist[i] = hist.get(i, 0) + c
    return percentile_from_histogram(hist, q)
