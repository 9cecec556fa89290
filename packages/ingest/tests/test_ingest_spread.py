"""Spreading a batch's dates over write tasks (``loglake_ingest.spread``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from loglake_ingest.spread import date_bins, partition_keys, spark_hash_int

DAY = date(2026, 11, 20)


@pytest.mark.unit
def test_bins_balance_rows_and_never_split_a_date():
    counts = {DAY + timedelta(days=i): n for i, n in enumerate([348, 143, 120, 90, 60, 30, 5, 1])}
    bins = date_bins(counts, 2)
    assert set(bins) == set(counts)
    loads = [sum(n for d, n in counts.items() if bins[d] == b) for b in (0, 1)]
    assert max(loads) <= 0.52 * sum(counts.values())  # within 4 % of an even split
    assert bins == date_bins(dict(reversed(counts.items())), 2)  # independent of order


@pytest.mark.unit
def test_bins_are_never_more_than_dates_or_slots():
    assert date_bins({DAY: 10}, 4) == {DAY: 0}
    assert date_bins({}, 4) == {}
    many = {DAY + timedelta(days=i): 1 for i in range(9)}
    assert set(date_bins(many, 4).values()) == {0, 1, 2, 3}


@pytest.mark.unit
def test_partition_keys_are_distinct_and_land_where_spark_would_put_them():
    for n in (1, 2, 3, 4, 8, 16):
        keys = partition_keys(n)
        assert len(set(keys)) == n
        assert [spark_hash_int(k) % n for k in keys] == list(range(n))


@pytest.mark.spark
def test_python_hash_is_sparks_hash(spark):
    from pyspark.sql import functions as sf

    values = [0, 1, 2, 7, 42, 1000, -1, -5, 2**31 - 1, -(2**31)]
    frame = spark.createDataFrame([(v,) for v in values], "v INT")
    got = {r["v"]: r["h"] for r in frame.select("v", sf.hash("v").alias("h")).collect()}
    assert got == {v: spark_hash_int(v) for v in values}


@pytest.mark.spark
def test_each_bin_gets_its_own_spark_partition(spark):
    from pyspark.sql import functions as sf

    counts = {DAY + timedelta(days=i): 50 * (i + 1) for i in range(6)}
    rows = [(d, i) for d, n in counts.items() for i in range(n)]
    frame = spark.createDataFrame(rows, "event_date DATE, i INT")
    bins = date_bins(counts, 3)
    keys = partition_keys(3)
    task = sf.create_map(*(v for d, b in bins.items() for v in (sf.lit(d), sf.lit(keys[b]))))
    spread = frame.repartition(3, task[sf.col("event_date")])
    placed = spread.select("event_date", sf.spark_partition_id().alias("p")).distinct().collect()
    partition_of = {r["event_date"]: r["p"] for r in placed}
    assert len(placed) == len(counts)  # one partition per date
    assert partition_of == bins
