"""DuckDB SQL for the daily page metrics, built from core's metric definitions.

The DuckDB baseline of ``bench etl`` must do the same work as our ETL, so the SQL follows
the ETL's cleaning rules (dates selected, rows outside their date dropped, exact
de-duplication on ``(event_date, event_id)`` keeping the first ingested copy, ``tti_ms``
and ``status_code`` out of range nulled) and reads every metric (name, kind, filter) from
``loglake_core.metrics.PAGE_METRICS_DAILY``. Percentiles are exact (``quantile_disc``)
rather than read off the histogram as the ETL's are: no less work for DuckDB (its exact
quantiles took about 0.1 s of a 6 s run at 10 M events).

Example:
    >>> "quantile_disc" in page_metrics_sql("cleaned")
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from loglake_core.histogram import EDGE_EPSILON, LN_GAMMA, MIN_VALUE, ZERO_BUCKET
from loglake_core.metrics import PAGE_METRICS_DAILY, Metric
from loglake_core.schema import MAX_TTI_MS


def _date_list(dates: Sequence[str]) -> str:
    for d in dates:
        if len(d) != 10 or d[4] != "-" or d[7] != "-" or not d.replace("-", "").isdigit():
            raise ValueError(f"date {d!r} is not YYYY-MM-DD")
    return ", ".join(f"DATE '{d}'" for d in dates)


def cleaned_sql(source: str, dates: Sequence[str]) -> str:
    """SELECT of the cleaned events of ``dates`` from the view ``source``.

    The connection's ``TimeZone`` must be ``UTC`` (event dates are UTC dates).
    """
    return f"""
    SELECT event_date, event_time, event_type, service, page, session_id,
           CASE WHEN tti_ms >= 0 AND tti_ms < {MAX_TTI_MS!r} AND NOT isnan(tti_ms)
                THEN tti_ms END AS tti_ms,
           CASE WHEN status_code BETWEEN 100 AND 599 THEN status_code END AS status_code
    FROM (
        SELECT *,
               row_number() OVER (
                   PARTITION BY event_date, event_id
                   ORDER BY _in_date DESC, ingest_time ASC NULLS LAST,
                            kafka_offset ASC NULLS LAST, kafka_partition ASC NULLS LAST,
                            kafka_topic ASC NULLS LAST) AS _rank
        FROM (
            SELECT *, coalesce(CAST(event_time AS DATE) = event_date, false)
                   AS _in_date
            FROM {source}
            WHERE event_date IN ({_date_list(dates)})
        )
    )
    WHERE _in_date AND _rank = 1
    """


def _agg(m: Metric) -> str:
    where = f" FILTER (WHERE {m.where})" if m.where else ""
    if m.kind == "count":
        return f"count(*){where} AS {m.name}"
    if m.kind == "count_distinct":
        return f"count(DISTINCT {m.column}){where} AS {m.name}"
    if m.kind == "mean":
        return f"avg({m.column}){where} AS {m.name}"
    if m.kind in ("min", "max"):
        return f"{m.kind}({m.column}){where} AS {m.name}"
    raise ValueError(f"metric {m.name} of kind {m.kind} is not a single aggregate")


def page_metrics_sql(cleaned: str) -> str:
    """SELECT of ``page_metrics_daily`` from ``cleaned``, a relation of `cleaned_sql` rows."""
    table = PAGE_METRICS_DAILY
    grain = ", ".join(table.grain)
    metrics = table.metrics
    scalars = [_agg(m) for m in metrics if m.kind not in ("ratio", "histogram", "percentile")]
    pcts = [m for m in metrics if m.kind == "percentile"]
    hists = [m for m in metrics if m.kind == "histogram"]
    select = list(scalars)
    if pcts:
        qs = ", ".join(repr(m.q) for m in pcts)
        where = f" FILTER (WHERE {pcts[0].where})" if pcts[0].where else ""
        select.append(f"quantile_disc({pcts[0].column}, [{qs}]){where} AS _pcts")
    for h in hists:
        bucket = (
            f"CASE WHEN {h.column} < {MIN_VALUE!r} THEN {ZERO_BUCKET} "
            f"ELSE CAST(ceil(ln({h.column}) / {LN_GAMMA!r} - {EDGE_EPSILON!r}) AS INTEGER) END"
        )
        where = f" FILTER (WHERE {h.where})" if h.where else ""
        select.append(f"histogram({bucket}){where} AS {h.name}")
    outer = [*table.grain]
    for m in metrics:
        if m.kind == "percentile":
            outer.append(f"_pcts[{pcts.index(m) + 1}] AS {m.name}")
        elif m.kind == "ratio":
            num = " + ".join(m.numerator) or "0"
            den = " + ".join(m.denominator) or "0"
            outer.append(
                f"CASE WHEN ({den}) > 0 THEN CAST({num} AS DOUBLE) / ({den}) ELSE 0.0 END "
                f"AS {m.name}"
            )
        else:
            outer.append(m.name)
    having = f"WHERE {table.having}" if table.having else ""
    return f"""
    WITH agg AS (
        SELECT {grain}, {", ".join(select)}
        FROM {cleaned}
        WHERE {table.source_filter}
        GROUP BY {grain}
    )
    SELECT {", ".join(outer)} FROM agg {having}
    """
