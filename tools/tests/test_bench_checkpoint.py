"""Spark checkpoint reading and the latency arithmetic built on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from loglake_tools.bench.checkpoint import batch_sizes, drain_seconds, read_batches
from loglake_tools.bench.latency import batch_overheads, event_latencies, percentiles

pytestmark = pytest.mark.unit


def write_batch(
    cp: Path, n: int, trigger_ms: int, ends: dict[int, int], commit_at: float | None
) -> None:
    (cp / "offsets").mkdir(parents=True, exist_ok=True)
    (cp / "commits").mkdir(parents=True, exist_ok=True)
    meta = {"batchWatermarkMs": 0, "batchTimestampMs": trigger_ms, "conf": {}}
    body = (
        "v1\n" + json.dumps(meta) + "\n" + json.dumps({"t": {str(p): o for p, o in ends.items()}})
    )
    (cp / "offsets" / str(n)).write_text(body)
    os.utime(cp / "offsets" / str(n), (trigger_ms / 1000, trigger_ms / 1000))
    if commit_at is not None:
        (cp / "commits" / str(n)).write_text('v1\n{"nextBatchWatermarkMs":0}')
        os.utime(cp / "commits" / str(n), (commit_at, commit_at))


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    cp = tmp_path / "cp"
    write_batch(cp, 0, 1_000_000, {0: 10, 1: 5}, 1_002.0)
    write_batch(cp, 1, 1_005_000, {0: 30, 1: 5}, 1_006.5)
    write_batch(cp, 2, 1_010_000, {0: 30, 1: 5}, 1_010.1)  # empty batch
    write_batch(cp, 3, 1_015_000, {0: 40, 1: 9}, None)  # planned, not committed
    (cp / "offsets" / ".0.crc").write_text("x")
    return cp


def test_batches_in_order_with_sizes_and_drain(checkpoint: Path) -> None:
    batches = read_batches(checkpoint)
    assert [b.batch_id for b in batches] == [0, 1, 2, 3]
    assert batches[0].end_offsets == {"t": {0: 10, 1: 5}}
    assert batches[0].trigger_ms == 1_000_000
    assert batches[3].committed_at is None
    assert batch_sizes(batches) == [15, 20, 0, 14]
    # first busy batch starts at 1000.0, last committed busy batch commits at 1006.5
    assert drain_seconds(batches) == pytest.approx(6.5)


def test_missing_checkpoint_is_empty(tmp_path: Path) -> None:
    assert read_batches(tmp_path / "nope") == []
    assert drain_seconds([]) is None


def test_each_event_gets_the_commit_time_of_its_batch(checkpoint: Path) -> None:
    batches = read_batches(checkpoint)
    times = {
        0: ([9, 10, 29], [1_001_000, 1_004_000, 1_005_500]),  # batch 0, 1, 1
        1: ([4, 5], [1_000_500, 1_012_000]),  # batch 0; offset 5 only in uncommitted batch 3
    }
    lat, missing = event_latencies(batches, times, "t")
    assert missing == 1
    assert sorted(np.round(lat, 3).tolist()) == sorted([1.0, 2.5, 1.0, 1.5])


def test_percentiles_and_overheads() -> None:
    assert percentiles(np.array([])) == {}
    p = percentiles(np.arange(1, 101, dtype=float))
    assert p["p50"] == pytest.approx(50.5)
    assert p["p99"] == pytest.approx(99.01)
    records = [
        {"batch_ms": 900, "write_ms": 600, "rows_in": 10},
        {"batch_ms": 50, "write_ms": 0, "rows_in": 0},  # idle batch: not an overhead sample
        {"batch_ms": 1000, "write_ms": 500, "rows_in": 3},
    ]
    assert batch_overheads(records).tolist() == [300.0, 500.0]
