"""Ingest against the real broker: generator counts, hostile corpus, late data, control table.

One in-process run (the session's SparkSession) drains two topics: one filled by the
load generator (with malformed, duplicate and late shares) and one holding a hostile
corpus. Raw and quarantine must match the generator's summary exactly, every hostile
record must land in quarantine with the Python validator's reason code, valid events
after the hostile ones must still arrive, and late rows must make a processed date dirty.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

pytestmark = pytest.mark.integration

N_EVENTS = 2_000


def _event(event_id: str, when: datetime, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event_id,
        "event_time": when.isoformat(),
        "event_type": "page_view",
        "service": "web",
        "page_url": "/product/7",
        "tti_ms": 812.5,
    }
    body.update(extra)
    return body


def hostile_corpus(now: datetime) -> dict[str, tuple[bytes, str]]:
    """label -> (message value, expected reason code)."""

    def js(**extra: object) -> bytes:
        body = _event("hostile", now)
        body.update(extra)
        return json.dumps(body).encode()

    missing = _event("hostile", now)
    missing.pop("service")
    return {
        "not_json": (b"{not json}", "not_json"),
        "truncated": (js()[:25], "not_json"),
        "array": (b"[1, 2, 3]", "not_object"),
        "scalar": (b"42", "not_object"),
        "deeply_nested": (b'{"a":' * 300 + b"1" + b"}" * 300, "too_deep"),
        "invalid_utf8": (b'{"event_id": "\xff\xfe", "event_time": "x"}', "invalid_utf8"),
        "nan": (js().replace(b"812.5", b"NaN"), "not_json"),
        "infinity": (js().replace(b"812.5", b"Infinity"), "not_json"),
        "wrong_type": (js(event_id=123), "wrong_type"),
        "number_as_string": (js(tti_ms="812"), "wrong_type"),
        "oversized": (js(message="x" * 70_000), "too_large"),
        "empty": (b"", "empty"),
        "null_value": (js(event_type=None), "missing_field"),
        "missing_field": (json.dumps(missing).encode(), "missing_field"),
        "control_chars": (js()[:-1] + b', "message": "a\x01b"}', "not_json"),
        "future": (js(event_time=(now + timedelta(hours=2)).isoformat()), "future_timestamp"),
        "ancient": (js(event_time="1990-01-01T00:00:00+00:00"), "ancient_timestamp"),
        "bad_timestamp": (js(event_time="yesterday"), "bad_timestamp"),
        "unknown_event_type": (js(event_type="click"), "unknown_event_type"),
        "out_of_range": (js(tti_ms=-5), "out_of_range"),
    }


def _send_numbered(producer, topic: str, prefix: str, first: int, count: int, now) -> None:
    """Send events ``<prefix>-<first>`` .. to partition 0 of ``topic`` and wait for them."""
    for i in range(first, first + count):
        body = json.dumps(_event(f"{prefix}-{i}", now)).encode()
        producer.produce(topic, value=body, partition=0)
    assert producer.flush(30) == 0


def _mark_processed(store, job: str, day: date) -> None:
    from loglake_core.control import DateItem, DateStatus

    item = DateItem(job=job, day=day, status=DateStatus.PROCESSED, version=1)
    store.client.put_item(TableName=store.table_name, Item=store._dump(item.to_item()))


def test_ingest_matches_generator_quarantines_hostile_input_and_dirties_late_dates(
    spark, local_stack, kafka_topic, control_table_name, tmp_path
):
    from confluent_kafka import Producer

    from loglake_core.control import DEFAULT_JOB, DateStatus
    from loglake_core.control_store import ControlStore, default_client
    from loglake_core.validate import validate
    from loglake_ingest.config import IngestConfig
    from loglake_ingest.job import run_ingest
    from loglake_tools.produce import produce_events
    from loglake_tools.stack import create_topic, delete_topic

    bootstrap = local_stack.kafka_bootstrap
    summary = produce_events(
        bootstrap,
        kafka_topic,
        N_EVENTS,
        seed=7,
        malformed_share=0.05,
        duplicate_share=0.05,
        late_share=0.05,
        days=3,
        create=False,
    )
    now = datetime.now(UTC)
    corpus = hostile_corpus(now)
    hostile_topic = f"{kafka_topic}-hostile"
    create_topic(bootstrap, hostile_topic, partitions=1)
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2_000_000})
    labels = list(corpus)
    for label in labels:
        producer.produce(hostile_topic, value=corpus[label][0], partition=0)
    after = [f"after-hostile-{i}" for i in range(3)]
    for event_id in after:
        producer.produce(
            hostile_topic, value=json.dumps(_event(event_id, now)).encode(), partition=0
        )
    assert producer.flush(30) == 0

    store = ControlStore(control_table_name, client=default_client(local_stack.aws_endpoint))
    store.create_table_if_missing()
    dates = sorted(date.fromisoformat(d) for d in summary["per_date"])
    processed, untouched = dates[0], dates[-1]
    _mark_processed(store, DEFAULT_JOB, processed)

    config = IngestConfig(
        topics=(kafka_topic, hostile_topic),
        lake=str(tmp_path / "lake"),
        bootstrap=bootstrap,
        available_now=True,
        max_offsets_per_trigger=1_200,
        control_table=control_table_name,
        aws_endpoint=local_stack.aws_endpoint,
    )
    try:
        run = run_ingest(config, spark=spark, install_signals=False)
    finally:
        delete_topic(bootstrap, hostile_topic)

    layout = config.layout
    raw = spark.read.format("delta").load(layout.raw_events)
    quarantine = spark.read.format("delta").load(layout.raw_quarantine)
    main_raw = raw.filter(raw.kafka_topic == kafka_topic)
    main_quarantine = quarantine.filter(quarantine.kafka_topic == kafka_topic)

    # Happy path: exact counts against the generator's summary.
    assert main_raw.count() == summary["valid"]
    assert main_raw.select("event_id").distinct().count() == summary["valid"]
    assert main_quarantine.count() == summary["malformed"]
    per_date = {
        str(r.event_date): r["count"] for r in main_raw.groupBy("event_date").count().collect()
    }
    assert per_date == summary["per_date"]
    total = N_EVENTS + len(corpus) + len(after)
    assert run.records_read == total
    assert run.duplicates_dropped == summary["duplicates"]
    assert run.valid_written + run.quarantined + run.duplicates_dropped == total

    # Every batch reconciles and the stored rows add up to what Kafka holds.
    batches = spark.read.format("delta").load(layout.ingest_batches).collect()
    assert sum(b.records_read for b in batches) == total
    for b in batches:
        assert b.records_read == b.valid_written + b.quarantined + b.duplicates_dropped
    assert len(batches) == run.batches >= 2

    # Hostile corpus: each record quarantined with the reason the Python validator gives.
    hostile = {
        r.kafka_offset: r
        for r in quarantine.filter(quarantine.kafka_topic == hostile_topic).collect()
    }
    assert sorted(hostile) == list(range(len(labels)))
    for offset, label in enumerate(labels):
        value, expected = corpus[label]
        row = hostile[offset]
        assert (label, row.reason_code) == (label, expected)
        assert row.reason_code == validate(value, now=now).code
        assert bytes(row.raw_value) == value
        assert row.reason_message
        assert row.validator_version
    kept = raw.filter(raw.kafka_topic == hostile_topic).select("event_id").collect()
    assert sorted(r.event_id for r in kept) == after

    # Control table: progress recorded, the processed date became dirty, others untouched.
    progress = store.get_stream_progress("ingest")
    assert progress is not None
    assert progress.batch_id == max(b.batch_id for b in batches)
    assert progress.counters["records_read"] == total
    assert set(dates) <= set(progress.dates)
    assert progress.watermark is not None
    assert progress.watermark <= datetime.now(UTC)
    assert store.get_date_status(DEFAULT_JOB, processed) == DateStatus.DIRTY
    assert store.get_date_status(DEFAULT_JOB, untouched) == DateStatus.PENDING
    assert run.dirty_dates == [processed]


def test_ingest_into_an_s3a_lake(spark, local_stack, kafka_topic, s3a_bucket, tmp_path):
    from loglake_ingest.config import IngestConfig
    from loglake_ingest.job import run_ingest
    from loglake_tools.produce import produce_events

    summary = produce_events(
        local_stack.kafka_bootstrap,
        kafka_topic,
        300,
        seed=3,
        malformed_share=0.1,
        duplicate_share=0.1,
        create=False,
    )
    config = IngestConfig(
        topics=(kafka_topic,),
        lake=f"{s3a_bucket}/lake",
        # s3proxy's filesystem backend loses the empty "folders" Spark's offset log lists,
        # so the checkpoint stays on local disk here (on AWS S3 it can live in the lake).
        checkpoint=str(tmp_path / "checkpoint"),
        bootstrap=local_stack.kafka_bootstrap,
        available_now=True,
        control_table=None,
    )

    run = run_ingest(config, spark=spark, install_signals=False)

    layout = config.layout
    assert layout.raw_events.startswith("s3a://")
    raw = spark.read.format("delta").load(layout.raw_events)
    assert raw.count() == raw.select("event_id").distinct().count() == summary["valid"]
    assert spark.read.format("delta").load(layout.raw_quarantine).count() == summary["malformed"]
    assert run.duplicates_dropped == summary["duplicates"]
    batches = spark.read.format("delta").load(layout.ingest_batches).collect()
    assert sum(b.records_read for b in batches) == 300


def test_lost_offsets_stop_the_job_with_a_clear_error(spark, local_stack, kafka_topic, tmp_path):
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient

    from loglake_ingest.config import IngestConfig
    from loglake_ingest.errors import DataLossError
    from loglake_ingest.job import run_ingest

    bootstrap = local_stack.kafka_bootstrap
    producer = Producer({"bootstrap.servers": bootstrap})
    now = datetime.now(UTC)

    def send(first: int, count: int) -> None:
        _send_numbered(producer, kafka_topic, "loss", first, count, now)

    send(0, 5)
    config = IngestConfig(
        topics=(kafka_topic,),
        lake=str(tmp_path / "lake"),
        bootstrap=bootstrap,
        available_now=True,
        control_table=None,
    )
    assert run_ingest(config, spark=spark, install_signals=False).valid_written == 5
    send(5, 10)
    # Retention "deletes" offsets 5..11 before the job read them.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(kafka_topic, 0, 12)])
    for future in futures.values():
        future.result(timeout=30)

    with pytest.raises(DataLossError, match=kafka_topic) as raised:
        run_ingest(config, spark=spark, install_signals=False)
    assert "--checkpoint" in str(raised.value)


def test_a_missing_topic_or_broker_stops_the_job_before_it_starts(
    spark, local_stack, kafka_topic, tmp_path, monkeypatch
):
    from loglake_ingest import source
    from loglake_ingest.config import IngestConfig
    from loglake_ingest.errors import ConfigError, IngestError
    from loglake_ingest.job import run_ingest

    lake = tmp_path / "lake"
    config = IngestConfig(
        topics=(kafka_topic, f"{kafka_topic}-typo"),
        lake=str(lake),
        bootstrap=local_stack.kafka_bootstrap,
        available_now=True,
        control_table=None,
    )
    with pytest.raises(ConfigError) as raised:
        run_ingest(config, spark=spark, install_signals=False)
    message = str(raised.value)
    assert message.startswith(f"--topic: '{kafka_topic}-typo' does not exist on Kafka at ")
    assert kafka_topic in message.split("(its topics: ", 1)[1]  # the topics that do exist
    assert not lake.exists()  # nothing was created for a mistyped topic

    monkeypatch.setattr(source, "CHECK_TIMEOUT_SECONDS", 2)
    unreachable = IngestConfig(
        topics=(kafka_topic,),
        lake=str(lake),
        bootstrap="127.0.0.1:9",
        available_now=True,
        control_table=None,
    )
    with pytest.raises(IngestError, match=r"cannot list the topics of Kafka at 127\.0\.0\.1:9 "):
        run_ingest(unreachable, spark=spark, install_signals=False)
    assert not lake.exists()


def test_a_recreated_checkpoint_writes_its_batches_and_records_them(
    spark, local_stack, kafka_topic, control_table_name, tmp_path
):
    """Deleting the checkpoint (same path) starts a new query whose batch ids restart at 0.

    Delta must not skip them as "already written", nor the control table as "already
    recorded": the re-read events land again (the ETL's exact de-dup removes them) and
    the new ones are not lost.
    """
    import shutil

    from confluent_kafka import Producer

    from loglake_core.control_store import ControlStore, default_client
    from loglake_ingest.config import IngestConfig
    from loglake_ingest.job import run_ingest

    bootstrap = local_stack.kafka_bootstrap
    producer = Producer({"bootstrap.servers": bootstrap})
    now = datetime.now(UTC)

    def send(first: int, count: int) -> None:
        _send_numbered(producer, kafka_topic, "reset", first, count, now)

    config = IngestConfig(
        topics=(kafka_topic,),
        lake=str(tmp_path / "lake"),
        bootstrap=bootstrap,
        available_now=True,
        control_table=control_table_name,
        aws_endpoint=local_stack.aws_endpoint,
    )
    store = ControlStore(control_table_name, client=default_client(local_stack.aws_endpoint))
    send(0, 5)
    assert run_ingest(config, spark=spark, install_signals=False).valid_written == 5
    first = store.get_stream_progress(config.stream)
    assert first is not None
    assert first.query_id

    shutil.rmtree(tmp_path / "lake" / "_checkpoints" / config.stream)
    send(5, 10)
    again = run_ingest(config, spark=spark, install_signals=False)
    assert again.first_batch_id == 0
    assert again.valid_written == 15  # everything from the earliest offset, once more

    raw = spark.read.format("delta").load(config.layout.raw_events)
    ids = [r.event_id for r in raw.select("event_id").collect()]
    assert sorted(set(ids)) == sorted(f"reset-{i}" for i in range(15))
    assert len(ids) == 20
    batches = spark.read.format("delta").load(config.layout.ingest_batches)
    assert len({r.app_id for r in batches.select("app_id").collect()}) == 2

    progress = store.get_stream_progress(config.stream)
    assert progress.query_id not in (None, first.query_id)
    assert progress.counters["records_read"] == 20
