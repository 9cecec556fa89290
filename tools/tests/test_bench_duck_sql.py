"""The DuckDB baseline's SQL follows the ETL's cleaning rules and core's metric definitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from loglake_core.metrics import PAGE_METRICS_DAILY
from loglake_tools.bench.duck_sql import cleaned_sql, page_metrics_sql

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def row(eid: str, t: datetime, *, d: date | None = None, etype: str = "page_view",
        page: str = "/a", tti: float | None = 100.0, status: int | None = 200,
        session: str = "s1", offset: int = 0) -> dict[str, object]:  # fmt: skip
    return {
        "event_id": eid, "event_time": t, "event_type": etype, "service": "web",
        "page": page, "session_id": session, "tti_ms": tti, "status_code": status,
        "event_date": d or t.date(), "ingest_time": T0 + timedelta(seconds=offset),
        "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": offset,
    }  # fmt: skip


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    rows = [
        row("a", T0, tti=100.0, offset=1),
        row("a", T0, tti=999.0, offset=2),  # duplicate: the first ingested copy wins
        row("b", T0, tti=300.0, status=503, session="s2", offset=3),
        row("c", T0, tti=200.0, offset=4),
        row("d", T0, etype="error", tti=None, status=None, offset=5),
        row("e", T0, d=date(2026, 11, 2), offset=6),  # outside its date: dropped
        row("f", T0 + timedelta(days=1), tti=700_000.0, offset=7),  # tti out of range -> null
        row("g", T0 + timedelta(days=5), offset=8),  # a date that is not asked for
    ]
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.register("raw", pa.Table.from_pylist(rows))
    c.execute(f"CREATE TABLE cleaned AS {cleaned_sql('raw', ['2026-11-01', '2026-11-02'])}")
    return c


def test_cleaning_dedups_and_drops_rows_outside_their_date(con: duckdb.DuckDBPyConnection) -> None:
    ids = [r[0] for r in con.execute(
        "SELECT event_type || ':' || coalesce(CAST(tti_ms AS VARCHAR), 'null') FROM cleaned "
        "ORDER BY event_time, tti_ms").fetchall()]  # fmt: skip
    assert sorted(ids) == sorted(
        ["page_view:100.0", "page_view:300.0", "page_view:200.0", "error:null", "page_view:null"]
    )


def test_page_metrics_follow_core_definitions(con: duckdb.DuckDBPyConnection) -> None:
    res = con.execute(f"{page_metrics_sql('cleaned')} ORDER BY event_date")
    cols = [d[0] for d in res.description]
    assert tuple(cols) == PAGE_METRICS_DAILY.columns
    rows = [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
    assert len(rows) == 2
    day1 = rows[0]
    assert (day1["views"], day1["views_5xx"], day1["error_events"], day1["sessions"]) == (
        3,
        1,
        1,
        2,
    )
    assert day1["tti_min"] == 100.0
    assert day1["tti_max"] == 300.0
    assert day1["tti_p50"] == 200.0
    assert day1["error_rate"] == pytest.approx((1 + 1) / (3 + 1))
    assert sum(day1["tti_histogram"].values()) == 3
    day2 = rows[1]
    assert day2["views"] == 1
    assert day2["tti_count"] == 0  # nulled by the range rule


def test_bad_dates_are_rejected() -> None:
    with pytest.raises(ValueError, match="not YYYY-MM-DD"):
        cleaned_sql("raw", ["2026-11-01'; DROP TABLE x; --"])
