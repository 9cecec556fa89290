"""``loglake bench all --smoke``: every benchmark path end to end at tiny sizes.

Targets are reported, never asserted; this checks that each suite runs against the real
broker and Spark, reconciles its counts and writes its JSON, Markdown and chart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

if TYPE_CHECKING:
    from loglake_tools.stack import StackState

pytestmark = pytest.mark.integration


def test_bench_all_smoke(local_stack: StackState, tmp_path: Path) -> None:
    from loglake_tools.cli import cli

    out = tmp_path / "results" / "all.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "all", "--smoke",
            "--out", str(out),
            "--workdir", str(tmp_path / "work"),
            "--bootstrap", local_stack.kafka_bootstrap,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["smoke"] is True
    assert data["machine"]["versions"]["spark"]
    for name in ("ingest", "latency", "scaling", "etl"):
        assert "error" not in data[name], data[name]

    ingest = data["ingest"]
    assert [c["name"] for c in ingest["contenders"]] == ["loglake", "spark-bare", "python"]
    for c in ingest["contenders"]:
        run = c["runs"][0]
        assert run["events_read"] == ingest["events"]
        assert run["cpu_seconds"] > 0
        assert run["peak_rss_bytes"] > 0
    # the bare baseline reads epoch-millisecond event times as such: its partitions are a
    # few dates (the generator's, plus its odd edge-case times), not thousands of dates
    # tens of millennia ahead ("+58858-04-15")
    bare_dates = ingest["contenders"][1]["runs"][0]["event_dates"]
    assert 0 < len(bare_dates) < 50, bare_dates
    assert all(d[:1].isdigit() and d < "2100" for d in bare_dates), bare_dates
    ours = ingest["contenders"][0]["runs"][0]
    # no event lost: read = written + quarantined + duplicates dropped
    assert ours["records_read"] == ours["rows_out"] + ours["quarantined"] + ours["duplicates"]
    assert ingest["preload"]["events_per_second"] > 0

    latency = data["latency"]
    assert latency["events_measured"] > 0
    assert latency["events_not_committed"] == 0
    assert latency["latency_seconds"]["p50"] > 0

    assert data["etl"]["counts_identical"] is True
    # one scaling size in the smoke run (each size costs two Spark start-ups); its raw
    # table is the one the ETL benchmark reuses
    assert [p["events"] for p in data["scaling"]["points"]] == [30_000]
    assert data["etl"]["events"] == 30_000

    verdicts = {t["verdict"] for s in ("ingest", "latency", "etl", "scaling")
                for t in data[s]["targets"]}  # fmt: skip
    assert verdicts <= {"pass", "miss", "n/a"}
    markdown = out.with_suffix(".md").read_text()
    assert "Command: `loglake bench all --smoke" in markdown
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
