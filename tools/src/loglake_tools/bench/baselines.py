"""The baselines our jobs are measured against, each run as its own measured process.

* ``spark-bare``: the least a Spark user would write: Kafka -> ``from_json`` with the event
  schema -> Delta, partitioned by ``event_date``, ``availableNow`` trigger; no validation,
  de-duplication or quarantine.
* ``python-consumer``: the "write it myself" alternative: one Python process, confluent-kafka
  ``consume`` in batches -> orjson -> pyarrow (typed columns from the event schema) ->
  Parquet files partitioned by ``event_date``.
* ``duckdb-pages``: DuckDB computes the daily page metrics from the raw table's Parquet
  files (the file list read through the Delta log with ``deltalake``).

Run one with ``python -m loglake_tools.bench.baselines NAME --args-json '{...}'``; it prints
one JSON line with what it did (rows, batches, drain seconds) as its last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from typing import Any, Final

log = logging.getLogger(__name__)

#: Messages fetched per ``consume`` call of the Python consumer.
CONSUME_BATCH: Final = 10_000
#: Rows buffered before the Python consumer writes a Parquet file set.
ROWS_PER_FILE: Final = 500_000
#: Seconds without any message after which the Python consumer gives up (broker gone).
IDLE_GIVE_UP_SECONDS: Final = 60.0


# ---------------------------------------------------------------- bare Spark


def _event_struct() -> Any:
    """The event StructType from core (derived from ``EVENT_FIELDS`` if core lacks it)."""
    try:
        from loglake_core.spark.schema import event_struct

        return event_struct()
    except ImportError:
        from pyspark.sql import types as T  # noqa: N812

        from loglake_core.schema import EVENT_FIELDS

        simple = {
            "string": T.StringType(),
            "timestamp": T.TimestampType(),
            "double": T.DoubleType(),
            "int": T.IntegerType(),
            "long": T.LongType(),
        }
        return T.StructType(
            [
                T.StructField(
                    f.name,
                    T.MapType(T.StringType(), T.StringType())
                    if f.type == "map"
                    else simple[f.type],
                )
                for f in EVENT_FIELDS
            ]
        )


def spark_bare(
    *,
    topic: str,
    bootstrap: str,
    lake: str,
    master: str = "local[2]",
    max_offsets_per_trigger: int | None = None,
) -> dict[str, Any]:
    """Drain ``topic`` from earliest into a Delta table with ``from_json`` only.

    The session is built like our jobs' (`build_spark_session`, same defaults), and the
    micro-batch cap is our ingest job's, so the difference is the per-record work.

    Returns:
        Rows read, batches, and the drain time (first batch start to last batch end).
    """
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql import types as T  # noqa: N812

    from loglake_core.spark.session import build_spark_session

    spark = build_spark_session("loglake-bench-spark-bare", master=master)
    spark.sparkContext.setLogLevel("WARN")
    base = lake.rstrip("/")
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    # ``event_time`` is ISO-8601 text or epoch milliseconds (the event contract). Read as a
    # timestamp, Spark takes a number for epoch *seconds*: every millisecond event lands
    # some 57 000 years ahead, in a partition of its own, and the drain measures opening
    # thousands of Parquet files instead of parsing. So read it as text, then convert.
    struct = _event_struct()
    as_text = T.StructType(
        [
            T.StructField(f.name, T.StringType()) if f.name == "event_time" else f
            for f in struct.fields
        ]
    )
    # Malformed times (the generator sends some) become null rather than fail the query.
    text = F.col("event_time")
    millis = F.timestamp_millis(text.cast("long"))
    event_time = F.when(text.rlike(r"^-?[0-9]{1,15}$"), millis).otherwise(F.try_to_timestamp(text))
    parsed = (
        reader.load()
        .select(F.from_json(F.col("value").cast("string"), as_text).alias("e"))
        .select("e.*")
        .withColumn("event_time", event_time)
        .withColumn("event_date", F.to_date("event_time"))
    )
    query = (
        parsed.writeStream.format("delta")
        .option("checkpointLocation", f"{base}/_checkpoints/bare")
        .partitionBy("event_date")
        .trigger(availableNow=True)
        .start(f"{base}/raw/events")
    )
    query.awaitTermination()
    progress = [p for p in query.recentProgress if p.get("numInputRows", 0) or p.get("batchId")]
    spark.stop()
    return {"rows_read": sum(int(p.get("numInputRows", 0)) for p in progress), **_drain(progress)}


def _drain(progress: list[dict[str, Any]]) -> dict[str, Any]:
    """Batches and drain seconds from a query's progress reports."""
    from datetime import datetime

    busy = [p for p in progress if int(p.get("numInputRows", 0)) > 0]
    if not busy:
        return {"batches": 0, "drain_seconds": None}

    def ts(p: dict[str, Any]) -> float:
        return datetime.fromisoformat(str(p["timestamp"]).replace("Z", "+00:00")).timestamp()

    first = min(ts(p) for p in busy)
    last = max(ts(p) + p["durationMs"].get("triggerExecution", 0) / 1000 for p in busy)
    return {"batches": len(busy), "drain_seconds": last - first}


# ---------------------------------------------------------------- plain Python consumer


def _arrow_schema() -> Any:
    import pyarrow as pa

    from loglake_core.schema import EVENT_FIELDS

    types = {
        "string": pa.string(),
        "timestamp": pa.string(),  # cast after building: ISO strings or epoch millis
        "double": pa.float64(),
        "int": pa.int32(),
        "long": pa.int64(),
        "map": pa.map_(pa.string(), pa.string()),
    }
    return pa.schema([pa.field(f.name, types[f.type]) for f in EVENT_FIELDS])


