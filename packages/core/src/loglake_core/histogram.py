"""A mergeable, log-bucketed histogram of TTI values with at most 1% relative error.

Daily percentiles cannot be combined into weekly ones, but histograms can: the
processed table stores, per (event_date, service, page), how many TTI values fell in
each bucket, and any roll-up (a week, all pages of a service) adds the counts up.

Buckets grow geometrically by ``GAMMA`` (1.02). Bucket ``i >= 0`` holds the values
``x`` with ``GAMMA**(i-1) < x <= GAMMA**i`` (``i = ceil(ln(x) / ln(GAMMA))``); the
value reported for a bucket is the harmonic mean of its bounds, ``2 * GAMMA**i /
(1 + GAMMA)``, which is within ``(GAMMA - 1) / (GAMMA + 1)`` (0.990%) of every value in
it. Values ``0 <= x < MIN_VALUE`` (1 ms) go to ``ZERO_BUCKET`` and are reported as 0
(absolute error below 1 ms). With TTI below 600 000 ms there are at most 674 buckets.

A histogram is a ``dict[int, int]`` (bucket index -> count); in Delta it is a
``map<int, bigint>`` column (the same shape; Spark builds it with
``loglake_core.spark.metrics``). Percentiles use the *lower nearest rank*: the value
of rank ``floor(q * (n - 1))`` (0-based) of the sorted values, so the estimate is within
1% of exactly that value.

Example:
    >>> h = histogram_of([120.0, 250.0, 250.0, 900.0])
    >>> round(percentile_from_histogram(h, 0.5), 1)
    248.4
    >>> merge(h, {ZERO_BUCKET: 2})[ZERO_BUCKET]
    2
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

#: Growth factor between consecutive bucket bounds.
GAMMA: Final = 1.02
#: ``ln(GAMMA)``, the one constant both the Python and the Spark bucket functions use.
LN_GAMMA: Final = math.log(GAMMA)
#: Smallest value with its own log bucket; smaller non-negative values go to ``ZERO_BUCKET``.
MIN_VALUE: Final = 1.0
#: Index of the bucket of values in ``[0, MIN_VALUE)``.
ZERO_BUCKET: Final = -1
#: Shift applied before ``ceil`` so that exact powers of ``GAMMA`` (whose logarithm may be
#: off by one ulp in either direction, depending on the math library) land in the same
#: bucket in Python and in Spark. It moves bucket bounds by a factor of 1e-9 at most.
EDGE_EPSILON: Final = 1e-9
#: Largest relative error of a value estimate: ``(GAMMA - 1) / (GAMMA + 1)``.
RELATIVE_ACCURACY: Final = (GAMMA - 1) / (GAMMA + 1)

Histogram = dict[int, int]


def bucket_index(ms: float) -> int:
    """Return the bucket of a non-negative value.

    Args:
        ms: the value (TTI in milliseconds); must be finite and ``>= 0``.

    Raises:
        ValueError: for a negative, infinite or NaN value (naming it).

    Example:
        >>> bucket_index(0.5), bucket_index(1.0), bucket_index(1.02), bucket_index(1000.0)
        (-1, 0, 1, 349)
    """
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"histogram value must be a finite number >= 0, got {ms!r}")
    if ms < MIN_VALUE:
        return ZERO_BUCKET
    return math.ceil(math.log(ms) / LN_GAMMA - EDGE_EPSILON)


def bucket_bounds(i: int) -> tuple[float, float]:
    """Return ``(lower, upper)`` of bucket ``i``: values ``lower < x <= upper`` fall in it.

    The zero bucket's bounds are ``(0.0, MIN_VALUE)`` (it holds ``0 <= x < MIN_VALUE``).

    Example:
        >>> bucket_bounds(0)
        (0.9803921568627451, 1.0)
    """
    if i == ZERO_BUCKET:
        return (0.0, MIN_VALUE)
    if i < 0:
        raise ValueError(f"bucket index must be >= {ZERO_BUCKET}, got {i}")
    return (GAMMA ** (i - 1), GAMMA**i)


def bucket_value(i: int) -> float:
    """The value reported for bucket ``i``: harmonic mean of its bounds (0 for the zero bucket).

    Example:
        >>> round(bucket_value(349), 3)
        993.433
    """
    if i == ZERO_BUCKET:
        return 0.0
    lower, upper = bucket_bounds(i)
    return 2.0 * lower * upper / (lower + upper)


def histogram_of(values: Iterable[float]) -> Histogram:
    """Count ``values`` into a new histogram.

    Example:
        >>> histogram_of([0.0, 1.0, 1.0])
        {-1: 1, 0: 2}
    """
    hist: Histogram = {}
    for v in values:
        i = bucket_index(v)
        hist[i] = hist.get(i, 0) + 1
    return hist


def merge(h1: Mapping[int, int], h2: Mapping[int, int]) -> Histogram:
    """Add two histograms bucket by bucket (neither is modified).

    Example:
        >>> merge({1: 2, 5: 1}, {5: 3})
        {1: 2, 5: 4}
    """
    out: Histogram = dict(h1)
    for i, c in h2.items():
        out[i] = out.get(i, 0) + c
    return out


def merge_all(histograms: Iterable[Mapping[int, int]]) -> Histogram:
    """Add any number of histograms (e.g. the seven days of a week)."""
    out: Histogram = {}
    for h in histograms:
        out = merge(out, h)
    return out


def total(hist: Mapping[int, int]) -> int:
    """Number of values counted in ``hist``."""
    return sum(hist.values())


def percentile_from_histogram(hist: Mapping[int, int], q: float) -> float | None:
    """Estimate the ``q`` quantile (lower nearest rank) from a histogram.

    The result is within ``RELATIVE_ACCURACY`` (0.99%) of the value of rank
    ``floor(q * (n - 1))`` among the counted values (or below 1 ms of it for values
    in the zero bucket).

    Args:
        hist: bucket index -> count (counts must be >= 0).
        q: quantile in ``[0, 1]``.

    Returns:
        The estimate, or ``None`` for an empty histogram.

    Raises:
        ValueError: for ``q`` outside ``[0, 1]`` or a negative count.

    Example:
        >>> round(percentile_from_histogram({0: 1, 349: 3}, 0.9), 3)
        993.433
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    if any(c < 0 for c in hist.values()):
        raise ValueError("histogram counts must be >= 0")
    n = total(hist)
    if n == 0:
        return None
    rank = math.floor(q * (n - 1))
    seen = 0
    for i in sorted(hist):
        seen += hist[i]
        if seen > rank:
            return bucket_value(i)
    raise AssertionError("unreachable: rank < n")  # pragma: no cover
