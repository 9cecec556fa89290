"""The streaming path end to end on Spark with a file source shaped like Kafka."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loglake_ingest.config import IngestConfig
from loglake_ingest.job import WRITE_CONF, run_ingest

pytestmark = pytest.mark.spark


def _write_batch(folder: Path, name: str, values: list[bytes], start: int) -> None:
    now = datetime.now(UTC).isoformat()
    lines = [
        json.dumps(
            {
                "value": v.decode("utf-8", "replace"),
                "topic": "t",
                "partition": 0,
                "offset": start + i,
                "timestamp": now,
            }
        )
        for i, v in enumerate(values)
    ]
    (folder / name).write_text("\n".join(lines) + "\n")


def _source(spark, folder: Path):
    from pyspark.sql import functions as sf

    return (
        spark.readStream.schema(
            "value STRING, topic STRING, partition INT, offset LONG, timestamp TIMESTAMP"
        )
        .option("maxFilesPerTrigger", 1)
        .json(str(folder))
        .select(
            sf.col("value").cast("binary").alias("value"),
            "topic",
            "partition",
            "offset",
            "timestamp",
        )
    )


def test_stream_dedups_within_window_keeps_late_rows_and_quarantines(
    spark, tmp_path, validator, event
):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    now = datetime.now(UTC)
    late = now - timedelta(days=3)
    _write_batch(
        incoming,
        "a.json",
        [event("e1", now), event("e2", now), event("e2", now), b"{not json", event("old", late)],
        start=0,
    )
    _write_batch(incoming, "b.json", [event("e1", now), event("e3", now), event("old", late)], 5)
    config = IngestConfig(
        topics=("t",),
        lake=str(tmp_path / "lake"),
        bootstrap="unused:1",
        available_now=True,
        control_table=None,
    )

    # the job's own write settings (a session it builds has them)
    for key, value in WRITE_CONF.items():
        spark.conf.set(key, value)
    try:
        summary = run_ingest(
            config,
            spark=spark,
            validator=validator,
            source=_source(spark, incoming),
            install_signals=False,
        )
    finally:
        for key in WRITE_CONF:
            spark.conf.unset(key)

    raw = spark.read.format("delta").load(config.layout.raw_events)
    ids = sorted(r.event_id for r in raw.select("event_id").collect())
    assert ids == ["e1", "e2", "e3", "old"]
    quarantine = spark.read.format("delta").load(config.layout.raw_quarantine).collect()
    assert [r.kafka_offset for r in quarantine] == [3]
    assert bytes(quarantine[0].raw_value) == b"{not json"
    assert summary.valid_written == 4
    assert summary.quarantined == 1
    assert summary.batches == 2
    batches = spark.read.format("delta").load(config.layout.ingest_batches).orderBy("batch_id")
    rows = batches.collect()
    assert [r.batch_id for r in rows] == [0, 1]
    assert [r.valid_written for r in rows] == [3, 1]
    assert sorted(d.isoformat() for d in rows[0].event_dates) == sorted(
        {now.date().isoformat(), late.date().isoformat()}
    )
    # One file per date per batch.
    files = raw.inputFiles()
    assert len(files) == 2 + 1


def _watermark_lag(
    spark,
    tmp_path: Path,
    name: str,
    validator,
    values: list[list[bytes]],
    starts: list[int],
    window: int,
) -> float:
    """Seconds from batch 0's time to the watermark batch 1 runs with."""
    from loglake_ingest.dedup import prepare_stream

    incoming = tmp_path / name
    incoming.mkdir()
    for i, (batch, start) in enumerate(zip(values, starts, strict=True)):
        _write_batch(incoming, f"{i}.json", batch, start=start)
        # the file source takes files in the order of their modification times
        stamp = datetime.now(UTC).timestamp() - 60 + i
        os.utime(incoming / f"{i}.json", (stamp, stamp))
    stream = prepare_stream(_source(spark, incoming), validator=validator, window_seconds=window)
    query = (
        stream.writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / f"{name}-checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    progress = {p["batchId"]: p for p in query.recentProgress}
    started = datetime.fromisoformat(progress[0]["timestamp"])
    watermark = datetime.fromisoformat(progress[1]["eventTime"]["watermark"])
    return (started - watermark).total_seconds()


def test_a_backfill_keeps_the_watermark_one_window_behind_the_batch_time(
    spark, tmp_path, validator, event
):
    """A heartbeat row (offset a multiple of HEARTBEAT_EVERY) is keyed at the batch time.

    Without one, a batch of old events leaves the watermark two windows behind, so their ids
    stay in the state two windows instead of one.
    """
    from loglake_ingest.dedup import HEARTBEAT_EVERY

    window = 600
    late = datetime.now(UTC) - timedelta(days=3)
    first = [event(f"a{i}", late) for i in range(3)]
    second = [event("b0", late)]
    with_heartbeat = _watermark_lag(
        spark, tmp_path, "beat", validator, [first, second],
        [HEARTBEAT_EVERY - 1, HEARTBEAT_EVERY + 10], window,
    )  # fmt: skip
    without = _watermark_lag(
        spark, tmp_path, "none", validator, [first, second],
        [HEARTBEAT_EVERY + 1, HEARTBEAT_EVERY + 10], window,
    )  # fmt: skip
    assert window - 5 <= with_heartbeat <= window + 5
    assert 2 * window - 5 <= without <= 2 * window + 5


def test_batch_writer_is_idempotent_per_batch_id(spark, tmp_path, validator, event, kafka_frame):
    from loglake_ingest.batch import BatchWriter
    from loglake_ingest.tables import ensure_tables

    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    ensure_tables(spark, config.layout)
    now = datetime.now(UTC)
    batch = validator(kafka_frame([event("a", now), event("b", now), b"[1,2]"]))
    writer = BatchWriter(spark, config, read_offsets=False, query_id="q1")

    writer(batch, 7)
    writer(batch, 7)  # a replay after a crash

    layout = config.layout
    assert spark.read.format("delta").load(layout.raw_events).count() == 2
    assert spark.read.format("delta").load(layout.raw_quarantine).count() == 1
    assert spark.read.format("delta").load(layout.ingest_batches).count() == 1
    # A new query (a new checkpoint: new app id) with the same batch id writes again.
    other = BatchWriter(spark, config, read_offsets=False, query_id="q2")
    other(batch, 7)
    assert spark.read.format("delta").load(layout.raw_events).count() == 4


def test_a_date_above_the_target_file_size_is_written_by_several_tasks(
    spark, tmp_path, validator, event, kafka_frame
):
    from loglake_ingest.batch import BatchWriter
    from loglake_ingest.tables import ensure_tables

    # 10 rows per file
    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None,
        target_file_bytes=1_600, row_bytes_estimate=160,
    )  # fmt: skip
    ensure_tables(spark, config.layout)
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    values = [event(f"big-{i}", now) for i in range(40)] + [event("small", yesterday)]
    # four map tasks of about ten rows each, as the de-dup's state partitions give
    batch = validator(kafka_frame(values).repartition(4))
    BatchWriter(spark, config, read_offsets=False, query_id="q1")(batch, 0)

    raw = spark.read.format("delta").load(config.layout.raw_events)
    assert raw.count() == raw.select("event_id").distinct().count() == 41
    events = tmp_path / "lake" / "raw" / "events"
    today = sorted(p.name for p in (events / f"event_date={now.date()}").glob("*.parquet"))
    # today's 40 rows need four files: four tasks (part-<task>-...) wrote them at once,
    # not one task four files in a row
    assert len({name.split("-")[1] for name in today}) == 4
    assert len(today) >= 4
    assert len(list((events / f"event_date={yesterday.date()}").glob("*.parquet"))) == 1