def _to_table(values: list[bytes], schema: Any) -> tuple[Any, int]:
    """Parse JSON values into a typed Arrow table; returns it and the count of bad records."""
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    rows: list[dict[str, Any]] = []
    bad = 0
    for v in values:
        try:
            obj = orjson.loads(v)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if isinstance(obj, dict):
            t = obj.get("event_time")
            if isinstance(t, int | float) and not isinstance(t, bool):
                obj["event_time"] = None if t != t else _millis_iso(t)
            rows.append(obj)
        else:
            bad += 1
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kept = []
        for r in rows:
            try:
                pa.Table.from_pylist([r], schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                bad += 1
                continue
            kept.append(r)
        table = pa.Table.from_pylist(kept, schema=schema)
    ts_type = pa.timestamp("us", tz="UTC")
    try:
        times = pc.cast(table["event_time"], ts_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        times = pa.array([_parse_iso(s) for s in table["event_time"].to_pylist()], ts_type)
    table = table.set_column(table.schema.get_field_index("event_time"), "event_time", times)
    table = table.append_column("event_date", pc.cast(times, pa.date32()))
    return table, bad


def _parse_iso(value: str | None) -> Any:
    from datetime import datetime

    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _millis_iso(ms: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def python_consumer(*, topic: str, bootstrap: str, out_dir: str) -> dict[str, Any]:
    """Drain ``topic`` from earliest in one process and write Parquet by ``event_date``.

    Returns:
        Rows read and written, bad records, files, and the drain seconds.
    """
    import pyarrow.parquet as pq
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-python-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    meta = consumer.list_topics(topic, timeout=30)
    parts = sorted(meta.topics[topic].partitions)
    ends: dict[int, int] = {}
    for p in parts:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = high
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    schema = _arrow_schema()
    pending = {p for p in parts if ends[p] > 0}
    buffer: list[bytes] = []
    stats = {"rows_read": 0, "rows_written": 0, "bad_records": 0, "files": 0}
    first: float | None = None
    last_message = time.monotonic()

    def flush() -> None:
        if not buffer:
            return
        table, bad = _to_table(buffer, schema)
        pq.write_to_dataset(
            table,
            root_path=out_dir,
            partition_cols=["event_date"],
            basename_template=f"part-{stats['files']:05d}-{{i}}.parquet",
        )
        stats["rows_written"] += table.num_rows
        stats["bad_records"] += bad
        stats["files"] += 1
        buffer.clear()

    while pending:
        messages = consumer.consume(num_messages=CONSUME_BATCH, timeout=1.0)
        if not messages:
            if time.monotonic() - last_message > IDLE_GIVE_UP_SECONDS:
                raise SystemExit(f"no message for {IDLE_GIVE_UP_SECONDS:.0f}s; broker gone?")
            continue
        last_message = time.monotonic()
        if first is None:
            first = time.perf_counter()
        for m in messages:
            if m.error():
                continue
            buffer.append(m.value() or b"")
            if m.offset() >= ends[m.partition()] - 1:
                pending.discard(m.partition())
        stats["rows_read"] += len(messages)
        if len(buffer) >= ROWS_PER_FILE:
            flush()
    flush()
    consumer.close()
    drain = time.perf_counter() - first if first is not None else None
    return {**stats, "batches": stats["files"], "drain_seconds": drain}


# ---------------------------------------------------------------- DuckDB page metrics


def duckdb_pages(*, raw_table: str, dates: list[str], threads: int = 2) -> dict[str, Any]:
    """Compute daily page metrics of ``dates`` with DuckDB from the raw table's files.

    Returns:
        Rows read, rows after de-duplication, rows of the page metrics and total views.
    """
    import duckdb
    from deltalake import DeltaTable

    from loglake_tools.bench.duck_sql import cleaned_sql, page_metrics_sql

    started = time.perf_counter()
    dt = DeltaTable(raw_table)
    wanted = tuple(f"event_date={d}/" for d in dates)
    files = [f.removeprefix("file://") for f in dt.file_uris() if any(w in f for w in wanted)]
    if not files:
        raise SystemExit(f"no raw files for dates {dates} in {raw_table}")
    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone = 'UTC'")
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE VIEW raw AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true)"
    )
    con.execute(f"CREATE TEMP TABLE cleaned AS {cleaned_sql('raw', dates)}")
    con.execute(f"CREATE TEMP TABLE page_metrics AS {page_metrics_sql('cleaned')}")
    read = con.execute(
        f"SELECT count(*) FROM raw WHERE event_date IN ({', '.join(repr(d) for d in dates)})"
    ).fetchone()
    kept = con.execute("SELECT count(*) FROM cleaned").fetchone()
    counts = con.execute("SELECT count(*), coalesce(sum(views), 0) FROM page_metrics").fetchone()
    rows_read = read[0] if read else 0
    rows_dedup = kept[0] if kept else 0
    return {
        "rows_read": int(rows_read),
        "rows_after_dedup": int(rows_dedup),
        "page_metrics_rows": int(counts[0]) if counts else 0,
        "views": int(counts[1]) if counts else 0,
        "files": len(files),
        "compute_seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- entry point

BASELINES: Final = {
    "spark-bare": spark_bare,
    "python-consumer": python_consumer,
    "duckdb-pages": duckdb_pages,
}


def main(argv: list[str] | None = None) -> int:
    """Run one baseline and print its JSON result as the last line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m loglake_tools.bench.baselines")
    parser.add_argument("name", choices=sorted(BASELINES))
    parser.add_argument("--args-json", default="{}", help="keyword arguments, as JSON")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    kwargs = json.loads(ns.args_json)
    result = BASELINES[ns.name](**kwargs)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["BASELINES", "duckdb_pages", "main", "python_consumer", "spark_bare"]
