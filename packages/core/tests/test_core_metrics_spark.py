from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake_core.histogram import (
    GAMMA,
    MIN_VALUE,
    RELATIVE_ACCURACY,
    ZERO_BUCKET,
    bucket_index,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

EDGES = [0.0, 1e-300, 0.5, MIN_VALUE * (1 - 1e-12), MIN_VALUE, 1.0000001, 599_999.999999]
EDGES += [GAMMA**k for k in range(0, 672, 7)]
EDGES += [GAMMA**k * (1 + 1e-12) for k in range(1, 672, 11)]
EDGES += [GAMMA**k * (1 - 1e-12) for k in range(1, 672, 13)]

#: Each Spark-backed property runs a few examples (every one is a Spark job).
FEW_EXAMPLES = settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
#: TTI values as the ETL keeps them: finite, >= 0, below 600 000 ms.
TTI_VALUES = st.floats(min_value=0.0, max_value=599_999.999, allow_nan=False, allow_infinity=False)


def spark_buckets(spark: SparkSession, values: list[float]) -> list[int | None]:
    from pyspark.sql import functions as sf

    from loglake_core.spark.metrics import tti_bucket_col

    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v double")
    rows = df.select("i", tti_bucket_col(sf.col("v")).alias("b")).orderBy("i").collect()
    return [r["b"] for r in rows]


def test_spark_bucket_matches_python_on_edges(spark: SparkSession) -> None:
    assert spark_buckets(spark, EDGES) == [bucket_index(v) for v in EDGES]


@FEW_EXAMPLES
@given(st.lists(TTI_VALUES, min_size=200, max_size=400))
def test_spark_bucket_matches_python_on_random_values(
    spark: SparkSession, values: list[float]
) -> None:
    assert spark_buckets(spark, values) == [bucket_index(v) for v in values]


def test_spark_bucket_of_non_values_is_null(spark: SparkSession) -> None:
    assert spark_buckets(spark, [-1.0, float("nan")]) == [None, None]
    assert spark_buckets(spark, [0.25]) == [ZERO_BUCKET]


def spark_percentiles(spark: SparkSession, groups: dict[str, list[float | None]]) -> list[Any]:
    """``page_metrics_daily`` rows of one page per group, views with the given TTIs."""
    from datetime import date

    from loglake_core.metrics import PAGE_METRICS_DAILY
    from loglake_core.spark.metrics import aggregate_table

    rows = [
        (date(2026, 11, 1), "web", page, "page_view", tti, 200, f"s{i}")
        for page, ttis in groups.items()
        for i, tti in enumerate(ttis)
    ]
    schema = (
        "event_date date, service string, page string, event_type string, tti_ms double, "
        "status_code int, session_id string"
    )
    df = spark.createDataFrame(rows, schema)
    return aggregate_table(df, PAGE_METRICS_DAILY).orderBy("page").collect()


@FEW_EXAMPLES
@given(st.lists(TTI_VALUES, min_size=1, max_size=300))
def test_spark_percentiles_are_read_off_the_histogram_like_python(
    spark: SparkSession, values: list[float]
) -> None:
    from loglake_core.histogram import histogram_of, percentile_from_histogram
    from loglake_core.metrics import TTI_PERCENTILES

    (row,) = spark_percentiles(spark, {"/p": list(values)})
    assert row["tti_histogram"] == histogram_of(values)
    for name, q in TTI_PERCENTILES:
        estimate = percentile_from_histogram(histogram_of(values), q)
        assert estimate is not None
        # the same bucket value, kept within the exact min and max
        assert row[name] == pytest.approx(min(max(estimate, min(values)), max(values)), rel=1e-12)
        exact = sorted(values)[math.floor(q * (len(values) - 1))]
        assert abs(row[name] - exact) <= max(RELATIVE_ACCURACY * exact, MIN_VALUE) * (1 + 1e-9)


def test_spark_percentiles_clamped_and_null_without_tti(spark: SparkSession) -> None:
    rows = spark_percentiles(spark, {"/a": [100.0, 100.0, 100.0], "/b": [None, None]})
    a, b = rows
    # 100 ms falls in a bucket whose reported value is not 100; min and max bring it back
    assert a["tti_p50"] == a["tti_p99"] == 100.0
    assert (b["views"], b["tti_count"], b["tti_histogram"]) == (2, 0, {})
    assert [b[n] for n in ("tti_p50", "tti_p90", "tti_p95", "tti_p99")] == [None] * 4


def test_a_percentile_without_its_histogram_is_refused(spark: SparkSession) -> None:
    import dataclasses

    from loglake_core.metrics import PAGE_METRICS_DAILY
    from loglake_core.spark.metrics import aggregate_table

    no_hist = tuple(m for m in PAGE_METRICS_DAILY.metrics if m.kind != "histogram")
    table = dataclasses.replace(PAGE_METRICS_DAILY, metrics=no_hist)
    df = spark.createDataFrame([], "event_date date, service string, page string")
    with pytest.raises(ValueError, match=r"tti_p50.*need a histogram metric"):
        aggregate_table(df, table)
