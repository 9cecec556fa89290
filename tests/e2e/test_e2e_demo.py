"""A small demo from a clean lake, checked against an independent computation.

The expected processed tables are computed from the records actually in the Kafka
topic: each record is validated with the pure-Python validator (ingest uses the Spark
one), de-duplicated on ``event_id`` and aggregated in DuckDB with SQL written here from
the metric definitions in docs/etl.md. Counts must match exactly; the stored histograms
must equal the histograms of the exact values, and the TTI percentiles (read off those
histograms) must lie within 0.99% of the exact lower-rank values.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pyarrow as pa

    from tests.e2e.conftest import DemoRunner

EVENTS = 50_000
DAYS = 2
PERCENTILES = {"tti_p50": 0.50, "tti_p90": 0.90, "tti_p95": 0.95, "tti_p99": 0.99}


def consume_topic(bootstrap: str, topic: str) -> Iterator[tuple[int, int, bytes]]:
    """Every record of ``topic``: (partition, offset, value), read from the beginning."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4().hex}",
         "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        while ends:
            msg = consumer.poll(5.0)
            assert msg is not None, f"topic {topic} stopped short of its end offsets {ends}"
            assert msg.error() is None, msg.error()
            yield msg.partition(), msg.offset(), msg.value() or b""
            if msg.offset() + 1 >= ends.get(msg.partition(), math.inf):
                ends.pop(msg.partition())
    finally:
        consumer.close()


def valid_events(bootstrap: str, topic: str) -> tuple[pa.Table, int, int]:
    """Valid, de-duplicated events of the topic as an Arrow table; plus rejected and dup counts."""
    import pyarrow as pa

    from loglake_core.validate import ValidEvent, validate

    rows: dict[str, dict[str, Any]] = {}
    rejected = duplicates = 0
    for _p, _o, value in consume_topic(bootstrap, topic):
        result = validate(value)
        if not isinstance(result, ValidEvent):
            rejected += 1
            continue
        f = result.fields
        if f["event_id"] in rows:
            duplicates += 1
            continue
        rows[f["event_id"]] = {
            "event_id": f["event_id"],
            "event_time": result.event_time.replace(tzinfo=None),
            "event_date": result.event_date,
            "event_type": f["event_type"],
            "service": f["service"],
            "page": result.page,
            "tti_ms": f.get("tti_ms"),
            "status_code": f.get("status_code"),
            "level": f.get("level") or "info",
            "session_id": f.get("session_id"),
        }
    schema = pa.schema(
        [("event_id", pa.string()), ("event_time", pa.timestamp("us")),
         ("event_date", pa.date32()), ("event_type", pa.string()), ("service", pa.string()),
         ("page", pa.string()), ("tti_ms", pa.float64()), ("status_code", pa.int32()),
         ("level", pa.string()), ("session_id", pa.string())]
    )  # fmt: skip
    return pa.Table.from_pylist(list(rows.values()), schema=schema), rejected, duplicates


PAGE_SQL = """
SELECT event_date, service, page,
  count(*) FILTER (WHERE event_type = 'page_view') AS views,
  count(*) FILTER (WHERE event_type = 'page_view' AND status_code >= 500) AS views_5xx,
  count(*) FILTER (WHERE event_type = 'error') AS error_events,
  count(DISTINCT session_id) FILTER (WHERE event_type = 'page_view') AS sessions,
  count(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_count,
  avg(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_mean,
  min(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_min,
  max(tti_ms) FILTER (WHERE event_type = 'page_view') AS tti_max,
  list(tti_ms ORDER BY tti_ms) FILTER (WHERE event_type = 'page_view' AND tti_ms IS NOT NULL)
    AS ttis
FROM ev
WHERE page IS NOT NULL AND event_type IN ('page_view', 'error')
GROUP BY ALL
HAVING views > 0
"""

ERRORS_SQL = """
SELECT event_date, hour(event_time) AS hour, service, level,
  CASE WHEN status_code IS NULL THEN 'none'
       ELSE CAST(status_code // 100 AS VARCHAR) || 'xx' END AS status_class,
  count(*) AS events,
  count(*) FILTER (WHERE event_type = 'error') AS error_events,
  count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
  count(*) FILTER (WHERE event_type = 'api_request') AS api_requests
FROM ev
WHERE event_type = 'error' OR level IN ('error', 'fatal') OR coalesce(status_code, 0) >= 400
GROUP BY ALL
"""


