"""Reruns replace exactly their dates; gates and injected failures write nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from loglake_core.layout import LakeLayout
from loglake_glue_etl.errors import EtlError, InjectedFailureError, QualityGateError

from .conftest import FIRST_DAY, GeneratedRaw, append_raw, generate_raw_parquet, read_table

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]


@pytest.fixture(scope="module")
def small_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> LakeLayout:
    """A lake with 30k raw events over three days, processed once."""
    from loglake_glue_etl.job import run_etl

    root = tmp_path_factory.mktemp("etl-reruns")
    raw = generate_raw_parquet(root / "raw.parquet", n=30_000, days=3, seed=0.11)
    lake = LakeLayout.from_uri(str(root / "lake"))
    append_raw(spark, lake, raw.parquet)
    run_etl(spark, lake, DAYS)
    return lake


def _version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])


def _by_date(rows: list[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    out: dict[date, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["event_date"], []).append(r)
    return out


def _snapshot(spark: SparkSession, lake: LakeLayout) -> tuple[list[Any], list[Any]]:
    return (
        read_table(spark, lake.processed_page_metrics),
        read_table(spark, lake.processed_errors_hourly),
    )


def _assert_same_tables(
    got: tuple[list[Any], list[Any]], want: tuple[list[Any], list[Any]]
) -> None:
    """Equal tables, doubles within 1e-12 relative (summation order moves the last bits)."""
    for got_rows, want_rows in zip(got, want, strict=True):
        assert len(got_rows) == len(want_rows)
        for g, w in zip(got_rows, want_rows, strict=True):
            assert g.keys() == w.keys()
            for key, value in w.items():
                if isinstance(value, float):
                    assert g[key] == pytest.approx(value, rel=1e-12), (key, g, w)
                else:
                    assert g[key] == value, (key, g, w)


def test_rerun_gives_identical_output(spark: SparkSession, small_lake: LakeLayout) -> None:
    from loglake_glue_etl.job import run_etl

    before = _snapshot(spark, small_lake)
    version = _version(spark, small_lake.processed_page_metrics)
    result = run_etl(spark, small_lake, DAYS)
    assert _snapshot(spark, small_lake) == before
    assert _version(spark, small_lake.processed_page_metrics) == version + 1
    assert result.rows_written["page_metrics_daily"] == len(before[0])
    assert result.rows_written["errors_hourly"] == len(before[1])


def test_rerun_after_late_rows_changes_only_that_date(
    spark: SparkSession, small_lake: LakeLayout, tmp_path: Path
) -> None:
    from loglake_glue_etl.job import run_etl

    pages_before, errors_before = _snapshot(spark, small_lake)
    late_day = DAYS[1]
    late: GeneratedRaw = generate_raw_parquet(
        tmp_path / "late.parquet", n=600, days=1, seed=0.77, first_day=late_day,
        duplicate_share=0, outside_rows=0, prefix="late-", offset=10**9,
    )  # fmt: skip
    append_raw(spark, small_lake, late.parquet)
    result = run_etl(spark, small_lake, [late_day])
    assert result.dates == [late_day.isoformat()]
    pages_after, errors_after = _snapshot(spark, small_lake)
    before, after = _by_date(pages_before), _by_date(pages_after)
    for d in (DAYS[0], DAYS[2]):
        assert after[d] == before[d]
        assert _by_date(errors_after)[d] == _by_date(errors_before)[d]
    views_before = sum(r["views"] for r in before[late_day])
    views_after = sum(r["views"] for r in after[late_day])
    assert views_after > views_before
    # the rerun of one date equals a full recomputation of all dates
    run_etl(spark, small_lake, DAYS)
    assert _snapshot(spark, small_lake) == (pages_after, errors_after)


@pytest.mark.parametrize("limit", [0, 10**6], ids=["rank every row", "first copies"])
def test_each_dedup_path_writes_the_same_tables(
    spark: SparkSession,
    small_lake: LakeLayout,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    limit: int,
) -> None:
    from loglake_glue_etl import job

    before = _snapshot(spark, small_lake)
    monkeypatch.setattr(job, "MAX_BROADCAST_REPEATS", limit)
    with caplog.at_level("INFO", logger="loglake_glue_etl.job"):
        result = job.run_etl(spark, small_lake, DAYS)
    how = "ranking those rows only" if limit else "ranking every row"
    assert any(how in r.getMessage() for r in caplog.records), caplog.text
    assert result.duplicates_dropped > 1_000  # the generator copies ~6 % of the events
    # the same rows; only the order in which doubles are summed may differ
    _assert_same_tables(_snapshot(spark, small_lake), before)


def test_record_written_twice_is_kept_once(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Raw holding the same records twice (same Kafka coordinates) still de-duplicates."""
    from loglake_glue_etl.job import run_etl

    raw = generate_raw_parquet(tmp_path / "raw.parquet", n=2_000, days=1, seed=0.3)
    once = LakeLayout.from_uri(str(tmp_path / "once"))
    twice = LakeLayout.from_uri(str(tmp_path / "twice"))
    append_raw(spark, once, raw.parquet)
    append_raw(spark, twice, raw.parquet)
    append_raw(spark, twice, raw.parquet)
    expected = run_etl(spark, once, raw.dates)
    with caplog.at_level("INFO", logger="loglake_glue_etl.job"):
        got = run_etl(spark, twice, raw.dates)
    assert any("raw twice: ranking every row" in r.getMessage() for r in caplog.records)
    assert got.rows_read == 2 * expected.rows_read
    assert got.rows_after_dedup == expected.rows_after_dedup
    _assert_same_tables(_snapshot(spark, twice), _snapshot(spark, once))


