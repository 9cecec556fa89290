"""Repetition rule, medians, per-event figures and target verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from loglake_tools.bench.config import SMOKE_SIZES, BenchConfig
from loglake_tools.bench.results import Target, ratio, repeat, summarize

pytestmark = pytest.mark.unit


def test_short_runs_are_repeated_long_ones_are_not() -> None:
    calls: list[int] = []

    def short(i: int) -> dict[str, Any]:
        calls.append(i)
        return {"wall_seconds": 5.0}

    assert len(repeat(short, min_repetitions=3, below_seconds=60)) == 3
    assert calls == [0, 1, 2]
    long_runs = repeat(lambda i: {"wall_seconds": 61.0}, min_repetitions=3, below_seconds=60)
    assert len(long_runs) == 1


def test_summary_uses_medians_and_derives_per_event_figures() -> None:
    runs = [
        {"wall_seconds": 10.0, "cpu_seconds": 30.0, "peak_rss_bytes": 100, "drain_seconds": 8.0},
        {"wall_seconds": 50.0, "cpu_seconds": 10.0, "peak_rss_bytes": 300, "drain_seconds": 4.0},
        {"wall_seconds": 20.0, "cpu_seconds": 20.0, "peak_rss_bytes": 200, "drain_seconds": 5.0},
    ]
    s = summarize("x", "X", 2_000_000, runs)
    m = s["median"]
    assert s["repetitions"] == 3
    assert m["wall_seconds"] == 20.0
    assert m["peak_rss_bytes"] == 200
    assert m["events_per_second"] == 100_000
    assert m["drain_events_per_second"] == 400_000
    assert m["cpu_seconds_per_million"] == 10.0
    assert m["events_per_cpu_second"] == 100_000
    assert m["wall_seconds_per_million"] == 10.0
    assert "broker_cpu_seconds" not in m


def test_target_verdicts() -> None:
    assert Target("a", "", 60_000, 50_000, ">=").verdict == "pass"
    assert Target("a", "", 40_000, 50_000, ">=").verdict == "miss"
    assert Target("b", "", 2.0, 3.0, "<=").verdict == "pass"
    assert Target("b", "", 4.0, 3.0, "<=").met is False
    none = Target("c", "", None, 1.0, ">=")
    assert none.verdict == "n/a"
    assert none.to_json()["met"] is None
    assert Target("d", "", 35_000, 50_000, ">=").margin == pytest.approx(0.7)
    assert ratio(1.0, 0) is None
    assert ratio(None, 1.0) is None


def test_config_smoke_and_large(tmp_path: Any) -> None:
    smoke = BenchConfig.create(smoke=True, workdir=tmp_path)
    assert smoke.sizes == SMOKE_SIZES
    assert smoke.min_repetitions == 1
    assert smoke.workdir.parent == tmp_path.resolve()
    large = BenchConfig.create(large=True, workdir=tmp_path)
    assert large.sizes.scaling_events == (1_000_000, 3_000_000, 10_000_000, 30_000_000)
    assert large.sizes.ingest_events >= 5_000_000
    assert large.min_repetitions == 3
    assert large.topic("ingest").startswith("bench-ingest-")


def test_workdir_from_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGLAKE_BENCH_DIR", str(tmp_path))
    cfg = BenchConfig.create()
    assert cfg.workdir.parent == tmp_path.resolve()


def test_scale_multiplies_every_event_count(tmp_path: Any) -> None:
    cfg = BenchConfig.create(workdir=tmp_path, scale=0.2)
    assert cfg.sizes.ingest_events == 1_000_000
    assert cfg.sizes.etl_events == 2_000_000
    assert cfg.sizes.scaling_events == (200_000, 600_000, 2_000_000)
    with pytest.raises(ValueError, match="greater than 0"):
        BenchConfig.create(workdir=tmp_path, scale=-1)