@pytest.mark.e2e
def test_demo_from_a_clean_lake_matches_an_independent_computation(
    demo_runner: DemoRunner,
) -> None:
    import duckdb

    from loglake_core.control_store import ControlStore, default_client
    from loglake_core.histogram import (
        RELATIVE_ACCURACY,
        histogram_of,
        percentile_from_histogram,
    )
    from loglake_tools.reconcile import LakeReader, lake_counts, reconcile
    from loglake_tools.stack import read_state

    run = demo_runner("--events", str(EVENTS), "--days", str(DAYS), "--fresh")
    assert run.returncode == 0, run.output[-4000:]
    assert "every produced record is accounted for" in run.output
    stack = read_state()
    assert stack is not None

    # 1. Reconciliation holds exactly, read back independently of the demo's own check.
    summary = run.book["summary"]
    assert summary["events_total"] == EVENTS
    counts = lake_counts(LakeReader.open(run.lake))
    rows = reconcile(summary, counts)
    assert [r.kind for r in rows if not r.ok] == []
    assert counts.raw_rows == counts.raw_distinct_ids == summary["valid"]
    assert counts.quarantined == summary["malformed"] > 0
    assert counts.duplicates_dropped == summary["duplicates"] > 0

    # 2. The processed tables equal an independent computation from the topic's records.
    ev, rejected, duplicates = valid_events(stack.kafka_bootstrap, run.topic)
    assert (ev.num_rows, rejected, duplicates) == (
        summary["valid"], summary["malformed"], summary["duplicates"]
    )  # fmt: skip
    con = duckdb.connect()
    con.register("ev", ev)
    expected_pages = {
        (r["event_date"], r["service"], r["page"]): r
        for r in con.sql(PAGE_SQL).to_arrow_table().to_pylist()
    }
    expected_errors = {
        (r["event_date"], r["hour"], r["service"], r["level"], r["status_class"]): r
        for r in con.sql(ERRORS_SQL).to_arrow_table().to_pylist()
    }
    reader = LakeReader.open(run.lake)
    pages = reader.table(reader.layout.processed_page_metrics)
    errors = reader.table(reader.layout.processed_errors_hourly)
    assert pages is not None
    assert errors is not None
    got_pages = {(r["event_date"], r["service"], r["page"]): r for r in pages.to_pylist()}
    assert set(got_pages) == set(expected_pages)
    for key, want in expected_pages.items():
        got = got_pages[key]
        for name in ("views", "views_5xx", "error_events", "sessions", "tti_count"):
            assert got[name] == want[name], (key, name)
        assert got["tti_min"] == want["tti_min"], key
        assert got["tti_max"] == want["tti_max"], key
        assert got["tti_mean"] == pytest.approx(want["tti_mean"], rel=1e-9), key
        total = want["views"] + want["error_events"]
        assert got["error_rate"] == pytest.approx(
            (want["views_5xx"] + want["error_events"]) / total, rel=1e-9
        ), key
        ordered = want["ttis"]
        hist = dict(got["tti_histogram"])
        assert hist == histogram_of(ordered), key
        for name, q in PERCENTILES.items():
            exact = ordered[math.floor(q * (len(ordered) - 1))]
            assert got[name] == pytest.approx(exact, rel=RELATIVE_ACCURACY, abs=1.0), (key, name)
            estimate = percentile_from_histogram(hist, q)
            assert estimate == pytest.approx(exact, rel=RELATIVE_ACCURACY, abs=1.0), key
    got_errors = {
        (r["event_date"], r["hour"], r["service"], r["level"], r["status_class"]): r
        for r in errors.to_pylist()
    }
    assert set(got_errors) == set(expected_errors)
    for key, want in expected_errors.items():
        for name in ("events", "error_events", "page_views", "api_requests"):
            assert got_errors[key][name] == want[name], (key, name)

    # 3. The orchestrator processed each date exactly once, in succeeded runs.
    store = ControlStore(run.control_table, client=default_client(stack.aws_endpoint))
    runs = store.list_runs("loglake-etl")
    assert runs, "the orchestrator recorded no run"
    assert {r.status for r in runs} == {"SUCCEEDED"}
    processed = [d for r in runs for d in r.dates]
    all_dates = sorted({k[0] for k in expected_pages} | set(counts.raw_by_date))
    assert sorted(processed) == all_dates
    assert len(processed) == len(set(processed))
    assert run.report.stat().st_size > 1_000_000  # plotly.js inlined

    # 4. A second run without --fresh doubles nothing and runs nothing.
    again = demo_runner("--events", str(EVENTS), "--days", str(DAYS))
    assert again.returncode == 0, again.output[-4000:]
    assert "nothing new is produced" in again.output
    assert "nothing to run" in again.output
    assert lake_counts(LakeReader.open(run.lake)) == counts
    assert len(store.list_runs("loglake-etl")) == len(runs)

    # 5. Asking for another load without --fresh is refused with the fix named.
    other = demo_runner("--events", "1000", "--days", str(DAYS))
    assert other.returncode != 0
    assert "--fresh" in other.output
    assert "Traceback" not in other.output
