"""Cleaning rules on hand-made rows: which copy de-duplication keeps, dates, defaults."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest

from loglake_core.schema import RAW_EVENT_FIELDS

from .conftest import raw_spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

D1 = date(2026, 11, 1)
SCHEMA = ", ".join(f"{f.name} {raw_spark_type(f.type)}" for f in RAW_EVENT_FIELDS)


def ts(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def raw_rows(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    base = {f.name: None for f in RAW_EVENT_FIELDS}
    base.update(
        event_type="page_view", service="shop", page="/cart", tti_ms=100.0, status_code=200,
        level="info", event_date=D1, kafka_topic="events", kafka_partition=0, schema_version=1,
    )  # fmt: skip
    full = [{**base, **r} for r in rows]
    return spark.createDataFrame([tuple(r[f.name] for f in RAW_EVENT_FIELDS) for r in full], SCHEMA)


def by_first_copies(df: DataFrame) -> DataFrame:
    """Rule 3 the way the job runs it when few ids repeat (hash pass, first copies)."""
    from loglake_glue_etl.transforms import first_copies, mark_first_copies, repeated_ids

    first = df.transform(first_copies(df.transform(repeated_ids)))
    assert first.where("_copies > 1").isEmpty()
    return df.transform(mark_first_copies(first))


@pytest.fixture(params=["rank every row", "first copies", "first copies, hashes collide"])
def annotate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each way the ETL can apply rule 3; all must give the same rows."""
    from pyspark.sql import functions as sf

    from loglake_glue_etl import transforms

    if request.param == "rank every row":
        return transforms.annotate_rows
    if request.param == "first copies, hashes collide":
        # every id of a date gets the same hash: all rows become candidates, and the
        # exact step must still tell the ids apart
        monkeypatch.setattr(transforms, "_id_hash", lambda: sf.xxhash64(sf.col("event_date")))
    return by_first_copies


def cleaned(
    spark: SparkSession, rows: list[dict[str, Any]], annotate: Any = None
) -> list[dict[str, Any]]:
    from loglake_glue_etl.transforms import annotate_rows, clean_events, select_dates

    df = raw_rows(spark, rows).transform(select_dates([D1])).transform(annotate or annotate_rows)
    out = df.transform(clean_events).orderBy("event_time").collect()
    return [r.asDict() for r in out]


def test_dedup_keeps_the_first_ingested_copy_and_drops_rows_outside_their_date(
    spark: SparkSession, annotate: Any
) -> None:
    from loglake_glue_etl.transforms import row_counts, select_dates

    rows = [
        # a: two copies; the later-ingested one has a different TTI and must lose
        {"event_id": "a", "event_time": ts(1), "ingest_time": ts(2), "kafka_offset": 9,
         "tti_ms": 111.0},
        {"event_id": "a", "event_time": ts(1), "ingest_time": ts(3), "kafka_offset": 1,
         "tti_ms": 999.0},
        # b: same ingest time, the lower offset wins
        {"event_id": "b", "event_time": ts(4), "ingest_time": ts(5), "kafka_offset": 7,
         "tti_ms": 222.0},
        {"event_id": "b", "event_time": ts(4), "ingest_time": ts(5), "kafka_offset": 3,
         "tti_ms": 333.0},
        # c: its event_time is on Nov 2 but it sits in Nov 1: dropped even though first
        {"event_id": "c", "event_time": ts(0, day=2), "ingest_time": ts(0), "kafka_offset": 0},
        {"event_id": "c", "event_time": ts(6), "ingest_time": ts(7), "kafka_offset": 4,
         "tti_ms": 444.0},
        # d: one copy, no ingest time or offset (hand-written rows): kept
        {"event_id": "d", "event_time": ts(8), "tti_ms": 555.0},
        # e: two copies that differ only in the missing ingest time: the one with it wins
        {"event_id": "e", "event_time": ts(9), "kafka_offset": 2, "tti_ms": 666.0},
        {"event_id": "e", "event_time": ts(9), "ingest_time": ts(10), "kafka_offset": 8,
         "tti_ms": 777.0},
        # f: no id at all (hand-written rows), twice: ranked together like one id
        {"event_id": None, "event_time": ts(11), "ingest_time": ts(12), "kafka_offset": 6,
         "tti_ms": 888.0},
        {"event_id": None, "event_time": ts(11), "ingest_time": ts(13), "kafka_offset": 10,
         "tti_ms": 889.0},
        # another date entirely: not read
        {"event_id": "z", "event_time": ts(1, day=3), "ingest_time": ts(1, day=3),
         "kafka_offset": 5, "event_date": date(2026, 11, 3)},
    ]  # fmt: skip
    got = cleaned(spark, rows, annotate)
    assert [(r["tti_ms"]) for r in got] == [111.0, 333.0, 444.0, 555.0, 777.0, 888.0]
    annotated = raw_rows(spark, rows).transform(select_dates([D1])).transform(annotate)
    (counts,) = annotated.transform(row_counts).collect()
    assert counts.asDict() == {
        "event_date": D1,
        "rows_read": 11,
        "rows_outside_date": 1,
        "duplicates_dropped": 4,
        "rows_after_dedup": 6,
    }


