from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loglake_core.histogram import (
    GAMMA,
    MIN_VALUE,
    RELATIVE_ACCURACY,
    ZERO_BUCKET,
    bucket_bounds,
    bucket_index,
    bucket_value,
    histogram_of,
    merge,
    merge_all,
    percentile_from_histogram,
    total,
)

pytestmark = pytest.mark.unit

tti = st.floats(min_value=0.0, max_value=599_999.999, allow_nan=False, allow_infinity=False)


def lower_rank_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def test_accuracy_constant_is_below_one_percent() -> None:
    assert pytest.approx((GAMMA - 1) / (GAMMA + 1)) == RELATIVE_ACCURACY
    assert RELATIVE_ACCURACY < 0.01


@given(tti)
def test_value_lies_in_its_bucket_and_estimate_is_within_one_percent(x: float) -> None:
    i = bucket_index(x)
    if x < MIN_VALUE:
        assert i == ZERO_BUCKET
        assert bucket_value(i) == 0.0
        return
    lower, upper = bucket_bounds(i)
    # the edge shift moves bounds by a relative 1e-9 at most
    assert lower * (1 - 1e-8) < x <= upper * (1 + 1e-8)
    assert abs(bucket_value(i) - x) / x <= RELATIVE_ACCURACY + 1e-8


@pytest.mark.parametrize("k", [0, 1, 2, 100, 349, 671])
def test_exact_powers_of_gamma_are_upper_bounds(k: int) -> None:
    assert bucket_index(GAMMA**k) == k
    assert bucket_index(GAMMA**k * (1 + 1e-6)) == k + 1


def test_known_buckets() -> None:
    assert bucket_index(0.0) == ZERO_BUCKET
    assert bucket_index(0.999) == ZERO_BUCKET
    assert bucket_index(1.0) == 0
    assert bucket_index(1000.0) == 349
    assert bucket_index(599_999.0) <= 672


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_rejects_values_that_are_not_tti(bad: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        bucket_index(bad)


@given(st.lists(tti, min_size=1, max_size=300), st.floats(min_value=0.0, max_value=1.0))
def test_percentile_within_one_percent_of_lower_rank_quantile(
    values: list[float], q: float
) -> None:
    exact = lower_rank_quantile(values, q)
    estimate = percentile_from_histogram(histogram_of(values), q)
    assert estimate is not None
    if exact < MIN_VALUE:
        assert estimate == 0.0
    else:
        assert abs(estimate - exact) / exact <= RELATIVE_ACCURACY + 1e-8


@given(st.lists(tti, max_size=50), st.lists(tti, max_size=50), st.lists(tti, max_size=50))
def test_merge_equals_histogram_of_concatenation(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ha, hb, hc = histogram_of(a), histogram_of(b), histogram_of(c)
    assert merge(ha, hb) == histogram_of(a + b)
    assert merge(merge(ha, hb), hc) == merge(ha, merge(hb, hc))
    assert merge_all([ha, hb, hc]) == histogram_of(a + b + c)
    assert total(merge_all([ha, hb, hc])) == len(a) + len(b) + len(c)


def test_merge_does_not_modify_inputs() -> None:
    h1, h2 = {1: 2}, {1: 3, 4: 1}
    assert merge(h1, h2) == {1: 5, 4: 1}
    assert h1 == {1: 2}
    assert h2 == {1: 3, 4: 1}


def test_weekly_rollup_of_daily_histograms() -> None:
    rng = random.Random(7)
    days = [[rng.lognormvariate(6.8, 0.7) for _ in range(2000)] for _ in range(7)]
    week = merge_all(histogram_of(d) for d in days)
    everything = [v for d in days for v in d]
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = lower_rank_quantile(everything, q)
        estimate = percentile_from_histogram(week, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact <= RELATIVE_ACCURACY


def test_empty_histogram_and_bad_quantiles() -> None:
    assert percentile_from_histogram({}, 0.5) is None
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        percentile_from_histogram({1: 1}, 1.5)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        percentile_from_histogram({1: -1}, 0.5)
    with pytest.raises(ValueError, match="bucket index"):
        bucket_bounds(-5)