def test_missing_date_fails_the_row_gate_and_writes_nothing(
    spark: SparkSession, small_lake: LakeLayout
) -> None:
    from loglake_glue_etl.job import run_etl

    before = _snapshot(spark, small_lake)
    versions = [
        _version(spark, p)
        for p in (small_lake.processed_page_metrics, small_lake.processed_errors_hourly)
    ]
    empty_day = date(2026, 12, 25)
    with pytest.raises(QualityGateError) as info:
        run_etl(spark, small_lake, [DAYS[0], empty_day])
    message = str(info.value)
    assert "2026-12-25 raw rows: 0 rows after cleaning" in message
    assert "nothing written" in message
    assert [f.date for f in info.value.failures] == [empty_day]
    assert _snapshot(spark, small_lake) == before
    assert [
        _version(spark, p)
        for p in (small_lake.processed_page_metrics, small_lake.processed_errors_hourly)
    ] == versions


def test_empty_date_allowed_when_not_expected(spark: SparkSession, small_lake: LakeLayout) -> None:
    from loglake_glue_etl.job import run_etl

    empty_day = date(2026, 12, 26)
    result = run_etl(spark, small_lake, [empty_day], expected_dates=[])
    assert result.rows_read == 0
    assert result.rows_written == {"page_metrics_daily": 0, "errors_hourly": 0}


def test_injected_failure_writes_nothing(spark: SparkSession, small_lake: LakeLayout) -> None:
    from loglake_glue_etl.job import run_etl

    version = _version(spark, small_lake.processed_page_metrics)
    with pytest.raises(InjectedFailureError, match="injected on purpose"):
        run_etl(spark, small_lake, DAYS, fail=True)
    assert _version(spark, small_lake.processed_page_metrics) == version


def test_missing_raw_table_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    from loglake_glue_etl.job import run_etl

    with pytest.raises(EtlError, match="cannot read the raw events table at file://"):
        run_etl(spark, str(tmp_path / "nolake"), DAYS)


def test_metric_gates_name_date_check_and_numbers(spark: SparkSession) -> None:
    from loglake_core.metrics import PAGE_METRICS_DAILY
    from loglake_glue_etl.quality import check_stats, page_metrics_stats

    good: dict[str, Any] = {
        "event_date": DAYS[0], "service": "shop", "page": "/cart", "views": 3, "views_5xx": 0,
        "error_events": 0, "sessions": 2, "tti_count": 3, "tti_mean": 20.0, "tti_min": 10.0,
        "tti_max": 30.0, "tti_p50": 20.0, "tti_p90": 30.0, "tti_p95": 30.0, "tti_p99": 30.0,
        "error_rate": 0.0, "tti_histogram": {117: 1, 152: 1, 172: 1},
    }  # fmt: skip
    unordered = {**good, "page": "/help", "tti_p90": 40.0}
    negative = {**good, "event_date": DAYS[1], "views_5xx": -1}
    schema = (
        "event_date date, service string, page string, views bigint, views_5xx bigint, "
        "error_events bigint, sessions bigint, tti_count bigint, tti_mean double, "
        "tti_min double, tti_max double, tti_p50 double, tti_p90 double, tti_p95 double, "
        "tti_p99 double, error_rate double, tti_histogram map<int,bigint>"
    )
    rows = [tuple(r[c] for c in PAGE_METRICS_DAILY.columns) for r in (good, unordered, negative)]
    stats = [r.asDict() for r in page_metrics_stats(spark.createDataFrame(rows, schema)).collect()]
    failures = check_stats("page_metrics_daily", stats)
    described = [f.describe() for f in failures]
    assert any(
        d.startswith("2026-11-01 page_metrics_daily percentile_order: 1 of 2 rows fail")
        and '"tti_p90":40.0' in d
        and '"page":"/help"' in d
        for d in described
    ), described
    assert any(
        d.startswith("2026-11-02 page_metrics_daily negative: 1 of 1 rows") for d in described
    )
    # the percentile order check also catches p90 > p95 in the second row only
    assert json.loads(failures[0].message.split("first: ", 1)[1])["page"] == "/help"
