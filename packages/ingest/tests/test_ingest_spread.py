"""Giving each date of a batch a write task of its own (``loglake_ingest.spread``), and
computing the batch once into that shuffle (``loglake_ingest.materialize``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from loglake_ingest.materialize import map_ranges
from loglake_ingest.spread import (
    DATE_SLOTS,
    date_slot,
    partition_keys,
    spark_hash_int,
    split_pieces,
)

DAY = date(2026, 11, 20)


@pytest.mark.unit
def test_consecutive_dates_get_slots_of_their_own():
    days = [DAY + timedelta(days=i) for i in range(DATE_SLOTS)]
    assert sorted(date_slot(d) for d in days) == list(range(DATE_SLOTS))
    # one more date shares a slot with the first: still one slot (so one task) per date
    assert date_slot(DAY + timedelta(days=DATE_SLOTS)) == date_slot(DAY)
    assert date_slot(date(1970, 1, 1)) == 0
    assert date_slot(date(1969, 12, 31)) == DATE_SLOTS - 1  # before 1970 too


@pytest.mark.unit
def test_partition_keys_are_distinct_and_land_where_spark_would_put_them():
    for n in (1, 2, 3, 4, 8, 16, 17):
        keys = partition_keys(n)
        assert len(set(keys)) == n
        assert [spark_hash_int(k) % n for k in keys] == list(range(n))


@pytest.mark.unit
def test_only_a_date_above_the_file_size_is_split_and_into_enough_tasks():
    big, small, shared = DAY, DAY + timedelta(days=1), DAY + timedelta(days=DATE_SLOTS)
    rows = {big: 25, small: 10, DAY + timedelta(days=2): 3}
    assert split_pieces(rows, max_rows=10) == {date_slot(big): 3}
    assert split_pieces({big: 10}, max_rows=10) == {}  # one file holds it
    assert split_pieces({None: 50}, max_rows=10) == {}  # type: ignore[dict-item]
    # two dates in one slot stay one task: each still gets a single file
    assert split_pieces({small: 30, shared + timedelta(days=1): 1}, max_rows=10) == {}


@pytest.mark.unit
def test_map_ranges_cover_every_map_task_once_in_equal_ranges():
    assert map_ranges(4, 2) == [(0, 2), (2, 4)]
    assert map_ranges(4, 3) == [(0, 1), (1, 2), (2, 3), (3, 4)]  # not 1 + 1 + 2 map tasks
    assert map_ranges(4, 9) == [(0, 1), (1, 2), (2, 3), (3, 4)]  # no more than the maps
    assert map_ranges(200, 3) == [(0, 50), (50, 100), (100, 150), (150, 200)]
    assert map_ranges(5, 2) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert map_ranges(1, 4) == [(0, 1)]


@pytest.mark.spark
def test_a_split_partition_is_read_by_several_tasks_from_the_same_shuffle(spark):
    from pyspark.sql import functions as sf

    from loglake_ingest.materialize import release_shuffle, shuffled_once, split_partitions

    frame = spark.range(0, 1000, numPartitions=4).select(
        sf.when(sf.col("id") % 10 < 9, 0).otherwise(1).alias("k"), "id"
    )  # 900 rows of key 0, 225 in each map task
    spread = shuffled_once(frame, 3, sf.col("k"))
    sizes = spread.groupBy(sf.spark_partition_id().alias("p")).count().collect()
    big = max(sizes, key=lambda r: r["count"])["p"]
    assert split_partitions(spread, {}) is spread
    split = split_partitions(spread, {big: 2})
    assert split.rdd.getNumPartitions() == 4  # the big partition in two, the others whole
    per_task = split.groupBy(sf.spark_partition_id().alias("p")).count().collect()
    halves = sorted(r["count"] for r in per_task if r["p"] in (big, big + 1))
    assert halves == [450, 450]  # two map tasks' worth each: 4 map tasks, balanced rows
    assert sorted(r["id"] for r in split.collect()) == list(range(1000))  # each row once
    # a write that needs some partitions reads only theirs, split or not
    alone = split_partitions(spread, {}, only=[big])
    assert alone.rdd.getNumPartitions() == 1
    assert sorted(r["id"] for r in alone.collect()) == [i for i in range(1000) if i % 10 < 9]
    halves_only = split_partitions(spread, {big: 2}, only=[big])
    assert [len(p) for p in halves_only.rdd.glom().collect()] == [450, 450]
    others = split_partitions(spread, {big: 2}, only=[p for p in range(3) if p != big])
    assert sorted(r["id"] for r in others.collect()) == list(range(9, 1000, 10))
    release_shuffle(spread)


@pytest.mark.spark
def test_python_hash_is_sparks_hash(spark):
    from pyspark.sql import functions as sf

    values = [0, 1, 2, 7, 42, 1000, -1, -5, 2**31 - 1, -(2**31)]
    frame = spark.createDataFrame([(v,) for v in values], "v INT")
    got = {r["v"]: r["h"] for r in frame.select("v", sf.hash("v").alias("h")).collect()}
    assert got == {v: spark_hash_int(v) for v in values}


@pytest.mark.spark
def test_each_date_lands_in_its_slot_and_rejected_rows_in_the_last(spark):
    from pyspark.sql import functions as sf

    from loglake_ingest.materialize import _first_shuffle, release_shuffle, shuffled_once
    from loglake_ingest.spread import slot_key

    days = [DAY + timedelta(days=i) for i in range(-3, 20)]  # more dates than slots
    rows = [(d, None, i) for i, d in enumerate(days) for _ in range(i + 1)]
    rows += [(DAY, "bad_json", n) for n in range(5)] + [(None, "missing_field", 9)]
    frame = spark.createDataFrame(rows, "event_date DATE, reason_code STRING, i INT")
    key = slot_key(sf.col("reason_code").isNull(), sf.col("event_date"))
    spread = shuffled_once(frame, DATE_SLOTS + 1, key)
    assert spread.rdd.getNumPartitions() == DATE_SLOTS + 1
    placed = spread.select(
        "event_date", "reason_code", sf.spark_partition_id().alias("p")
    ).distinct()
    valid = {r["event_date"]: r["p"] for r in placed.filter("reason_code IS NULL").collect()}
    assert valid == {d: date_slot(d) for d in days}  # each date in exactly one partition
    rejected = {r["p"] for r in placed.filter("reason_code IS NOT NULL").collect()}
    assert rejected == {DATE_SLOTS}
    assert spread.count() == len(rows)
    # the batch's shuffle files are let go once it is written
    shuffle = _first_shuffle(spread._jdf.queryExecution().analyzed().rdd())
    tracker = spark.sparkContext._jsc.sc().env().mapOutputTracker()
    assert tracker.containsShuffle(shuffle)
    release_shuffle(spread)
    assert not tracker.containsShuffle(shuffle)


@pytest.mark.spark
def test_the_shuffle_by_date_leaves_the_dedup_columns_behind(spark):
    from loglake_ingest.batch import _by_date
    from loglake_ingest.dedup import DEDUP_KEY, DEDUP_TIME
    from loglake_ingest.materialize import release_shuffle

    frame = spark.createDataFrame(
        [(DAY, None, "e1", "e1", None), (None, "bad_json", None, "\u0000kafka:t:0:7", None)],
        f"event_date DATE, reason_code STRING, event_id STRING, {DEDUP_KEY} STRING,"
        f" {DEDUP_TIME} TIMESTAMP",
    )
    spread = _by_date(frame)
    # neither table keeps them: the shuffle's rows carry only what the writes read
    assert spread.columns == ["event_date", "reason_code", "event_id"]
    assert sorted(spread.collect(), key=lambda r: r["reason_code"] or "") == [
        (DAY, None, "e1"),
        (None, "bad_json", None),
    ]
    release_shuffle(spread)


@pytest.mark.spark
def test_the_plan_under_the_shuffle_runs_once(spark):
    from pyspark.sql import functions as sf

    from loglake_ingest.materialize import shuffled_once

    def runs_of(make):
        seen = spark.sparkContext.accumulator(0)

        @sf.udf("long")
        def touch(value):
            seen.add(1)
            return value

        spread = make(spark.range(300).select(touch("id").alias("id")))
        assert spread.count() == 300
        assert spread.filter("id < 100").count() == 100
        return seen.value

    assert runs_of(lambda frame: shuffled_once(frame, 3, sf.col("id") % 3)) == 300
    # without it, every action runs the plan again
    assert runs_of(lambda frame: frame.repartition(3, sf.col("id") % 3)) >= 600


@pytest.mark.spark
def test_without_internal_create_the_batch_is_materialised(spark, monkeypatch):
    from pyspark.sql import functions as sf

    from loglake_ingest.materialize import shuffled_once

    real = spark._jsparkSession

    class NoInternalCreate:
        def __getattr__(self, name):
            if name == "internalCreateDataFrame":
                raise AttributeError(name)
            return getattr(real, name)

    frame = spark.range(500).withColumn("r", sf.rand())
    monkeypatch.setattr(spark, "_jsparkSession", NoInternalCreate())
    spread = shuffled_once(frame, 2, sf.col("id") % 2)
    monkeypatch.undo()
    first = sorted((r["id"], r["r"]) for r in spread.collect())
    assert first == sorted((r["id"], r["r"]) for r in spread.collect())
    assert len(first) == 500
