"""Fixtures of the ETL tests: synthetic raw tables generated with DuckDB (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from loglake_core.schema import RAW_EVENT_FIELDS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from loglake_core.layout import LakeLayout

FIRST_DAY = date(2026, 11, 1)
PAGES = ["/", "/home", "/product/{id}", "/cart", "/checkout", "/search", "/account/{id}", "/help"]
SERVICES = ["shop", "search", "account"]

_SQL = """
SELECT setseed({seed});
CREATE OR REPLACE TABLE base AS
SELECT i,
       random() AS r_type, random() AS r_svc, random() AS r_page, random() AS r_status,
       random() AS r1, random() AS r2, random() AS r3, random() AS r_sess, random() AS r_lvl,
       random() AS r_late,
       {start_us} + CAST(floor(random() * {days} * 86400e6) AS BIGINT) AS event_time
FROM range({offset}, {offset} + {n}) t(i);
CREATE OR REPLACE TABLE typed AS
SELECT *,
  CASE WHEN r_type < 0.70 THEN 'page_view' WHEN r_type < 0.82 THEN 'api_request'
       WHEN r_type < 0.90 THEN 'error' ELSE 'log' END AS event_type
FROM base;
CREATE OR REPLACE TABLE events AS
SELECT
  '{prefix}' || i AS event_id,
  event_time,
  event_type,
  {services}[1 + CAST(floor(r_svc * {n_services}) AS INT)] AS service,
  CASE WHEN event_type = 'page_view' OR (event_type = 'error' AND r3 < 0.6)
       THEN {pages}[1 + CAST(floor(r_page * {n_pages}) AS INT)] END AS page,
  CASE WHEN event_type = 'page_view' THEN
       CASE WHEN r1 < 0.003 THEN 0.0
            WHEN r1 < 0.006 THEN r2
            ELSE least(exp(6.8 + 0.7 * sqrt(-2 * ln(r3)) * cos(2 * pi() * r2)), 599999.0) END
  END AS tti_ms,
  CASE WHEN event_type = 'api_request' THEN r2 * 500 END AS duration_ms,
  CAST(CASE
    WHEN event_type = 'page_view' THEN
      CASE WHEN r_status < 0.02 THEN 503 WHEN r_status < 0.05 THEN 404 ELSE 200 END
    WHEN event_type = 'api_request' THEN
      CASE WHEN r_status < 0.05 THEN 500 WHEN r_status < 0.10 THEN 429 ELSE 200 END
    WHEN event_type = 'error' THEN CASE WHEN r_status < 0.5 THEN 500 END
  END AS INTEGER) AS status_code,
  CASE WHEN event_type = 'error' THEN 'error'
       WHEN event_type = 'log' THEN
         ['debug', 'info', 'warn', 'error', 'fatal'][1 + CAST(floor(r_lvl * 5) AS INT)]
       ELSE 'info' END AS level,
  CASE WHEN r_sess >= 0.05 THEN 'sess-' || CAST(floor(r_sess * 30000) AS BIGINT) END
    AS session_id,
  DATE '1970-01-01' + CAST(floor(event_time / 86400e6) AS INTEGER) AS event_date,
  event_time + 2000000 + CAST(floor(r_sess * 60e6) AS BIGINT)
    + CASE WHEN r_late < 0.01 THEN 2 * 86400000000 ELSE 0 END AS ingest_time,
  'events' AS kafka_topic,
  CAST(i % 3 AS INTEGER) AS kafka_partition,
  CAST(i AS BIGINT) AS kafka_offset
FROM typed;
"""


@dataclass(frozen=True)
class GeneratedRaw:
    """A generated batch of raw rows (Parquet, timestamps as epoch microseconds)."""

    parquet: Path
    rows: int
    dates: list[date]


def generate_raw_parquet(
    out: Path,
    *,
    n: int,
    days: int,
    seed: float = 0.42,
    first_day: date = FIRST_DAY,
    duplicate_share: float = 0.06,
    outside_rows: int = 40,
    prefix: str = "evt-",
    offset: int = 0,
) -> GeneratedRaw:
    """Write ``n`` events plus duplicates and rows outside their date to ``out`` (Parquet).

    Duplicates are exact copies ingested later (higher offset); rows outside their date
    have an ``event_date`` one day after their ``event_time``.
    """
    import duckdb

    start_us = int((first_day - date(1970, 1, 1)).total_seconds() * 1_000_000)
    con = duckdb.connect()
    con.execute(
        _SQL.format(
            seed=seed,
            start_us=start_us,
            days=days,
            n=n,
            offset=offset,
            prefix=prefix,
            services=str(SERVICES),
            n_services=len(SERVICES),
            pages=str(PAGES),
            n_pages=len(PAGES),
        )
    )
    dup_every = max(1, round(1 / duplicate_share)) if duplicate_share > 0 else 0
    parts = ["SELECT * FROM events"]
    if dup_every:
        parts.append(
            "SELECT * REPLACE (ingest_time + 30000000 AS ingest_time, "
            f"kafka_offset + 10000000000 AS kafka_offset) FROM events "
            f"WHERE hash(event_id) % {dup_every} = 0"
        )
    if outside_rows:
        parts.append(
            "SELECT * REPLACE ('bad-' || event_id AS event_id, event_date + 1 AS event_date) "
            f"FROM events ORDER BY event_id LIMIT {outside_rows}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({' UNION ALL '.join(f'({p})' for p in parts)}) TO '{out}' (FORMAT parquet)")
    rows = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()
    con.close()
    return GeneratedRaw(
        parquet=out,
        rows=int(rows[0]) if rows else 0,
        dates=[first_day + timedelta(days=i) for i in range(days)],
    )


def raw_spark_type(kind: str) -> str:
    """Spark SQL type of a core logical field type (core's mapping, as DDL text)."""
    from loglake_core.spark.schema import spark_type

    return str(spark_type(kind).simpleString())


def parquet_to_raw(spark: SparkSession, parquet: Path) -> DataFrame:
    """Read generated Parquet as a frame with exactly the raw table's columns and types."""
    from pyspark.sql import functions as sf

    src = spark.read.parquet(str(parquet))
    cols = []
    for f in RAW_EVENT_FIELDS:
        t = raw_spark_type(f.type)
        if f.name in ("event_time", "ingest_time"):
            c = sf.timestamp_micros(sf.col(f.name))
        elif f.name == "schema_version":
            c = sf.lit(1)
        elif f.name in src.columns:
            c = sf.col(f.name)
        else:
            c = sf.lit(None)
        cols.append(c.cast(t).alias(f.name))
    return src.select(*cols)


def append_raw(spark: SparkSession, lake: LakeLayout, parquet: Path) -> None:
    """Append generated rows to the lake's raw events Delta table."""
    (
        parquet_to_raw(spark, parquet)
        .write.format("delta")
        .mode("append")
        .partitionBy("event_date")
        .save(lake.raw_events)
    )


def read_table(spark: SparkSession, path: str) -> list[dict[str, Any]]:
    """Every row of a Delta table as dicts, sorted by their keys (for equality checks)."""
    rows = [r.asDict(recursive=True) for r in spark.read.format("delta").load(path).collect()]
    return sorted(
        rows, key=lambda r: [str(v) for k, v in sorted(r.items()) if k != "tti_histogram"]
    )


@pytest.fixture(scope="session")
def big_raw(tmp_path_factory: pytest.TempPathFactory) -> GeneratedRaw:
    """210k+ generated raw rows over four days (Parquet)."""
    out = tmp_path_factory.mktemp("etl-big") / "raw.parquet"
    return generate_raw_parquet(out, n=200_000, days=4)
