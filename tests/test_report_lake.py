"""The report's data layer on a small lake written with delta-rs (no Spark, no stack).

`build_sample_lake` is shared with the browser rendering test (test_report_render.py).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loglake_core.histogram import histogram_of, percentile_from_histogram

SERVICES = ("web-shop", "checkout", "search", "accounts")
PAGES = (
    "/", "/product/{id}", "/category/{slug}", "/search", "/cart", "/checkout",
    "/account", "/orders/{id}", "/help", "/login",
)  # fmt: skip
DAYS = (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26))
REASONS = {"not_json": 40, "missing_field": 25, "wrong_type": 12, "future_timestamp": 5}
DUPLICATES = 33


def build_sample_lake(
    root: Path | str, *, seed: int = 7, storage_options: dict[str, str] | None = None
) -> dict[str, Any]:
    """Write raw + processed Delta tables of a tiny synthetic lake at ``root``.

    ``root`` is a local folder or an ``s3://`` URI (then with ``storage_options``).

    Returns:
        What was written: the TTI values per (day, page), error signals per hour and
        service, and the totals, so tests can compare the report with them.
    """
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = random.Random(seed)
    base = root if isinstance(root, str) else root.resolve().as_uri()
    events: list[dict[str, Any]] = []
    tti: dict[tuple[date, str], list[float]] = {}
    pm_rows: list[dict[str, Any]] = []
    for day in DAYS:
        for pi, page in enumerate(PAGES):
            for service in SERVICES[: 1 + pi % 2]:
                values = [
                    rng.lognormvariate(math.log(300 + 120 * pi + 40 * DAYS.index(day)), 0.5)
                    for _ in range(60 + rng.randrange(120))
                ]
                tti.setdefault((day, page), []).extend(values)
                hist = histogram_of(values)
                qs = sorted(values)
                pm_rows.append(
                    {
                        "event_date": day, "service": service, "page": page,
                        "views": len(values), "views_5xx": 0, "error_events": 1,
                        "sessions": len(values) // 2, "tti_count": len(values),
                        "tti_mean": sum(values) / len(values), "tti_min": qs[0],
                        "tti_max": qs[-1],
                        "tti_p50": qs[len(qs) // 2], "tti_p90": qs[int(len(qs) * 0.9)],
                        "tti_p95": qs[int(len(qs) * 0.95)], "tti_p99": qs[int(len(qs) * 0.99)],
                        "error_rate": 1 / (len(values) + 1),
                        "tti_histogram": sorted(hist.items()),
                    }
                )  # fmt: skip
                for v in values:
                    t = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                        seconds=rng.randrange(86_400)
                    )
                    events.append(
                        {"event_id": f"e{len(events)}", "event_time": t, "service": service,
                         "event_type": "page_view", "tti_ms": v, "event_date": day}
                    )  # fmt: skip
    signals: dict[tuple[datetime, str], int] = {}
    eh_rows = []
    for e in events[::7]:
        hour = e["event_time"].replace(minute=0, second=0, microsecond=0)
        level = rng.choice(["error", "fatal"])
        signals[(hour, e["service"])] = signals.get((hour, e["service"]), 0) + 1
        eh_rows.append(
            {"event_date": e["event_date"], "hour": hour.hour, "service": e["service"],
             "level": level, "status_class": "5xx", "events": 1, "error_events": 1,
             "page_views": 0, "api_requests": 0}
        )  # fmt: skip
    quarantine = [
        {"raw_value": b"{bad", "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": i,
         "reason_code": code, "reason_field": None, "reason_message": f"{code} example",
         "validator_version": "1", "ingest_time": datetime(2026, 11, 26, tzinfo=UTC),
         "ingest_date": date(2026, 11, 26)}
        for code, n in REASONS.items() for i in range(n)
    ]  # fmt: skip
    n_quarantined = len(quarantine)
    batches = [
        {"batch_id": 0, "records_read": len(events) // 2 + DUPLICATES,
         "valid_written": len(events) // 2, "quarantined": 0, "duplicates_dropped": DUPLICATES},
        {"batch_id": 1, "records_read": len(events) - len(events) // 2 + n_quarantined,
         "valid_written": len(events) - len(events) // 2, "quarantined": n_quarantined,
         "duplicates_dropped": 0},
    ]  # fmt: skip
    hist_type = pa.map_(pa.int32(), pa.int64())
    pm_schema = pa.schema(
        [("event_date", pa.date32()), ("service", pa.string()), ("page", pa.string())]
        + [(c, pa.int64()) for c in
           ("views", "views_5xx", "error_events", "sessions", "tti_count")]
        + [(c, pa.float64()) for c in
           ("tti_mean", "tti_min", "tti_max", "tti_p50", "tti_p90", "tti_p95", "tti_p99",
            "error_rate")]
        + [("tti_histogram", hist_type)]
    )  # fmt: skip
    ts = pa.timestamp("us", tz="UTC")
    raw_schema = pa.schema(
        [("event_id", pa.string()), ("event_time", ts), ("service", pa.string()),
         ("event_type", pa.string()), ("tti_ms", pa.float64()), ("event_date", pa.date32())]
    )  # fmt: skip
    q_schema = pa.schema(
        [("raw_value", pa.binary()), ("kafka_topic", pa.string()), ("kafka_partition", pa.int32()),
         ("kafka_offset", pa.int64()), ("reason_code", pa.string()),
         ("reason_field", pa.string()), ("reason_message", pa.string()),
         ("validator_version", pa.string()), ("ingest_time", ts), ("ingest_date", pa.date32())]
    )  # fmt: skip
    eh_schema = pa.schema(
        [("event_date", pa.date32()), ("hour", pa.int32()), ("service", pa.string()),
         ("level", pa.string()), ("status_class", pa.string())]
        + [(c, pa.int64()) for c in ("events", "error_events", "page_views", "api_requests")]
    )  # fmt: skip
    b_schema = pa.schema(
        [(c, pa.int64()) for c in
         ("batch_id", "records_read", "valid_written", "quarantined", "duplicates_dropped")]
    )  # fmt: skip
    for name, rows, schema, parts in (
        ("raw/events", events, raw_schema, ["event_date"]),
        ("raw/quarantine", quarantine, q_schema, ["ingest_date"]),
        ("raw/_ingest_batches", batches, b_schema, None),
        ("processed/page_metrics_daily", pm_rows, pm_schema, ["event_date"]),
        ("processed/errors_hourly", eh_rows, eh_schema, ["event_date"]),
    ):
        write_deltalake(
            f"{base}/{name}",
            pa.Table.from_pylist(rows, schema=schema),
            partition_by=parts,
            storage_options=storage_options,
        )
    return {
        "base": base,
        "tti": tti,
        "signals": signals,
        "events": len(events),
        "quarantined": n_quarantined,
        "duplicates": DUPLICATES,
    }


def put_sample_runs(table: str) -> list[str]:
    """Create control table ``table`` (moto must be active) with three runs; return run ids."""
    from dynamodb_json import json_util

    from loglake_core.control import RunRecord
    from loglake_core.control_store import ControlStore, default_client

    store = ControlStore(table, client=default_client())
    store.create_table_if_missing()
    t0 = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    runs = [
        RunRecord("loglake-etl", "local-a", t0, DAYS, 1, "FAILED", "local",
                  t0 + timedelta(seconds=4), "injected failure (LOGLAKE_ETL_FAIL_ONCE)"),
        RunRecord("loglake-etl", "local-b", t0 + timedelta(seconds=9), DAYS, 2, "SUCCEEDED",
                  "local", t0 + timedelta(seconds=40)),
        RunRecord("loglake-etl", "local-c", t0 + timedelta(seconds=60), DAYS[-1:], 1,
                  "SUCCEEDED", "local", t0 + timedelta(seconds=85)),
    ]  # fmt: skip
    for run in runs:
        store.client.put_item(TableName=table, Item=json_util.dumps(run.to_item(), as_dict=True))
    return [r.run_id for r in runs]


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_sample_lake(tmp_path_factory.mktemp("report-lake") / "lake")


@pytest.mark.unit
def test_lake_counts_and_lake_only_reconciliation(sample_lake: dict[str, Any]) -> None:
    from loglake_tools.reconcile import LakeReader, lake_counts, reconcile

    counts = lake_counts(LakeReader.open(sample_lake["base"]))
    assert counts.raw_rows == counts.raw_distinct_ids == sample_lake["events"]
    assert sum(counts.raw_by_date.values()) == sample_lake["events"]
    assert list(counts.raw_by_date) == list(DAYS)
    assert counts.quarantined == sample_lake["quarantined"]
    assert counts.quarantine_by_reason == REASONS
    assert counts.duplicates_dropped == DUPLICATES
    assert counts.batches == 2
    rows = reconcile(None, counts)
    assert [r.ok for r in rows] == [True, True]
    assert rows[0].landed == sample_lake["events"] + sample_lake["quarantined"] + DUPLICATES


@pytest.mark.unit
def test_page_quantiles_come_from_merged_histograms(sample_lake: dict[str, Any]) -> None:
    from loglake_core.histogram import RELATIVE_ACCURACY
    from loglake_tools.reconcile import LakeReader
    from loglake_tools.report.data import load_report_data

    data = load_report_data(LakeReader.open(sample_lake["base"]), control_table="")
    assert data.days == list(DAYS)
    assert {p.page for p in data.page_days} == set(PAGES)
    for p in data.page_days:
        values = sorted(sample_lake["tti"][(p.day, p.page)])
        assert p.views == len(values)
        for q in (0.5, 0.95, 0.99):
            exact = values[math.floor(q * (len(values) - 1))]
            assert p.quantile(q) == pytest.approx(exact, rel=RELATIVE_ACCURACY + 1e-9)
    # Merging per-service, per-day histograms equals the histogram of all the values.
    expected = sorted(

            (-percentile_from_histogram(
                histogram_of([v for d in DAYS for v in sample_lake["tti"][(d, page)]]), 0.95
            ), page)
            for page in PAGES

    )[:3]  # fmt: skip
    assert [(-v, p) for v, p in expected] == [(v, p) for p, v, _ in data.slowest_pages(3)]
    assert data.runs == []
    assert data.runs_note == "no control table given"


@pytest.mark.unit
def test_error_hours_use_raw_events_as_denominator(sample_lake: dict[str, Any]) -> None:
    from loglake_tools.reconcile import LakeReader
    from loglake_tools.report.data import load_report_data

    data = load_report_data(LakeReader.open(sample_lake["base"]), control_table="")
    got = {(h, s): (events, errors) for h, s, events, errors in data.error_hours}
    for key, n in sample_lake["signals"].items():
        assert got[key][1] == n
        assert got[key][0] >= n
    assert sum(e for e, _ in got.values()) == sample_lake["events"]


@pytest.mark.unit
def test_reconcile_against_a_producer_summary() -> None:
    from loglake_tools.reconcile import LakeCounts, reconcile

    counts = LakeCounts(
        raw_rows=90, raw_distinct_ids=90, quarantined=7, batches=3,
        raw_by_date={date(2026, 11, 26): 40, date(2026, 11, 27): 50},
        counters={"records_read": 102, "duplicates_dropped": 5},
    )  # fmt: skip
    summary = {
        "events_total": 102, "valid": 90, "malformed": 7, "duplicates": 5,
        "per_date": {"2026-11-26": 40, "2026-11-27": 50},
    }  # fmt: skip
    rows = reconcile(summary, counts)
    assert all(r.ok for r in rows), rows
    assert [r.kind for r in rows][-2:] == [
        "valid events dated 2026-11-26", "valid events dated 2026-11-27"
    ]  # fmt: skip
    bad = reconcile(
        {**summary, "malformed": 8, "events_total": 103,
         "per_date": {"2026-11-26": 41, "2026-11-27": 50}},
        counts,
    )  # fmt: skip
    assert [r.kind for r in bad if not r.ok] == [
        "malformed records", "records read by ingest", "total produced",
        "valid events dated 2026-11-26",
    ]  # fmt: skip


@pytest.mark.unit
def test_missing_tables_read_as_empty(tmp_path: Path) -> None:
    from loglake_tools.reconcile import LakeReader, lake_counts
    from loglake_tools.report.data import load_report_data

    reader = LakeReader.open(str(tmp_path / "nothing"))
    counts = lake_counts(reader)
    assert (counts.raw_rows, counts.quarantined, counts.batches) == (0, 0, 0)
    data = load_report_data(reader, control_table="")
    assert data.page_days == []
    assert data.error_hours == []


@pytest.mark.unit
def test_run_history_newest_first_from_the_control_table(sample_lake: dict[str, Any]) -> None:
    from moto import mock_aws

    from loglake_tools.reconcile import LakeReader
    from loglake_tools.report.data import load_report_data

    with mock_aws():
        ids = put_sample_runs("loglake-control-report")
        data = load_report_data(
            LakeReader.open(sample_lake["base"]), control_table="loglake-control-report"
        )
    assert [r["run_id"] for r in data.runs] == ids[::-1]
    assert [r["status"] for r in data.runs] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert data.runs[-1]["duration_s"] == 4.0
    assert data.runs[-1]["dates"] == [d.isoformat() for d in DAYS]
    assert data.runs_note is None


@pytest.mark.unit
def test_unreachable_control_table_is_a_note_not_a_failure(sample_lake: dict[str, Any]) -> None:
    from moto import mock_aws

    from loglake_tools.reconcile import LakeReader
    from loglake_tools.report.data import load_report_data

    with mock_aws():
        data = load_report_data(LakeReader.open(sample_lake["base"]), control_table="missing")
    assert data.runs == []
    assert data.runs_note is not None
    assert "missing" in data.runs_note


@pytest.mark.unit
def test_report_of_a_lake_without_tables_is_a_clear_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from loglake_tools.report import report

    result = CliRunner().invoke(
        report, ["--lake", str(tmp_path / "none"), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 1
    assert "no loglake table under" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()
