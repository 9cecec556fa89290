from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from click.testing import CliRunner

from loglake_tools import produce as produce_module
from loglake_tools.loadgen import GenerationSummary, generate_events, run_id_of
from loglake_tools.produce import (
    PARALLEL_FROM,
    default_workers,
    merge_summaries,
    produce,
    split_count,
    worker_seeds,
)

pytestmark = pytest.mark.unit

SHARES = {"malformed": 0.01, "duplicate": 0.02, "late": 0.0}


def _part(seed: int, **counts) -> dict:
    base = {
        "topic": "events",
        "bootstrap": "b:1",
        "days": 2.0,
        "shares": dict(SHARES),
        "seed": seed,
        "rate": 1000.0,
        "generate_rate": 2000.0,
        "wall_seconds": 1.0,
        "send_seconds": 1.0,
        "generate_seconds": 0.5,
    }
    return {**base, **counts}


PART_A = _part(
    11,
    events_total=10,
    valid=7,
    malformed=1,
    duplicates=2,
    late=1,
    per_type={"page_view": 5, "error": 2},
    per_date={"2026-11-26": 3, "2026-11-27": 4},
    malformed_by_reason={"not_json": 1},
    send_seconds=2.0,
    generate_seconds=0.5,
)
PART_B = _part(
    22,
    events_total=6,
    valid=5,
    malformed=1,
    duplicates=0,
    late=2,
    per_type={"page_view": 4, "log": 1},
    per_date={"2026-11-25": 1, "2026-11-27": 4},
    malformed_by_reason={"empty": 1},
    send_seconds=1.0,
    generate_seconds=1.0,
)


def test_merge_adds_up_every_counter_and_breakdown_exactly():
    merged = merge_summaries([PART_A, PART_B], seed=5, wall_seconds=4.0)

    assert merged["events_total"] == 16
    assert (merged["valid"], merged["malformed"], merged["duplicates"], merged["late"]) == (
        12,
        2,
        2,
        3,
    )
    assert merged["per_type"] == {"error": 2, "log": 1, "page_view": 9}
    assert merged["per_date"] == {"2026-11-25": 1, "2026-11-26": 3, "2026-11-27": 8}
    assert merged["malformed_by_reason"] == {"empty": 1, "not_json": 1}
    assert list(merged["per_date"]) == sorted(merged["per_date"])
    # Workers run side by side: the run's rates divide by the longest worker's times.
    assert merged["rate"] == 8.0  # 16 / 2.0 s
    assert merged["generate_rate"] == 16.0  # 16 / 1.0 s
    assert merged["wall_seconds"] == 4.0
    assert merged["events_per_second"] == 4.0
    assert merged["seed"] == 5
    assert merged["workers"] == 2
    assert merged["worker_seeds"] == [11, 22]
    assert [w["events_total"] for w in merged["per_worker"]] == [10, 6]
    assert (merged["topic"], merged["bootstrap"], merged["days"]) == ("events", "b:1", 2.0)
    assert merged["shares"] == SHARES


def test_merge_keeps_every_key_of_a_single_summary():
    merged = merge_summaries([PART_A], seed=11, wall_seconds=1.0)
    assert set(PART_A) <= set(merged)
    for key in ("events_total", "valid", "per_type", "per_date", "malformed_by_reason"):
        assert merged[key] == PART_A[key]


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("per_date", lambda p: p["per_date"].pop("2026-11-26")),
        ("per_type", lambda p: p["per_type"].update(error=1)),
        ("malformed_by_reason", lambda p: p["malformed_by_reason"].clear()),
        ("valid + duplicates + malformed", lambda p: p.update(duplicates=1)),
    ],
)
def test_merge_refuses_parts_that_do_not_add_up(key, change):
    broken = copy.deepcopy(PART_A)
    change(broken)
    with pytest.raises(ValueError, match="do not add up") as info:
        merge_summaries([broken, PART_B], seed=5, wall_seconds=1.0)
    assert key in str(info.value)


@pytest.mark.parametrize("key", ["topic", "bootstrap", "days", "shares"])
def test_merge_refuses_parts_of_different_runs(key):
    other = copy.deepcopy(PART_B)
    other[key] = {"malformed": 0.5} if key == "shares" else "elsewhere"
    with pytest.raises(ValueError, match=f"disagree on '{key}'"):
        merge_summaries([PART_A, other], seed=5, wall_seconds=1.0)


