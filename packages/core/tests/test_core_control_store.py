"""The control store on moto's DynamoDB: marshalling, conditional writes, progress, dirty dates."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from loglake_core.control import ConflictError, DateItem, DateStatus, JobState, JobStatus
from loglake_core.control_store import ControlStore

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
D1, D2, D3 = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)


@pytest.fixture
def store():
    with mock_aws():
        store = ControlStore("control", client=boto3.client("dynamodb", region_name="us-east-1"))
        assert store.create_table_if_missing() is True
        assert store.create_table_if_missing() is False
        yield store


def test_table_name_from_env(monkeypatch):
    monkeypatch.setenv("LOGLAKE_CONTROL_TABLE", "from-env")
    assert ControlStore(client=object()).table_name == "from-env"
    monkeypatch.delenv("LOGLAKE_CONTROL_TABLE")
    assert ControlStore(client=object()).table_name == "loglake-control"


def test_items_are_stored_as_plain_dynamodb_types(store):
    state = JobState(job="j").moved(JobStatus.RUNNING, now=NOW, dates=(D1,), run_id="jr_1")
    store.commit(state)
    raw = store.client.get_item(
        TableName="control", Key={"pk": {"S": "job#j"}, "sk": {"S": "state"}}
    )
    item = raw["Item"]
    assert item["version"] == {"N": "1"}
    assert item["dates"] == {"L": [{"S": "2026-11-25"}]}
    assert item["updated_at"] == {"S": "2026-11-27T12:00:00+00:00"}
    assert item["last_error"] == {"NULL": True}
    assert store.get_job_state("j") == state


def test_stream_progress_moves_forward_only(store):
    assert store.get_stream_progress("ingest") is None
    store.update_stream_progress(
        "ingest", batch_id=0, watermark=NOW, dates={D1}, counters={"read": 10}
    )
    store.update_stream_progress(
        "ingest", batch_id=1, watermark=NOW - timedelta(hours=1), dates={D2}, counters={"read": 5}
    )
    # Replaying batch 1 (after a restart) and an older batch change nothing.
    store.update_stream_progress(
        "ingest", batch_id=1, watermark=NOW, dates={D3}, counters={"read": 5}
    )
    store.update_stream_progress(
        "ingest", batch_id=0, watermark=NOW, dates={D3}, counters={"read": 9}
    )
    progress = store.get_stream_progress("ingest")
    assert progress.batch_id == 1
    assert progress.watermark == NOW  # never goes back
    assert progress.dates == (D1, D2)
    assert progress.counters == {"read": 15}
    assert progress.last_counters == {"read": 5}


def test_a_new_query_records_its_batches_from_zero_and_keeps_the_totals(store, caplog):
    store.update_stream_progress(
        "ingest", batch_id=7, watermark=NOW, dates={D1}, counters={"read": 10}, query_id="q1"
    )
    # The checkpoint was deleted and recreated: the new query's batch ids restart at 0.
    store.update_stream_progress(
        "ingest",
        batch_id=0,
        watermark=NOW - timedelta(hours=2),
        dates={D2},
        counters={"read": 4},
        query_id="q2",
    )
    progress = store.get_stream_progress("ingest")
    assert (progress.batch_id, progress.query_id) == (0, "q2")
    assert progress.watermark == NOW  # never goes back, whichever query wrote it
    assert progress.dates == (D1, D2)
    assert progress.counters == {"read": 14}
    assert "a new checkpoint has started" in caplog.text
    # Within the new query a replayed batch still changes nothing.
    store.update_stream_progress(
        "ingest", batch_id=0, watermark=NOW, dates={D3}, counters={"read": 4}, query_id="q2"
    )
    assert store.get_stream_progress("ingest").counters == {"read": 14}
    assert store.get_stream_progress("ingest").version == 2


def test_progress_written_before_query_ids_is_taken_over(store):
    legacy = {
        "pk": {"S": "stream#ingest"},
        "sk": {"S": "progress"},
        "batch_id": {"N": "3"},
        "watermark": {"S": NOW.isoformat()},
        "dates": {"L": [{"S": D1.isoformat()}]},
        "counters": {"M": {"read": {"N": "6"}}},
    }
    store.client.put_item(TableName="control", Item=legacy)
    assert store.get_stream_progress("ingest").version == 0
    store.update_stream_progress(
        "ingest", batch_id=4, watermark=NOW, dates={D2}, counters={"read": 1}, query_id="q1"
    )
    progress = store.get_stream_progress("ingest")
    assert (progress.batch_id, progress.query_id, progress.version) == (4, "q1", 1)
    assert progress.counters == {"read": 7}


def test_concurrent_progress_writers_lose_nothing(store):
    lock = threading.Lock()

    class Serialized:  # DynamoDB applies each request atomically; moto in-process does not lock
        def __getattr__(self, name):
            attr = getattr(store.client, name)

            def call(*a, **k):
                with lock:
                    return attr(*a, **k)

            return call if callable(attr) else attr

    shared = ControlStore("control", client=Serialized())
    threads = [
        threading.Thread(
            target=shared.update_stream_progress,
            args=("ingest",),
            kwargs={
                "batch_id": i,
                "watermark": NOW,
                "dates": {D1 + timedelta(days=i)},
                "counters": {"read": 1},
            },
        )
        for i in range(1, 6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    progress = store.get_stream_progress("ingest")
    assert progress.batch_id == 5
    # Writers that lost to a higher batch id gave up, but every winner's dates are kept.
    assert set(progress.dates) >= {D1 + timedelta(days=5)}
    assert progress.counters["read"] <= 5


def test_commit_is_conditional_on_version(store):
    first = JobState(job="j").moved(JobStatus.STARTING, now=NOW, claim_token="a")
    store.commit(first)
    with pytest.raises(ConflictError, match="state version 0"):
        store.commit(JobState(job="j").moved(JobStatus.STARTING, now=NOW, claim_token="b"))
    second = first.moved(JobStatus.RUNNING, now=NOW, run_id="jr_1")
    store.commit(second, dates=[DateItem(job="j", day=D1).moved(DateStatus.RUNNING, now=NOW)])
    stale = DateItem(job="j", day=D1).moved(DateStatus.PROCESSED, now=NOW)
    with pytest.raises(ConflictError):
        store.commit(second.moved(JobStatus.IDLE, now=NOW), dates=[stale])
    # The failed transaction wrote nothing, not even the state part.
    assert store.get_job_state("j") == second
    assert store.get_date_status("j", D1) == DateStatus.RUNNING


def test_mark_dates_dirty_only_touches_run_dates(store):
    def put(day, status):
        store.client.put_item(
            TableName="control",
            Item=store._dump(DateItem(job="j", day=day).moved(status, now=NOW).to_item()),
        )

    put(D1, DateStatus.PROCESSED)
    put(D2, DateStatus.FAILED)
    put(D3, DateStatus.DIRTY)
    d4 = D3 + timedelta(days=1)
    assert store.mark_dates_dirty("j", [D1, D2, D3, d4], "late data") == [D1, D2]
    assert store.get_date_status("j", D1) == DateStatus.DIRTY
    assert store.get_date("j", D1).reason == "late data"
    assert store.get_date_status("j", d4) == DateStatus.PENDING  # never ran: no item created
    assert store.mark_dates_dirty("j", [D1], "again") == []
    assert store.mark_dates_dirty("j", [d4], "backfill", force=True) == [d4]
    assert [i.day for i in store.list_dates("j")] == [D1, D2, D3, d4]


def test_aws_without_a_region_is_a_config_error_that_says_what_to_set(monkeypatch, tmp_path):
    from loglake_core.control_store import default_client
    from loglake_core.errors import ConfigError

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "LOGLAKE_AWS_ENDPOINT", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigError, match="no AWS region is set: set AWS_REGION"):
        default_client()
    # a local endpoint needs no region of the user's
    assert default_client("http://127.0.0.1:1").meta.region_name == "us-east-1"
