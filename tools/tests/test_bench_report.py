"""Rendering of results: tables, Markdown, JSON, PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loglake_tools.bench.report import (
    all_targets,
    chart,
    markdown,
    print_tables,
    tables,
    write_json,
)
from loglake_tools.bench.results import Target, summarize

pytestmark = pytest.mark.unit


def sample_result() -> dict[str, Any]:
    run = {"wall_seconds": 100.0, "cpu_seconds": 150.0, "peak_rss_bytes": 2 * 1024**3,
           "drain_seconds": 80.0, "broker_cpu_seconds": 12.0}  # fmt: skip
    ours = summarize("loglake", "loglake ingest (validate)", 5_000_000, [run])
    bare = summarize("spark-bare", "bare Spark (from_json)", 5_000_000, [run])
    broken = {"name": "python", "label": "Python consumer", "events": 5_000_000, "error": "x|y"}
    etl_run = {"wall_seconds": 60.0, "cpu_seconds": 90.0, "peak_rss_bytes": 1024**3}
    return {
        "command": "loglake bench all",
        "started_at": "2026-11-27T18:00:00+00:00",
        "finished_at": "2026-11-27T18:30:00+00:00",
        "duration_seconds": 1800,
        "machine": {"cpu": {"model": "Test CPU", "logical_cores": 2}, "memory_bytes": 2**34,
                    "versions": {"python": "3.11", "spark": "4.1.1"},
                    "load_before": {"cpu_busy_percent": 3.0, "loadavg": [0.1, 0.2, 0.3]}},
        "ingest": {
            "events": 5_000_000,
            "preload": {"events": 5_000_000, "wall_seconds": 40.0, "events_per_second": 125_000,
                        "workers": 2, "send_rates": [200_000, 190_000], "duplicates": 1,
                        "malformed": 2, "late": 3},
            "contenders": [ours, bare, broken],
            "ratios": {"vs_spark_bare_throughput": 1.0},
            "targets": [Target("t1", "ingest >= 50k", 62_500, 50_000, ">=", "events/s").to_json()],
        },
        "latency": {"rate": 30_000, "trigger_seconds": 5.0,
                    "latency_seconds": {"p50": 4.0, "p95": 7.5, "p99": 9.0, "mean": 4.2},
                    "batch_overhead_ms": {"p50": 300.0, "p95": 800.0}, "batch_ms": {"p50": 3000},
                    "targets": [Target("t2", "p95", 7.5, 10.0, "<=", "s").to_json()]},
        "etl": {"events": 10_000_000,
                "contenders": [summarize("loglake-etl", "loglake ETL", 10**7, [etl_run]),
                               summarize("duckdb", "DuckDB", 10**7, [etl_run])],
                "counts": {"pairs": {"rows_read": {"loglake": 10, "duckdb": 10}}},
                "ratios": {"wall_vs_duckdb": 1.0}, "startup_seconds": 12.0,
                "counts_identical": True, "targets": []},
        "scaling": {"points": [
            {"events": 1_000_000, "ingest": summarize("i", "i", 10**6, [run]),
             "etl": summarize("e", "e", 10**6, [etl_run])},
            {"events": 3_000_000, "error": "broker gone"},
        ], "targets": []},
    }  # fmt: skip


def test_tables_cover_every_section_and_the_targets() -> None:
    result = sample_result()
    titles = [t for t, _, _ in tables(result)]
    assert titles[0].startswith("Ingest")
    assert titles[-1].startswith("Targets")
    assert len(titles) == 5
    ingest_rows = tables(result)[0][2]
    assert ingest_rows[0][3] == "50,000"  # events/s over the whole run
    assert ingest_rows[0][4] == "62,500"  # sustained
    assert ingest_rows[2][1] == "error"
    assert [t["name"] for t in all_targets(result)] == ["t1", "t2"]


def test_markdown_has_command_machine_tables_and_chart(tmp_path: Path) -> None:
    text = markdown(sample_result(), "chart.png")
    assert "Command: `loglake bench all`" in text
    assert "Test CPU" in text
    assert "| loglake ingest (validate) | 1 | 100.0 |" in text
    assert "x\\|y" in text  # pipes escaped inside cells
    assert "PASS" in text
    assert "![benchmark chart](chart.png)" in text


def test_json_and_chart_are_written(tmp_path: Path) -> None:
    result = sample_result()
    path = write_json(result, tmp_path / "out" / "r.json")
    assert json.loads(path.read_text())["command"] == "loglake bench all"
    png = chart(result, tmp_path / "out" / "r.png")
    assert png is not None
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart({"machine": {}}, tmp_path / "none.png") is None


def test_print_tables_runs(capsys: pytest.CaptureFixture[str]) -> None:
    print_tables(sample_result())
    out = capsys.readouterr().out
    assert "Scaling" in out
    assert "broker gone" in out
