"""Spark against the local stack: the Kafka source and Delta on s3a://."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_spark_batch_reads_a_kafka_topic(spark, local_stack, kafka_topic):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    for i in range(50):
        producer.produce(kafka_topic, key=str(i).encode(), value=json.dumps({"n": i}).encode())
    assert producer.flush(30) == 0

    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", local_stack.kafka_bootstrap)
        .option("subscribe", kafka_topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    rows = df.selectExpr("CAST(value AS STRING) AS v", "partition").collect()
    assert sorted(json.loads(r.v)["n"] for r in rows) == list(range(50))
    assert {r.partition for r in rows} <= set(range(6))


def test_delta_write_and_read_on_s3a(spark, local_stack, s3a_bucket):
    from loglake_tools.stack import s3_client

    path = f"{s3a_bucket}/raw/events"
    df = spark.createDataFrame(
        [(i, f"2026-11-{20 + i % 3:02d}") for i in range(30)], "n INT, event_date STRING"
    ).coalesce(1)
    df.write.format("delta").partitionBy("event_date").mode("overwrite").save(path)
    spark.createDataFrame([(100, "2026-11-20")], "n INT, event_date STRING").write.format(
        "delta"
    ).mode("append").save(path)

    rows = spark.read.format("delta").load(path).collect()
    assert len(rows) == 31
    assert sum(r.event_date == "2026-11-20" for r in rows) == 11

    bucket = s3a_bucket.removeprefix("s3a://")
    keys = [
        o["Key"]
        for o in s3_client(local_stack.s3_endpoint)
        .list_objects_v2(Bucket=bucket, Prefix="raw/events/")
        .get("Contents", [])
    ]
    assert "raw/events/_delta_log/00000000000000000000.json" in keys
    assert "raw/events/_delta_log/00000000000000000001.json" in keys
    assert any(
        k.startswith("raw/events/event_date=2026-11-21/") and k.endswith(".parquet") for k in keys
    )


def test_the_local_driver_starts_from_the_class_archive(spark):
    from loglake_core.spark.session import class_archive

    archive = class_archive()
    assert archive is not None, "no JVM class archive; `loglake jars fetch` builds it"
    runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert f"-XX:SharedArchiveFile={archive}" in list(runtime.getInputArguments())
