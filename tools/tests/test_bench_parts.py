"""Small parts of the benchmark suite: the Python consumer's parsing, machine info, the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from loglake_tools.bench import bench
from loglake_tools.bench.baselines import _arrow_schema, _to_table
from loglake_tools.bench.contenders import json_records, last_json
from loglake_tools.bench.machine import kafka_version, machine_info

pytestmark = pytest.mark.unit


def test_python_consumer_parses_valid_and_counts_bad_records() -> None:
    values = [
        b'{"event_id":"a","event_time":"2026-11-01T10:00:00.5+01:00","event_type":"log",'
        b'"service":"s","tti_ms":12.5,"attributes":{"k":"v"}}',
        b'{"event_id":"b","event_time":1793527200000,"event_type":"log","service":"s"}',
        b"not json",
        b"[1, 2]",
        b'{"event_id":"c","event_time":"2026-11-01T10:00:00Z","tti_ms":"slow"}',
    ]
    table, bad = _to_table(values, _arrow_schema())
    assert bad == 3
    assert table.num_rows == 2
    assert table.column("event_id").to_pylist() == ["a", "b"]
    assert str(table.column("event_date")[0]) == "2026-11-01"
    assert table.schema.field("event_time").type.tz == "UTC"


def test_machine_info_records_versions(tmp_path: object) -> None:
    info = machine_info(probe_load=False)
    assert info["cpu"]["logical_cores"] >= 1
    assert info["memory_bytes"] > 0
    assert info["versions"]["python"].count(".") == 2
    assert "spark" in info["versions"]
    assert info["load_before"] is None


def test_kafka_version_from_jar_names(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "kafka_2.13-4.1.2.jar").write_text("")
    (folder / "kafka-clients-4.1.2.jar").write_text("")
    assert kafka_version(folder) == "4.1.2"
    assert kafka_version(folder / "empty") is None


def test_json_helpers(tmp_path: object) -> None:
    from pathlib import Path

    assert last_json('noise\n{"a": 1}\n{"b": 2}\ntrailing') == {"b": 2}
    assert last_json("nothing") == {}
    log = Path(str(tmp_path)) / "x.log"
    log.write_text(
        '2026 INFO loglake_ingest.progress: {"event": "ingest_batch", "batch_id": 0}\n'
        "2026 INFO other: {not json ingest_batch}\n"
        '{"event": "other"}\n'
    )
    assert json_records(log, "ingest_batch") == [{"event": "ingest_batch", "batch_id": 0}]


def test_cli_lists_the_suites() -> None:
    result = CliRunner().invoke(bench, ["--help"])
    assert result.exit_code == 0
    for name in ("ingest", "latency", "etl", "scaling", "all"):
        assert name in result.output
    help_all = CliRunner().invoke(bench, ["all", "--help"])
    assert "--smoke" in help_all.output
    assert "--large" in help_all.output


def test_render_rewrites_markdown_and_chart_from_a_saved_result(tmp_path: object) -> None:
    import json
    from pathlib import Path

    folder = Path(str(tmp_path))
    saved = folder / "r.json"
    saved.write_text(json.dumps({"machine": {}, "command": "loglake bench etl", "etl": {
        "events": 10, "contenders": [], "targets": []}}))  # fmt: skip
    result = CliRunner().invoke(
        bench, ["render", str(saved), "--markdown", str(folder / "r.md"),
                "--chart", str(folder / "r.png")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Command: `loglake bench etl`" in (folder / "r.md").read_text()
    assert (folder / "r.png").exists()
    bad = folder / "bad.json"
    bad.write_text("[1]")
    result = CliRunner().invoke(bench, ["render", str(bad)])
    assert result.exit_code == 1
    assert "not a benchmark result" in result.output


def test_a_kept_raw_lake_is_measured_as_is_and_never_owned(tmp_path) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from loglake_tools.bench.errors import BenchError
    from loglake_tools.bench.etl import existing_raw

    with pytest.raises(BenchError, match="no raw events Delta table"):
        existing_raw(tmp_path / "nothing")
    dates = ["2026-11-01", "2026-11-02", "2026-11-02"]
    rows = pa.table({"event_id": ["a", "b", "c"], "event_date": dates})
    write_deltalake(str(tmp_path / "lake" / "raw" / "events"), rows, partition_by=["event_date"])
    raw = existing_raw(tmp_path / "lake")
    assert (raw.events, raw.dates, raw.owned) == (3, ["2026-11-01", "2026-11-02"], False)


def test_duckdb_runs_before_and_after_our_etl(tmp_path, monkeypatch) -> None:
    """DuckDB brackets our ETL run, and its median spans the runs on both sides."""
    from loglake_tools.bench import etl
    from loglake_tools.bench.config import BenchConfig
    from loglake_tools.bench.contenders import RunEnv

    calls: list[str] = []
    duck_walls = iter([4.0, 6.0, 12.0, 14.0])  # the machine slows down during the run
    result = {"rows_read": 5, "rows_after_dedup": 4}

    def fake_duck(env, *, lake, dates, rep):
        calls.append(f"duckdb-{rep}")
        return {"wall_seconds": next(duck_walls), "result": {**result, "page_metrics_rows": 2}}

    def fake_etl(env, *, lake, dates, rep):
        calls.append(f"etl-{rep}")
        return {"wall_seconds": 90.0, "result": {**result, "rows_written": {
            "page_metrics_daily": 2}, "duration_seconds": 80.0}}  # fmt: skip

    monkeypatch.setattr(etl, "run_duckdb", fake_duck)
    monkeypatch.setattr(etl, "run_etl", fake_etl)
    cfg = BenchConfig(workdir=tmp_path, min_repetitions=2)
    env = RunEnv(bootstrap="127.0.0.1:1", broker_pid=None, workdir=tmp_path)
    raw = etl.RawTable(lake=tmp_path, events=5, dates=["2026-11-01"], preload={},
                       ingest_run={}, owned=False)  # fmt: skip
    out = etl.bench_etl(cfg, env, raw)
    assert calls == ["duckdb-0", "duckdb-1", "etl-0", "duckdb-2", "duckdb-3"]
    duck = out["contenders"][1]
    assert [r["wall_seconds"] for r in duck["runs"]] == [4.0, 6.0, 12.0, 14.0]
    assert duck["median"]["wall_seconds"] == 9.0
    assert out["ratios"]["wall_vs_duckdb"] == 10.0
    assert out["counts_identical"] is True
