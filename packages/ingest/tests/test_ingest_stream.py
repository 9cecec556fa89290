"""The streaming path end to end on Spark with a file source shaped like Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loglake_ingest.config import IngestConfig
from loglake_ingest.job import run_ingest

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

    summary = run_ingest(
        config,
        spark=spark,
        validator=validator,
        source=_source(spark, incoming),
        install_signals=False,
    )

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
