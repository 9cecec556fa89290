"""Data-quality gates, checked on the aggregates before anything is written.

A run writes nothing if any gate fails; each failure names the date, the check and
the numbers:

- ``rows``: every expected date (by default every requested date) has cleaned rows;
- ``nulls``: no metric column is null (grain columns included);
- ``negative``: no count, TTI value or rate is negative;
- ``percentile_order``: ``tti_min <= p50 <= p90 <= p95 <= p99 <= tti_max``;
- ``error_rate``: within ``[0, 1]``;
- ``histogram``: the histogram counts add up to ``tti_count``.

Example:
    >>> check_row_counts({date(2026, 11, 1): 0}, {date(2026, 11, 1)})[0].check
    'rows'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from loglake_core.metrics import ERRORS_HOURLY, NON_NEGATIVE, ORDERED_TTI, PAGE_METRICS_DAILY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass(frozen=True)
class GateFailure:
    """One failed check.

    Attributes:
        date: the date concerned.
        table: the table checked (``raw`` for row counts).
        check: the gate's name.
        message: the numbers.
    """

    date: date
    table: str
    check: str
    message: str

    def describe(self) -> str:
        """One line for people."""
        return f"{self.date.isoformat()} {self.table} {self.check}: {self.message}"


def check_row_counts(
    rows_by_date: Mapping[date, int], expected: Iterable[date]
) -> list[GateFailure]:
    """Fail every expected date without cleaned rows."""
    return [
        GateFailure(
            d,
            "raw",
            "rows",
            f"0 rows after cleaning, but the date is expected to have data; check ingest "
            f"(raw/events partition event_date={d.isoformat()}) or pass --allow-empty",
        )
        for d in sorted(expected)
        if rows_by_date.get(d, 0) <= 0
    ]


def _ordered(cols: tuple[str, ...]) -> Column:
    cond = sf.lit(True)
    for low, high in itertools.pairwise(cols):
        cond = cond & (sf.col(low) <= sf.col(high))
    return cond


def page_metrics_stats(page_metrics: DataFrame) -> DataFrame:
    """Per date, the numbers the gates judge ``page_metrics_daily`` by (a tiny frame)."""
    table = PAGE_METRICS_DAILY
    order = ("tti_min", *ORDERED_TTI)
    any_null = sf.lit(False)
    for c in table.columns:
        any_null = any_null | sf.col(c).isNull()
    any_negative = sf.lit(False)
    for c in NON_NEGATIVE:
        any_negative = any_negative | (sf.col(c) < 0)
    unordered = ~_ordered(order)
    bad_rate = (sf.col("error_rate") < 0) | (sf.col("error_rate") > 1)
    hist_total = sf.aggregate(
        sf.map_values(sf.col("tti_histogram")), sf.lit(0).cast("bigint"), lambda a, b: a + b
    )
    bad_hist = hist_total != sf.col("tti_count")

    def sample(cond: Column, cols: tuple[str, ...]) -> Column:
        return sf.first(
            sf.when(cond, sf.to_json(sf.struct(*(sf.col(c) for c in ("service", "page", *cols))))),
            ignorenulls=True,
        )

    return page_metrics.groupBy("event_date").agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.count_if(any_null).alias("nulls"),
        sample(any_null, tuple(c for c in table.columns if c != "tti_histogram")).alias(
            "nulls_sample"
        ),
        sf.count_if(any_negative).alias("negative"),
        sample(any_negative, NON_NEGATIVE).alias("negative_sample"),
        sf.count_if(unordered).alias("percentile_order"),
        sample(unordered, order).alias("percentile_order_sample"),
        sf.count_if(bad_rate).alias("error_rate"),
        sample(bad_rate, ("error_rate",)).alias("error_rate_sample"),
        sf.count_if(bad_hist).alias("histogram"),
        sample(bad_hist, ("tti_count",)).alias("histogram_sample"),
    )


def errors_hourly_stats(errors: DataFrame) -> DataFrame:
    """Per date, null and negative counts of ``errors_hourly``."""
    table = ERRORS_HOURLY
    any_null = sf.lit(False)
    for c in table.columns:
        any_null = any_null | sf.col(c).isNull()
    any_negative = sf.lit(False)
    for m in table.metrics:
        any_negative = any_negative | (sf.col(m.name) < 0)
    cols = tuple(c for c in table.columns if c != "event_date")
    return errors.groupBy("event_date").agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.count_if(any_null).alias("nulls"),
        sf.first(sf.when(any_null, sf.to_json(sf.struct(*cols))), ignorenulls=True).alias(
            "nulls_sample"
        ),
        sf.count_if(any_negative).alias("negative"),
        sf.first(sf.when(any_negative, sf.to_json(sf.struct(*cols))), ignorenulls=True).alias(
            "negative_sample"
        ),
    )


def check_stats(table: str, stats: Iterable[Mapping[str, Any]]) -> list[GateFailure]:
    """Turn the per-date numbers of ``*_stats`` into failures (pure; unit-testable)."""
    failures: list[GateFailure] = []
    for row in sorted(stats, key=lambda r: r["event_date"]):
        for check in ("nulls", "negative", "percentile_order", "error_rate", "histogram"):
            bad = row.get(check)
            if bad:
                failures.append(
                    GateFailure(
                        row["event_date"],
                        table,
                        check,
                        f"{bad} of {row['rows']} rows fail; first: {row.get(check + '_sample')}",
                    )
                )
    return failures
