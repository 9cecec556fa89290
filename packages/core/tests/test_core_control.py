"""The control-table model: keys, item round trips, completeness of a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loglake_core.control import (
    DateItem,
    DateStatus,
    JobState,
    JobStatus,
    RunRecord,
    StreamProgress,
    date_sk,
    is_date_complete,
    iso,
    job_pk,
    run_sk,
    stream_pk,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 16, 30, 5, 123000, tzinfo=UTC)


def test_keys():
    assert stream_pk("ingest") == "stream#ingest"
    assert job_pk("loglake-etl") == "job#loglake-etl"
    assert date_sk(date(2026, 1, 2)) == "date#2026-01-02"
    assert run_sk(NOW, "jr_1") == "run#2026-11-27T16:30:05.123000+00:00#jr_1"


def test_run_keys_sort_by_start_time():
    earlier = run_sk(NOW, "jr_z")
    later = run_sk(NOW + timedelta(seconds=1), "jr_a")
    assert earlier < later


def test_iso_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="no time zone"):
        iso(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("watermark", "lateness", "complete"),
    [
        (datetime(2026, 11, 27, 0, 59, tzinfo=UTC), 3600, False),
        (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), 3600, True),
        (datetime(2026, 11, 27, 0, 0, tzinfo=UTC), 0, True),
        (datetime(2026, 11, 26, 23, 59, tzinfo=UTC), 0, False),
    ],
)
def test_date_is_complete_when_watermark_passes_end_plus_lateness(watermark, lateness, complete):
    assert is_date_complete(date(2026, 11, 26), watermark, lateness) is complete


def test_items_round_trip():
    state = JobState(
        job="j", version=4, status=JobStatus.RETRY_WAIT, processed_through=date(2026, 11, 25),
        dates=(date(2026, 11, 26),), attempt=2, run_ids=("jr_1", "jr_2"), last_error="boom",
        next_attempt_at=NOW, claimed_at=NOW, pending_alert={"job": "j", "attempts": 2},
        updated_at=NOW,
    )  # fmt: skip
    assert JobState.from_item(state.to_item()) == state
    item = DateItem(job="j", day=date(2026, 11, 26), status=DateStatus.DIRTY, version=3,
                    last_run_id="jr_2", reason="late data", updated_at=NOW)  # fmt: skip
    assert DateItem.from_item(item.to_item()) == item
    record = RunRecord(job="j", run_id="jr_2", started_at=NOW, dates=(date(2026, 11, 26),),
                       attempt=2, status="FAILED", runner="glue", ended_at=NOW, error="x",
                       transitions=({"from": "running", "to": "retry_wait"},))  # fmt: skip
    assert RunRecord.from_item(record.to_item()) == record
    progress = StreamProgress(stream="ingest", batch_id=9, watermark=NOW,
                              dates=(date(2026, 11, 26),), counters={"read": 5},
                              last_counters={"read": 2}, updated_at=NOW)  # fmt: skip
    assert StreamProgress.from_item(progress.to_item()) == progress


def test_moved_bumps_version_and_status():
    state = JobState(job="j")
    moved = state.moved(JobStatus.STARTING, now=NOW, attempt=1)
    assert (moved.version, moved.status, moved.attempt, moved.updated_at) == (
        1, JobStatus.STARTING, 1, NOW,
    )  # fmt: skip
    assert state.version == 0  # frozen: the original is unchanged
