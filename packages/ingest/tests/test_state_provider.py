"""The de-dup's state store: Spark's RocksDB provider with a filter of its keys in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loglake_ingest.config import IngestConfig
from loglake_ingest.errors import IngestError
from loglake_ingest.job import (
    FILTERED_STATE_PROVIDER,
    STATE_PROVIDER_KEY,
    STATE_STORE_CONF,
    choose_state_provider,
)

pytestmark = pytest.mark.spark

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def _ids(folder: Path, name: str, ids: range) -> None:
    rows = [json.dumps({"id": f"id-{i}", "t": "2026-01-01T00:00:00Z"}) for i in ids]
    (folder / name).write_text("\n".join(rows) + "\n")


def _drain(spark, incoming: Path, checkpoint: Path, provider: str) -> list[dict]:
    """Run the de-dup over every new file once; per batch: rows kept and the store's figures.

    The job's state settings apply (without Spark's row count, whose own lookups would count).
    """
    settings = {**STATE_STORE_CONF, STATE_PROVIDER_KEY: provider}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        kept: list[int] = []
        stream = (
            spark.readStream.schema("id STRING, t TIMESTAMP")
            .option("maxFilesPerTrigger", 1)
            .json(str(incoming))
            .withWatermark("t", "10 minutes")
            .dropDuplicatesWithinWatermark(["id"])
        )
        query = (
            stream.writeStream.foreachBatch(lambda df, _: kept.append(df.count()))
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        figures = []
        for update, rows in zip(query.recentProgress, kept, strict=True):
            progress = json.loads(update.json)
            if not progress["numInputRows"]:
                continue
            metrics = progress["stateOperators"][0]["customMetrics"]
            figures.append(
                {
                    "kept": rows,
                    "dropped": metrics["numDroppedDuplicateRows"],
                    "gets": metrics["rocksdbGetCount"],
                }
            )
        return figures
    finally:
        for key in settings:
            spark.conf.unset(key)


@pytest.mark.parametrize("provider", [FILTERED_STATE_PROVIDER, ROCKSDB_PROVIDER])
def test_the_filtered_store_drops_the_same_duplicates_across_batches_and_restarts(
    spark, tmp_path, provider
):
    incoming, checkpoint = tmp_path / "in", tmp_path / "checkpoint"
    incoming.mkdir()
    _ids(incoming, "a.json", range(1000))
    _ids(incoming, "b.json", range(800, 1200))  # 200 seen in the batch before
    first = _drain(spark, incoming, checkpoint, provider)
    # a new run of the query opens the stores from the checkpoint: the filter is rebuilt
    _ids(incoming, "c.json", range(1100, 1400))  # 100 seen in the run before
    second = _drain(spark, incoming, checkpoint, provider)

    assert [(f["kept"], f["dropped"]) for f in first + second] == [
        (1000, 0),
        (200, 200),
        (200, 100),
    ]
    gets = [f["gets"] for f in first + second]
    if provider == FILTERED_STATE_PROVIDER:
        # RocksDB is asked about the ids seen before (and the filter's few false positives)
        assert 200 <= gets[1] < 220
        assert 100 <= gets[2] < 120
        assert gets[0] < 30  # an empty store: the filter answers nearly every lookup
    else:  # Spark's store asks RocksDB about every row
        assert gets == [1000, 400, 300]


def test_the_job_uses_the_filtered_store_for_a_new_checkpoint(spark, tmp_path):
    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    try:
        assert choose_state_provider(spark, config) == FILTERED_STATE_PROVIDER
        assert spark.conf.get(STATE_PROVIDER_KEY) == FILTERED_STATE_PROVIDER
    finally:
        spark.conf.unset(STATE_PROVIDER_KEY)
    mine = IngestConfig(
        topics=("t",),
        lake=str(tmp_path / "lake"),
        bootstrap="unused:1",
        control_table=None,
        spark_conf={STATE_PROVIDER_KEY: ROCKSDB_PROVIDER},
    )
    assert choose_state_provider(spark, mine) == ROCKSDB_PROVIDER


def _offset_log(checkpoint: str, provider: str) -> None:
    offsets = Path(checkpoint.removeprefix("file://")) / "offsets"
    offsets.mkdir(parents=True)
    conf = {STATE_PROVIDER_KEY: provider}
    metadata = {"batchWatermarkMs": 0, "batchTimestampMs": 0, "conf": conf}
    (offsets / "0").write_text("v1\n" + json.dumps(metadata) + '\n{"t":{"0":5}}\n')


def test_a_checkpoint_keeps_its_provider_and_a_missing_one_is_named(spark, tmp_path):
    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    _offset_log(config.checkpoint_uri, ROCKSDB_PROVIDER)
    assert choose_state_provider(spark, config) == ROCKSDB_PROVIDER

    other = IngestConfig(
        topics=("t",), lake=str(tmp_path / "other"), bootstrap="unused:1", control_table=None
    )
    _offset_log(other.checkpoint_uri, "com.example.MissingProvider")
    with pytest.raises(IngestError) as caught:
        choose_state_provider(spark, other)
    message = str(caught.value)
    assert "com.example.MissingProvider" in message
    assert other.checkpoint_uri in message
    assert "classpath" in message


def test_another_spark_line_keeps_sparks_provider(monkeypatch, tmp_path):
    """The filtered provider implements Spark's internal interfaces of the line it is built for."""
    from types import SimpleNamespace

    from loglake_ingest import job, source

    settings = {STATE_PROVIDER_KEY: ROCKSDB_PROVIDER}
    conf = SimpleNamespace(get=settings.get, set=settings.__setitem__)
    monkeypatch.setattr(source, "checkpoint_conf", lambda spark, checkpoint: {})
    monkeypatch.setattr(job, "jvm_has_class", lambda spark, name: True)
    config = IngestConfig(
        topics=("t",), lake=str(tmp_path / "lake"), bootstrap="unused:1", control_table=None
    )
    assert choose_state_provider(SimpleNamespace(version="4.2.0", conf=conf), config) == (
        ROCKSDB_PROVIDER
    )
    assert settings[STATE_PROVIDER_KEY] == ROCKSDB_PROVIDER
    assert choose_state_provider(SimpleNamespace(version="4.1.1", conf=conf), config) == (
        FILTERED_STATE_PROVIDER
    )
