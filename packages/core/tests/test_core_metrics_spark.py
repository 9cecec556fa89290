from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake_core.histogram import GAMMA, MIN_VALUE, ZERO_BUCKET, bucket_index

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

EDGES = [0.0, 1e-300, 0.5, MIN_VALUE * (1 - 1e-12), MIN_VALUE, 1.0000001, 599_999.999999]
EDGES += [GAMMA**k for k in range(0, 672, 7)]
EDGES += [GAMMA**k * (1 + 1e-12) for k in range(1, 672, 11)]
EDGES += [GAMMA**k * (1 - 1e-12) for k in range(1, 672, 13)]


def spark_buckets(spark: SparkSession, values: list[float]) -> list[int | None]:
    from pyspark.sql import functions as sf

    from loglake_core.spark.metrics import tti_bucket_col

    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v double")
    rows = df.select("i", tti_bucket_col(sf.col("v")).alias("b")).orderBy("i").collect()
    return [r["b"] for r in rows]


def test_spark_bucket_matches_python_on_edges(spark: SparkSession) -> None:
    assert spark_buckets(spark, EDGES) == [bucket_index(v) for v in EDGES]


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.floats(min_value=0.0, max_value=599_999.999, allow_nan=False, allow_infinity=False),
        min_size=200,
        max_size=400,
    )
)
def test_spark_bucket_matches_python_on_random_values(
    spark: SparkSession, values: list[float]
) -> None:
    assert spark_buckets(spark, values) == [bucket_index(v) for v in values]


def test_spark_bucket_of_non_values_is_null(spark: SparkSession) -> None:
    assert spark_buckets(spark, [-1.0, float("nan")]) == [None, None]
    assert spark_buckets(spark, [0.25]) == [ZERO_BUCKET]