def _append(spark, path, rows, **options):
    writer = spark.createDataFrame(rows, "n INT").write.format("delta").mode("append")
    for key, value in options.items():
        writer = writer.option(key, value)
    writer.save(path)


def test_commit_markers_give_each_apps_last_batch(spark, tmp_path, monkeypatch):
    from loglake_ingest import commits
    from loglake_ingest.commits import commit_marker, last_committed_batch

    path = str(tmp_path / "t")
    for app, batch in (("a", 0), ("a", 1), ("b", 5)):
        _append(spark, path, [(batch,)], userMetadata=commit_marker(app, batch))
    _append(spark, path, [(9,)], userMetadata="nightly compaction")
    for n in range(3):  # other writers' commits after the apps' last ones
        _append(spark, path, [(n,)])

    assert last_committed_batch(spark, path, "a") == 1
    assert last_committed_batch(spark, path, "b") == 5
    assert last_committed_batch(spark, path, "c") is None
    # Older than the first look: the look widens until it reaches the marker.
    monkeypatch.setattr(commits, "FIRST_LOOK", 2)
    monkeypatch.setattr(commits, "LOOK_GROWTH", 2)
    assert last_committed_batch(spark, path, "a") == 1
    assert last_committed_batch(spark, path, "c") is None


def test_a_table_written_with_delta_transactions_still_knows_its_batches(spark, tmp_path):
    from loglake_ingest.commits import last_committed_batch

    path = str(tmp_path / "t")
    _append(spark, path, [(1,)], txnAppId="loglake-ingest-old", txnVersion="4")
    _append(spark, path, [(2,)])

    assert last_committed_batch(spark, path, "loglake-ingest-old") == 4
    assert last_committed_batch(spark, path, "loglake-ingest-new") is None


