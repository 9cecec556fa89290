"""Metric definitions of the processed zone, as data.

Two tables are computed from the cleaned raw events (see ``docs/etl.md`` for the
cleaning rules):

``page_metrics_daily`` — grain ``(event_date, service, page)``, one row per page that had
at least one ``page_view`` that day. Its rows come from the events with a non-null
``page`` whose type is ``page_view`` (views, TTI) or ``error`` (error events attributed to
the page).

``errors_hourly`` — grain ``(event_date, hour, service, level, status_class)``, counts of
the *error signals*: events of type ``error``, or with level ``error``/``fatal``, or with a
status code >= 400. ``status_class`` is ``"4xx"``/``"5xx"``/… or ``"none"`` without status.

Each metric is a ``Metric``: a name, a kind (how it aggregates), the column it reads and
a filter (a SQL predicate that Spark SQL and DuckDB both understand). The Spark
expressions live in ``loglake_core.spark.metrics``; reports, benchmarks and checks
read the same definitions.

Example:
    >>> [m.name for m in PAGE_METRICS][:3]
    ['views', 'views_5xx', 'error_events']
    >>> PAGE_METRICS_DAILY.grain
    ('event_date', 'service', 'page')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MetricKind = Literal[
    "count", "count_distinct", "mean", "min", "max", "percentile", "ratio", "histogram"
]

#: The percentiles of TTI stored per page and day. Each is estimated from the row's own
#: ``tti_histogram`` (``loglake_core.histogram.percentile_from_histogram``, then kept
#: within the row's exact min and max), so a daily value and a roll-up of merged daily
#: histograms are the same estimate with the same 0.99% bound.
TTI_PERCENTILES: Final[tuple[tuple[str, float], ...]] = (
    ("tti_p50", 0.50),
    ("tti_p90", 0.90),
    ("tti_p95", 0.95),
    ("tti_p99", 0.99),
)

IS_VIEW: Final = "event_type = 'page_view'"
IS_VIEW_WITH_TTI: Final = "event_type = 'page_view' AND tti_ms IS NOT NULL"
IS_ERROR_EVENT: Final = "event_type = 'error'"
IS_VIEW_5XX: Final = "event_type = 'page_view' AND status_code >= 500"
#: Events that feed ``page_metrics_daily``.
PAGE_EVENTS: Final = "page IS NOT NULL AND event_type IN ('page_view', 'error')"
#: Events that feed ``errors_hourly``.
ERROR_SIGNALS: Final = (
    "event_type = 'error' OR level IN ('error', 'fatal') OR coalesce(status_code, 0) >= 400"
)


@dataclass(frozen=True)
class Metric:
    """One column of a processed table.

    Attributes:
        name: column name.
        kind: how it aggregates (``count`` counts rows matching ``where``).
        column: the event column it reads (``None`` for counts).
        where: SQL predicate selecting the events it aggregates (``None``: all rows).
        q: the quantile, for ``percentile`` (estimated from the ``histogram`` metric of the
            same column and filter).
        numerator: for ``ratio``, the metric names added up on top.
        denominator: for ``ratio``, the metric names added up below.
        type: logical type of the stored column.
        doc: one line for people.
    """

    name: str
    kind: MetricKind
    column: str | None = None
    where: str | None = None
    q: float | None = None
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    type: str = "long"
    doc: str = ""


@dataclass(frozen=True)
class MetricTable:
    """A processed table: its grain, the events it reads and its metrics.

    Attributes:
        name: table name (folder under ``processed/``).
        grain: the key columns, in order; ``event_date`` is the partition column.
        source_filter: SQL predicate selecting the cleaned events it reads.
        metrics: the measured columns, in order.
        having: SQL predicate a group must satisfy to become a row.
    """

    name: str
    grain: tuple[str, ...]
    source_filter: str
    metrics: tuple[Metric, ...]
    having: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Grain then metric names: the stored column order."""
        return self.grain + tuple(m.name for m in self.metrics)

    def metric(self, name: str) -> Metric:
        """The metric called ``name``.

        Raises:
            KeyError: naming the known metrics.
        """
        for m in self.metrics:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.metrics)
        raise KeyError(f"{self.name} has no metric {name!r}; known: {known}")