def test_merge_of_real_generator_summaries_matches_the_records():
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    seeds = worker_seeds(3, 3)
    parts, records = [], []
    for seed, n in zip(seeds, split_count(5000, 3), strict=True):
        stats = GenerationSummary()
        records += generate_events(
            n,
            seed,
            malformed_share=0.02,
            duplicate_share=0.03,
            late_share=0.05,
            days=3,
            now=now,
            summary=stats,
        )
        parts.append(_part(seed, days=3.0, **stats.to_json()))
    merged = merge_summaries(parts, seed=3, wall_seconds=1.0, worker_seeds=seeds)

    kinds = Counter(kind.split(":")[0] for _k, _v, kind in records)
    assert merged["events_total"] == len(records) == 5000
    assert merged["valid"] == kinds["valid"] + kinds["late"]
    assert merged["duplicates"] == kinds["duplicate"]
    assert merged["malformed"] == kinds["malformed"]
    per_type, per_date = Counter(), Counter()
    for _key, value, kind in records:
        if kind in ("valid", "late"):
            event = orjson.loads(value)
            per_type[event["event_type"]] += 1
            when = event["event_time"]
            if isinstance(when, int):
                when = datetime.fromtimestamp(when / 1000, UTC).isoformat()
            per_date[when[:10]] += 1
    assert merged["per_type"] == dict(sorted(per_type.items()))
    assert merged["per_date"] == dict(sorted(per_date.items()))
    reasons = Counter(kind.split(":")[1] for _k, _v, kind in records if ":" in kind)
    assert merged["malformed_by_reason"] == dict(sorted(reasons.items()))


def test_worker_seeds_are_deterministic_and_their_event_ids_never_collide():
    assert worker_seeds(7, 1) == [7]  # one worker: the same bytes as produce_events(seed=7)
    assert worker_seeds(7, 4) == worker_seeds(7, 4)
    for workers in (2, 3, 8, 64):
        seeds = worker_seeds(7, workers)
        assert len(seeds) == workers
        assert len({run_id_of(s) for s in seeds}) == workers
        assert all(0 <= s < 2**48 for s in seeds)
    # Unlike seed + k, neighbouring seeds and other worker counts share no worker seed.
    runs = [worker_seeds(seed, workers) for seed in range(20) for workers in (2, 3, 4)]
    flat = [s for run in runs for s in run]
    assert len(set(flat)) == len(flat)
    assert not set(flat) & set(range(100))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        worker_seeds(7, 0)


def test_run_id_of_is_the_prefix_of_the_generated_ids():
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    _key, value, _kind = next(iter(generate_events(1, 42, now=now)))
    assert orjson.loads(value)["event_id"].startswith(run_id_of(42) + "-")


def test_split_count_and_default_workers(monkeypatch):
    assert split_count(10, 3) == [4, 3, 3]
    assert split_count(2, 4) == [1, 1, 0, 0]
    assert sum(split_count(2_000_001, 2)) == 2_000_001
    monkeypatch.setattr(produce_module, "_cores", lambda: 4)
    assert default_workers(PARALLEL_FROM - 1) == 1
    assert default_workers(PARALLEL_FROM) == 4


def test_cli_passes_workers_and_rejects_zero(monkeypatch):
    seen = {}

    def fake(bootstrap, topic, n, **kwargs):
        seen.update(kwargs, n=n)
        return merge_summaries([PART_A], seed=kwargs["seed"], wall_seconds=1.0)

    monkeypatch.setattr(produce_module, "produce_parallel", fake)
    result = CliRunner().invoke(produce, ["--topic", "t", "--events", "10", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 3
    assert seen["n"] == 10
    assert "events_total" in result.output
    result = CliRunner().invoke(produce, ["--topic", "t", "--events", "10"])
    assert result.exit_code == 0, result.output
    assert seen["workers"] is None  # produce_parallel picks: one per core from PARALLEL_FROM
    result = CliRunner().invoke(produce, ["--topic", "t", "--workers", "0"])
    assert result.exit_code == 2
    assert "0 is not in the range x>=1" in result.output