def test_a_table_of_marked_commits_only_is_not_rebuilt(spark, tmp_path, monkeypatch):
    from loglake_ingest import commits
    from loglake_ingest.commits import commit_marker, last_committed_batch

    def rebuilt(*_args):
        raise AssertionError("read Delta's transaction record")

    path = str(tmp_path / "t")
    from delta.tables import DeltaTable

    DeltaTable.createIfNotExists(spark).location(path).addColumn("n", "INT").execute()
    monkeypatch.setattr(commits, "delta_transaction_version", rebuilt)
    assert last_committed_batch(spark, path, "a") is None
    _append(spark, path, [(1,)], userMetadata=commit_marker("a", 0))
    assert last_committed_batch(spark, path, "b") is None


def test_ingest_tables_checkpoint_their_logs_less_often(spark, tmp_path):
    from delta.tables import DeltaTable

    from loglake_ingest.tables import (
        CHECKPOINT_PROPERTY,
        INGEST_CHECKPOINT_INTERVAL,
        ensure_tables,
    )

    layout = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    ).layout
    ensure_tables(spark, layout)
    for path in (layout.raw_events, layout.raw_quarantine, layout.ingest_batches):
        properties = DeltaTable.forPath(spark, path).detail().first()["properties"]
        assert properties[CHECKPOINT_PROPERTY] == str(INGEST_CHECKPOINT_INTERVAL), path


