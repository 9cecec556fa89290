"""The ETL equals an independent DuckDB computation on 200k+ generated events."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

from loglake_core.histogram import (
    MIN_VALUE,
    RELATIVE_ACCURACY,
    histogram_of,
    merge_all,
    percentile_from_histogram,
)
from loglake_core.layout import LakeLayout
from loglake_core.metrics import TTI_PERCENTILES

from .conftest import GeneratedRaw, append_raw

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from loglake_glue_etl.result import EtlResult

pytestmark = pytest.mark.spark

CLEAN_SQL = """
CREATE TABLE clean AS
SELECT * FROM read_parquet('{parquet}')
WHERE event_date IN ({dates})
  AND event_date = CAST(make_timestamp(event_time) AS DATE)
QUALIFY row_number() OVER (PARTITION BY event_date, event_id
                           ORDER BY ingest_time, kafka_offset) = 1
"""

PAGES_SQL = """
SELECT event_date, service, page,
  count(*) FILTER (WHERE event_type = 'page_view') AS views,
  count(*) FILTER (WHERE event_type = 'page_view' AND status_code >= 500) AS views_5xx,
  count(*) FILTER (WHERE event_type = 'error') AS error_events,
  count(DISTINCT session_id) FILTER (WHERE event_type = 'page_view') AS sessions,
  avg(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_mean,
  min(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_min,
  max(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_max,
  list_sort(list(tti_ms) FILTER (WHERE event_type = 'page_view')) AS ttis
FROM clean
WHERE page IS NOT NULL AND event_type IN ('page_view', 'error')
GROUP BY ALL
HAVING count(*) FILTER (WHERE event_type = 'page_view') > 0
"""

ERRORS_SQL = """
SELECT event_date, hour(make_timestamp(event_time)) AS hour, service,
  coalesce(level, 'info') AS level,
  CASE WHEN status_code IS NULL THEN 'none' ELSE CAST(status_code // 100 AS VARCHAR) || 'xx' END
    AS status_class,
  count(*) AS events,
  count(*) FILTER (WHERE event_type = 'error') AS error_events,
  count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
  count(*) FILTER (WHERE event_type = 'api_request') AS api_requests
FROM clean
WHERE event_type = 'error' OR level IN ('error', 'fatal') OR status_code >= 400
GROUP BY ALL
"""


class Reference:
    """The same metrics computed by DuckDB straight from the generated Parquet."""

    def __init__(self, raw: GeneratedRaw) -> None:
        import duckdb

        con = duckdb.connect()
        dates = ", ".join(f"DATE '{d}'" for d in raw.dates)
        con.execute(CLEAN_SQL.format(parquet=raw.parquet, dates=dates))
        self.rows_read = _one(
            con, f"SELECT count(*) FROM read_parquet('{raw.parquet}') WHERE event_date IN ({dates})"
        )
        self.rows_after_dedup = _one(con, "SELECT count(*) FROM clean")
        self.pages = {(r["event_date"], r["service"], r["page"]): r for r in _dicts(con, PAGES_SQL)}
        self.errors = _dicts(con, ERRORS_SQL)
        con.close()


def _one(con: Any, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def _dicts(con: Any, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def etl_run(
    spark: SparkSession, big_raw: GeneratedRaw, tmp_path_factory: pytest.TempPathFactory
) -> tuple[EtlResult, dict[tuple[Any, ...], dict[str, Any]], list[dict[str, Any]]]:
    from loglake_glue_etl.job import run_etl

    lake = LakeLayout.from_uri(str(tmp_path_factory.mktemp("etl-correct") / "lake"))
    append_raw(spark, lake, big_raw.parquet)
    result = run_etl(spark, lake, big_raw.dates)
    pages = {
        (r["event_date"], r["service"], r["page"]): r.asDict(recursive=True)
        for r in spark.read.format("delta").load(lake.processed_page_metrics).collect()
    }
    errors = [
        r.asDict() for r in spark.read.format("delta").load(lake.processed_errors_hourly).collect()
    ]
    return result, pages, errors


@pytest.fixture(scope="module")
def reference(big_raw: GeneratedRaw) -> Reference:
    return Reference(big_raw)


def test_row_counts_are_exact(etl_run: Any, reference: Reference, big_raw: GeneratedRaw) -> None:
    result, _, _ = etl_run
    assert big_raw.rows >= 200_000
    assert result.status == "ok"
    assert result.rows_read == reference.rows_read
    assert result.rows_after_dedup == reference.rows_after_dedup
    assert result.duplicates_dropped > 10_000  # ~6% exact duplicates were generated
    assert result.rows_outside_date > 0
    assert (
        result.rows_read
        == result.rows_after_dedup + result.duplicates_dropped + result.rows_outside_date
    )
    assert result.rows_written == {
        "page_metrics_daily": len(reference.pages),
        "errors_hourly": len(reference.errors),
    }
    assert result.dates == [d.isoformat() for d in big_raw.dates]
    assert sum(result.rows_by_date.values()) == result.rows_after_dedup


def test_page_counts_and_tti_moments(etl_run: Any, reference: Reference) -> None:
    _, pages, _ = etl_run
    assert set(pages) == set(reference.pages)
    for key, ref in reference.pages.items():
        got = pages[key]
        for col in ("views", "views_5xx", "error_events", "sessions"):
            assert got[col] == ref[col], (key, col)
        assert got["tti_count"] == len(ref["ttis"])
        assert got["tti_mean"] == pytest.approx(ref["tti_mean"], rel=1e-9)
        assert got["tti_min"] == ref["tti_min"]
        assert got["tti_max"] == ref["tti_max"]
        expected_rate = (ref["views_5xx"] + ref["error_events"]) / (
            ref["views"] + ref["error_events"]
        )
        assert got["error_rate"] == pytest.approx(expected_rate, rel=1e-12)


def test_daily_percentiles_are_the_histogram_estimate_within_one_percent(
    etl_run: Any, reference: Reference
) -> None:
    _, pages, _ = etl_run
    for key, ref in reference.pages.items():
        ttis: list[float] = ref["ttis"]
        for name, q in TTI_PERCENTILES:
            value = pages[key][name]
            exact = ttis[math.floor(q * (len(ttis) - 1))]
            # within 0.99% (below 1 ms: within 1 ms, the zero bucket's width)
            assert abs(value - exact) <= max(RELATIVE_ACCURACY * exact, MIN_VALUE), (key, name)
            # the same estimate a roll-up reads off the stored histogram, kept in [min, max]
            estimate = percentile_from_histogram(pages[key]["tti_histogram"], q)
            assert estimate is not None
            clamped = min(max(estimate, ttis[0]), ttis[-1])
            assert value == pytest.approx(clamped, rel=1e-12), (key, name)


def test_histograms_are_exact_and_percentiles_within_one_percent(
    etl_run: Any, reference: Reference
) -> None:
    _, pages, _ = etl_run
    for key, ref in reference.pages.items():
        ttis: list[float] = ref["ttis"]
        hist = pages[key]["tti_histogram"]
        assert hist == histogram_of(ttis), key
        for _, q in TTI_PERCENTILES:
            exact = ttis[math.floor(q * (len(ttis) - 1))]
            estimate = percentile_from_histogram(hist, q)
            assert estimate is not None
            _assert_within(estimate, exact)


def test_weekly_rollup_from_merged_histograms(etl_run: Any, reference: Reference) -> None:
    _, pages, _ = etl_run
    merged: dict[tuple[str, str], list[dict[int, int]]] = defaultdict(list)
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (day, service, page), row in pages.items():
        assert isinstance(day, date)
        merged[(service, page)].append(row["tti_histogram"])
        values[(service, page)].extend(reference.pages[(day, service, page)]["ttis"])
    assert len(next(iter(merged.values()))) == 4
    for key, hists in merged.items():
        week = merge_all(hists)
        everything = sorted(values[key])
        for _, q in TTI_PERCENTILES:
            estimate = percentile_from_histogram(week, q)
            assert estimate is not None
            _assert_within(estimate, everything[math.floor(q * (len(everything) - 1))])


def test_errors_hourly_equals_reference(etl_run: Any, reference: Reference) -> None:
    _, _, errors = etl_run

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(r[c] for c in ("event_date", "hour", "service", "level", "status_class"))

    got = {key(r): r for r in errors}
    want = {key(r): r for r in reference.errors}
    assert got.keys() == want.keys()
    for k, ref in want.items():
        for col in ("events", "error_events", "page_views", "api_requests"):
            assert got[k][col] == ref[col], (k, col)


def _assert_within(estimate: float, exact: float) -> None:
    if exact < MIN_VALUE:
        assert estimate == 0.0
    else:
        assert abs(estimate - exact) / exact <= RELATIVE_ACCURACY, (estimate, exact)