def test_first_copies_flag_a_record_written_twice(spark: SparkSession) -> None:
    """The same record twice (same Kafka coordinates): the job must rank every row instead."""
    from loglake_glue_etl.transforms import first_copies, repeated_ids

    row = {"event_id": "a", "event_time": ts(1), "ingest_time": ts(2), "kafka_offset": 9}
    df = raw_rows(spark, [row, row, {**row, "event_id": "b"}])
    first = df.transform(first_copies(df.transform(repeated_ids))).collect()
    assert [(r["_first_event_id"], r["_copies"]) for r in first] == [("a", 2)]


def test_defaults_and_defensive_value_rules(spark: SparkSession) -> None:
    rows = [
        {"event_id": "l", "event_time": ts(1), "ingest_time": ts(1), "kafka_offset": 1,
         "level": None, "status_code": 700, "tti_ms": -5.0},
        {"event_id": "m", "event_time": ts(2), "ingest_time": ts(2), "kafka_offset": 2,
         "level": "WARN", "status_code": 503, "tti_ms": 600_000.0},
        {"event_id": "n", "event_time": ts(3), "ingest_time": ts(3), "kafka_offset": 3,
         "tti_ms": float("nan")},
    ]  # fmt: skip
    got = cleaned(spark, rows)
    assert [(r["level"], r["status_code"], r["tti_ms"]) for r in got] == [
        ("info", None, None),
        ("warn", 503, None),
        ("info", 200, None),
    ]


def test_null_page_is_recomputed_from_the_url(spark: SparkSession) -> None:
    urls = ["https://shop.example.com/cart?x=1", "/help#top", "https://shop.example.com"]
    rows = [
        {"event_id": f"p{i}", "event_time": ts(i + 1), "ingest_time": ts(i + 1),
         "kafka_offset": i, "page": None, "page_url": url}
        for i, url in enumerate(urls)
    ]  # fmt: skip
    got = [r["page"] for r in cleaned(spark, rows)]
    if importlib.util.find_spec("loglake_core.spark.pages") is not None:
        from loglake_core.pages import normalize_page

        assert got == [normalize_page(u) for u in urls]
    else:  # the stand-in keeps the URL path
        assert got == ["/cart", "/help", "/"]


def test_run_settings_apply_inside_and_are_restored_after(spark: SparkSession) -> None:
    from loglake_glue_etl.job import RUN_SQL_CONF, sql_conf

    key = "spark.sql.inMemoryColumnarStorage.compressed"
    assert RUN_SQL_CONF[key] == "false"
    spark.conf.set(key, "true")
    try:
        with sql_conf(spark, RUN_SQL_CONF):
            assert spark.conf.get(key) == "false"
        assert spark.conf.get(key) == "true"
        spark.conf.unset(key)
        default = spark.conf.get(key)
        with pytest.raises(RuntimeError), sql_conf(spark, RUN_SQL_CONF):
            raise RuntimeError("a failed run")
        assert spark.conf.get(key) == default
    finally:
        spark.conf.unset(key)