PAGE_METRICS: Final[tuple[Metric, ...]] = (
    Metric("views", "count", where=IS_VIEW, doc="page_view events."),
    Metric("views_5xx", "count", where=IS_VIEW_5XX, doc="page_view events with status >= 500."),
    Metric("error_events", "count", where=IS_ERROR_EVENT,
           doc="error events whose page_url normalises to this page."),
    Metric("sessions", "count_distinct", column="session_id", where=IS_VIEW,
           doc="Exact number of distinct non-null session ids among the views."),
    Metric("tti_count", "count", where=IS_VIEW_WITH_TTI, doc="Views with a TTI value."),
    Metric("tti_mean", "mean", column="tti_ms", where=IS_VIEW, type="double",
           doc="Mean TTI of the views, ms."),
    Metric("tti_min", "min", column="tti_ms", where=IS_VIEW, type="double",
           doc="Smallest TTI, ms."),
    Metric("tti_max", "max", column="tti_ms", where=IS_VIEW, type="double", doc="Largest TTI, ms."),
    *(
        Metric(name, "percentile", column="tti_ms", where=IS_VIEW_WITH_TTI, q=q, type="double",
               doc=f"TTI percentile {q:g} from tti_histogram (within 0.99% of the exact "
                   "lower-rank value), ms.")
        for name, q in TTI_PERCENTILES
    ),
    Metric("error_rate", "ratio", numerator=("views_5xx", "error_events"),
           denominator=("views", "error_events"), type="double",
           doc="(views with status >= 500 + error events) / (views + error events), in [0, 1]."),
    Metric("tti_histogram", "histogram", column="tti_ms", where=IS_VIEW_WITH_TTI,
           type="map<int,long>",
           doc="Log-bucket TTI histogram (loglake_core.histogram): bucket index -> views."),
)  # fmt: skip

ERROR_METRICS: Final[tuple[Metric, ...]] = (
    Metric("events", "count", doc="Error signals in the hour."),
    Metric("error_events", "count", where=IS_ERROR_EVENT, doc="Of which events of type error."),
    Metric("page_views", "count", where=IS_VIEW, doc="Of which page views (status >= 400)."),
    Metric("api_requests", "count", where="event_type = 'api_request'",
           doc="Of which API requests (status >= 400 or level error/fatal)."),
)  # fmt: skip

PAGE_METRICS_DAILY: Final = MetricTable(
    name="page_metrics_daily",
    grain=("event_date", "service", "page"),
    source_filter=PAGE_EVENTS,
    metrics=PAGE_METRICS,
    having="views > 0",
)

ERRORS_HOURLY: Final = MetricTable(
    name="errors_hourly",
    grain=("event_date", "hour", "service", "level", "status_class"),
    source_filter=ERROR_SIGNALS,
    metrics=ERROR_METRICS,
)

#: Derived grain columns of ``errors_hourly``, as SQL over the cleaned events.
HOUR_SQL: Final = "hour(event_time)"
STATUS_CLASS_SQL: Final = (
    "CASE WHEN status_code IS NULL THEN 'none' "
    "ELSE concat(CAST(CAST(floor(status_code / 100) AS INT) AS STRING), 'xx') END"
)

#: Metric columns that may never be negative (checked by the ETL's quality gates).
NON_NEGATIVE: Final[tuple[str, ...]] = tuple(
    m.name for m in PAGE_METRICS if m.kind not in ("histogram",)
)
#: Percentile columns that must be ordered: p50 <= p90 <= p95 <= p99 <= max.
ORDERED_TTI: Final[tuple[str, ...]] = (*(name for name, _ in TTI_PERCENTILES), "tti_max")

TABLES: Final[tuple[MetricTable, ...]] = (PAGE_METRICS_DAILY, ERRORS_HOURLY)


def table(name: str) -> MetricTable:
    """The processed table called ``name``.

    Raises:
        KeyError: naming the known tables.

    Example:
        >>> table("errors_hourly").grain[1]
        'hour'
    """
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(f"no processed table {name!r}; known: {', '.join(t.name for t in TABLES)}")
