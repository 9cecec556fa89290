"""Gather what the report shows: processed tables, ingest counters and the run history.

Everything is read without Spark: the Delta tables through `loglake_tools.reconcile`
(delta-rs + pyarrow) and the orchestrator's run history straight from the control
table (DynamoDB, or moto's server on the local stack). Aggregations that need more than
a group-by (percentiles over merged histograms) are done in Python on small tables:
the processed zone has one row per (date, service, page), not one per event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from loglake_core.histogram import merge_all, percentile_from_histogram, total
from loglake_tools.reconcile import LakeCounts, LakeReader, lake_counts

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

ENV_CONTROL_TABLE: Final = "LOGLAKE_CONTROL_TABLE"
ENV_AWS_ENDPOINT: Final = "LOGLAKE_AWS_ENDPOINT"
ENV_JOB_NAME: Final = "LOGLAKE_JOB_NAME"
DEFAULT_CONTROL_TABLE: Final = "loglake-control"
DEFAULT_JOB_NAME: Final = "loglake-etl"
#: Quantiles drawn per page and day.
QUANTILES: Final = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))

# Columns of processed/page_metrics_daily and processed/errors_hourly.
PM_DATE: Final = "event_date"
PM_SERVICE: Final = "service"
PM_PAGE: Final = "page"
PM_VIEWS: Final = "views"
PM_HIST: Final = "tti_histogram"
EH_DATE: Final = "event_date"
EH_HOUR: Final = "hour"
EH_SERVICE: Final = "service"
EH_SIGNALS: Final = "events"


@dataclass(frozen=True)
class PageDay:
    """TTI of one page on one day, all services merged.

    Attributes:
        page: normalised page.
        day: event date.
        views: page views.
        histogram: merged TTI histogram (bucket index -> count).
    """

    page: str
    day: date
    views: int
    histogram: dict[int, int]

    def quantile(self, q: float) -> float | None:
        """TTI quantile ``q`` from the merged histogram (within 1%)."""
        return percentile_from_histogram(self.histogram, q)


@dataclass(frozen=True)
class ReportData:
    """Everything the report draws.

    Attributes:
        lake: the lake's base URI.
        generated_at: when the data was read (UTC).
        page_days: per page and day, histograms merged over services.
        page_rows: the processed page metrics rows as dicts (per date, service, page).
        error_hours: (hour, service, events, errors) rows of errors_hourly.
        counts: raw/quarantine/batch counts of the lake.
        runs: the orchestrator's run history (newest first), as plain dicts.
        runs_note: why the run history is empty, when it is.
        recon: optional reconciliation rows to show (from the demo).
    """

    lake: str
    generated_at: datetime
    page_days: list[PageDay] = field(default_factory=list)
    page_rows: list[dict[str, Any]] = field(default_factory=list)
    error_hours: list[tuple[datetime, str, int, int]] = field(default_factory=list)
    counts: LakeCounts = field(default_factory=LakeCounts)
    runs: list[dict[str, Any]] = field(default_factory=list)
    runs_note: str | None = None

    @property
    def days(self) -> list[date]:
        """The event dates in the processed zone, in order."""
        return sorted({p.day for p in self.page_days})

    @property
    def pages_by_views(self) -> list[str]:
        """Pages, most viewed first."""
        views: dict[str, int] = {}
        for p in self.page_days:
            views[p.page] = views.get(p.page, 0) + p.views
        return sorted(views, key=lambda k: (-views[k], k))

    def page_histograms(self, day: date | None = None) -> dict[str, dict[int, int]]:
        """Merged histogram per page, over every day or only ``day``."""
        grouped: dict[str, list[dict[int, int]]] = {}
        for p in self.page_days:
            if day is None or p.day == day:
                grouped.setdefault(p.page, []).append(p.histogram)
        return {page: merge_all(hs) for page, hs in grouped.items()}

    def slowest_pages(
        self, n: int, *, day: date | None = None, q: float = 0.95, min_views: int = 1
    ) -> list[tuple[str, float, int]]:
        """The ``n`` pages with the highest TTI quantile ``q``: (page, value, views)."""
        ranked: list[tuple[str, float, int]] = []
        for page, hist in self.page_histograms(day).items():
            views = total(hist)
            value = percentile_from_histogram(hist, q)
            if value is not None and views >= min_views:
                ranked.append((page, value, views))
        ranked.sort(key=lambda r: (-r[1], r[0]))
        return ranked[:n]


def load_report_data(
    reader: LakeReader,
    *,
    control_table: str | None = None,
    aws_endpoint: str | None = None,
    job_name: str | None = None,
) -> ReportData:
    """Read the lake (and the control table) into a `ReportData`.

    Args:
        reader: reader of the lake.
        control_table: DynamoDB control table; ``$LOGLAKE_CONTROL_TABLE`` or
            ``loglake-control`` when ``None``; an empty string skips the run history.
        aws_endpoint: DynamoDB endpoint (``$LOGLAKE_AWS_ENDPOINT``; AWS when unset).
        job_name: the ETL job whose runs are listed (``$LOGLAKE_JOB_NAME`` or ``loglake-etl``).
    """
    layout = reader.layout
    metrics = reader.table(layout.processed_page_metrics)
    errors = reader.table(layout.processed_errors_hourly)
    table_name = (
        control_table
        if control_table is not None
        else os.environ.get(ENV_CONTROL_TABLE, DEFAULT_CONTROL_TABLE)
    )
    runs: list[dict[str, Any]] = []
    note: str | None = None
    if table_name:
        try:
            runs = load_run_history(
                table_name,
                job_name=job_name or os.environ.get(ENV_JOB_NAME, DEFAULT_JOB_NAME),
                endpoint=aws_endpoint or os.environ.get(ENV_AWS_ENDPOINT),
            )
            if not runs:
                note = f"no run recorded in control table {table_name!r}"
        except Exception as exc:
            note = f"run history unavailable: control table {table_name!r}: {exc}"
            log.warning("%s", note)
    else:
        note = "no control table given"
    return ReportData(
        lake=layout.base,
        generated_at=datetime.now(UTC),
        page_days=page_days_of(metrics),
        page_rows=metrics.to_pylist() if metrics is not None else [],
        error_hours=error_hours_of(errors, raw_events_per_hour(reader)),
        counts=lake_counts(reader),
        runs=runs,
        runs_note=note,
    )


def page_days_of(metrics: pa.Table | None) -> list[PageDay]:
    """Merge the per-service rows of page_metrics_daily into one `PageDay` per page and day."""
    if metrics is None or metrics.num_rows == 0:
        return []
    merged: dict[tuple[str, date], tuple[int, list[dict[int, int]]]] = {}
    for row in metrics.select([PM_DATE, PM_PAGE, PM_VIEWS, PM_HIST]).to_pylist():
        key = (row[PM_PAGE], row[PM_DATE])
        views, hists = merged.get(key, (0, []))
        hists.append(_as_histogram(row[PM_HIST]))
        merged[key] = (views + int(row[PM_VIEWS] or 0), hists)
    return [
        PageDay(page=page, day=day, views=views, histogram=merge_all(hists))
        for (page, day), (views, hists) in sorted(merged.items())
    ]


def error_hours_of(
    errors: pa.Table | None, raw_hourly: Mapping[tuple[datetime, str], int] | None = None
) -> list[tuple[datetime, str, int, int]]:
    """(hour, service, events, errors) per hour and service.

    ``errors`` is processed/errors_hourly (error signals per date, hour, service, level
    and status class); its counts are summed over level and status class. ``events`` is
    the number of raw events of the service in that hour (``raw_hourly``), the
    denominator of the error rate; 0 when unknown.
    """
    if errors is None or errors.num_rows == 0:
        return []
    raw_hourly = raw_hourly or {}
    sums: dict[tuple[datetime, str], int] = {}
    for row in errors.select([EH_DATE, EH_HOUR, EH_SERVICE, EH_SIGNALS]).to_pylist():
        d: date = row[EH_DATE]
        hour = datetime(d.year, d.month, d.day, int(row[EH_HOUR]), tzinfo=UTC)
        key = (hour, str(row[EH_SERVICE]))
        sums[key] = sums.get(key, 0) + int(row[EH_SIGNALS] or 0)
    dates = {h.date() for h, _ in sums}
    keys = sorted(set(sums) | {k for k in raw_hourly if k[0].date() in dates})
    return [(h, s, int(raw_hourly.get((h, s), 0)), sums.get((h, s), 0)) for h, s in keys]


def raw_events_per_hour(reader: LakeReader) -> dict[tuple[datetime, str], int]:
    """Raw events per (UTC hour, service): the denominator of the hourly error rate."""
    import pyarrow.compute as pc

    raw = reader.table(reader.layout.raw_events, columns=["event_time", "service"])
    if raw is None or raw.num_rows == 0:
        return {}
    hours = pc.floor_temporal(raw["event_time"], unit="hour")
    grouped = (
        raw.append_column("_hour", hours)
        .group_by(["_hour", "service"])
        .aggregate([("service", "count")])
    )
    return {
        (_as_utc(h), str(s)): int(n)
        for h, s, n in zip(
            grouped["_hour"].to_pylist(),
            grouped["service"].to_pylist(),
            grouped["service_count"].to_pylist(),
            strict=True,
        )
    }


def load_run_history(
    table_name: str, *, job_name: str, endpoint: str | None = None, client: Any = None
) -> list[dict[str, Any]]:
    """The job's run history from the control table (``job#<job>`` / ``run#...`` items).

    Returns:
        One plain dict per run, newest first: run id, status, dates, attempt, runner,
        start and end (UTC), duration in seconds and the error, if any.
    """
    from loglake_core.control_store import ControlStore

    store = ControlStore(table_name, client=client or dynamodb_client(endpoint))
    runs = []
    for run in reversed(store.list_runs(job_name)):
        duration = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
        runs.append(
            {
                "run_id": run.run_id,
                "status": run.status,
                "dates": [d.isoformat() for d in sorted(run.dates)],
                "attempt": run.attempt,
                "runner": run.runner,
                "started_at": run.started_at,
                "ended_at": run.ended_at,
                "duration_s": round(duration, 1) if duration is not None else None,
                "error": run.error,
            }
        )
    return runs


def dynamodb_client(endpoint: str | None) -> Any:
    """A DynamoDB client for ``endpoint`` (AWS when ``None``).

    The region falls back to ``us-east-1``; a local endpoint (moto) gets placeholder
    credentials when the environment has none, since it accepts any.
    """
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region_name": region}
    if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("dynamodb", **kwargs)


def _as_histogram(value: Any) -> dict[int, int]:
    """A histogram cell (pyarrow map -> list of pairs, or a dict) as ``dict[int, int]``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {int(k): int(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return {int(k): int(v) for k, v in value}
    raise TypeError(f"unexpected histogram cell {type(value).__name__}")


def _as_utc(value: datetime) -> datetime:
    """A timestamp as an aware UTC datetime."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