def test_raw_files_keep_statistics_and_dictionaries_only_where_they_pay(
    spark, tmp_path, validator, event, kafka_frame
):
    import glob

    import pyarrow.parquet as pq
    from delta.tables import DeltaTable

    from loglake_ingest.batch import BatchWriter
    from loglake_ingest.tables import (
        RAW_PARQUET_PROPERTIES,
        RAW_STATS_COLUMNS,
        STATS_PROPERTY,
        ensure_tables,
    )

    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    layout = config.layout
    ensure_tables(spark, layout)
    properties = DeltaTable.forPath(spark, layout.raw_events).detail().first()["properties"]
    assert properties[STATS_PROPERTY] == ",".join(RAW_STATS_COLUMNS)
    assert {k: properties[k] for k in RAW_PARQUET_PROPERTIES} == RAW_PARQUET_PROPERTIES
    now = datetime.now(UTC)
    values = [event(f"e{i}", now - timedelta(seconds=i)) for i in range(50)]
    BatchWriter(spark, config, read_offsets=False, query_id="q")(validator(kafka_frame(values)), 0)
    (data_file,) = glob.glob(f"{layout.raw_events.removeprefix('file://')}/*/*.parquet")
    group = pq.ParquetFile(data_file).metadata.row_group(0)
    dictionary = {
        group.column(i).path_in_schema: group.column(i).has_dictionary_page
        for i in range(group.num_columns)
    }
    # Delta hands the table's properties to the Parquet writer: unique values, no dictionary
    picked = ("event_id", "event_time", "kafka_offset", "event_type", "service")
    assert {c: dictionary[c] for c in picked} == {
        "event_id": False,
        "event_time": False,
        "kafka_offset": False,
        "event_type": True,
        "service": True,
    }
    # the statistics of the first write: only the columns that skip files
    log = spark.read.json(f"{layout.raw_events}/_delta_log/00000000000000000001.json")
    (add,) = [json.loads(r["add"]["stats"]) for r in log.where("add IS NOT NULL").collect()]
    assert set(add["minValues"]) == set(RAW_STATS_COLUMNS)


def test_the_local_driver_runs_the_projects_rocksdb(spark):
    """The de-dup's RocksDB is the project's (tools/jvm/spark/pom.xml), not pyspark's 9.8."""
    jvm = spark.sparkContext._jvm
    jvm.org.rocksdb.RocksDB.loadLibrary()
    version = jvm.org.rocksdb.RocksDB.rocksdbVersion()
    # 10.10.1 returns a missing key without a C++ exception in the JNI stub (9.8.4 throws one)
    assert (version.getMajor(), version.getMinor()) >= (10, 10)


def test_only_a_batch_that_may_run_again_reads_the_commits(
    spark, tmp_path, validator, event, kafka_frame, monkeypatch
):
    from loglake_ingest import batch as batch_module
    from loglake_ingest.batch import BatchWriter
    from loglake_ingest.tables import ensure_tables

    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    ensure_tables(spark, config.layout)
    looked: list[str] = []
    threads: set[str] = set()
    real = batch_module.last_committed_batch

    def counting(spark, path, app_id):
        looked.append(path)
        threads.add(threading.current_thread().name)
        return real(spark, path, app_id)

    monkeypatch.setattr(batch_module, "last_committed_batch", counting)
    now = datetime.now(UTC)
    raw = spark.read.format("delta")

    writer = BatchWriter(spark, config, read_offsets=False, query_id="q1")
    writer(validator(kafka_frame([event("a", now), b"[1]"])), 0)  # first batch: may be a replay
    assert len(looked) == 3
    writer(validator(kafka_frame([event("b", now)])), 1)  # a new batch
    assert len(looked) == 3
    writer(validator(kafka_frame([event("b", now)])), 1)  # run again: left out everywhere
    assert len(looked) == 6
    # the commits are read beside the batch's compute, not before or after it
    assert threads
    assert all(name.startswith("loglake-check") for name in threads)
    assert raw.load(config.layout.raw_events).count() == 2
    assert raw.load(config.layout.raw_quarantine).count() == 1
    assert raw.load(config.layout.ingest_batches).count() == 2
    # A job that crashed after batch 2 reached raw: on restart quarantine and the batch
    # row get it, raw does not get it twice.
    from loglake_ingest.materialize import materialize
    from loglake_ingest.rows import raw_rows

    half = materialize(validator(kafka_frame([event("c", now), b"{"])))
    crashed = BatchWriter(spark, config, read_offsets=False, query_id="q1")
    crashed._append(raw_rows(half.filter("reason_code IS NULL")), config.layout.raw_events, 2)
    restarted = BatchWriter(spark, config, read_offsets=False, query_id="q1")
    restarted(half, 2)
    assert raw.load(config.layout.raw_events).count() == 3
    assert raw.load(config.layout.raw_quarantine).count() == 2
    assert raw.load(config.layout.ingest_batches).count() == 3
