from __future__ import annotations

import pytest

from loglake_core.metrics import (
    ERRORS_HOURLY,
    NON_NEGATIVE,
    ORDERED_TTI,
    PAGE_METRICS_DAILY,
    TABLES,
    TTI_PERCENTILES,
    table,
)
from loglake_core.schema import RAW_EVENT_FIELDS

pytestmark = pytest.mark.unit

RAW_COLUMNS = {f.name for f in RAW_EVENT_FIELDS}


def test_grains_and_partition_column() -> None:
    assert PAGE_METRICS_DAILY.grain == ("event_date", "service", "page")
    assert ERRORS_HOURLY.grain == ("event_date", "hour", "service", "level", "status_class")
    for t in TABLES:
        assert t.grain[0] == "event_date"
        assert len(set(t.columns)) == len(t.columns)


def test_metrics_read_raw_columns_and_ratios_reference_metrics() -> None:
    for t in TABLES:
        names = {m.name for m in t.metrics}
        for m in t.metrics:
            if m.column is not None:
                assert m.column in RAW_COLUMNS
            assert set(m.numerator) <= names
            assert set(m.denominator) <= names
            if m.kind == "percentile":
                assert m.q is not None
                assert 0 < m.q < 1


def test_percentiles_are_ordered_and_checked() -> None:
    qs = [q for _, q in TTI_PERCENTILES]
    assert qs == sorted(qs)
    assert ORDERED_TTI[-1] == "tti_max"
    assert [PAGE_METRICS_DAILY.metric(n).q for n, _ in TTI_PERCENTILES] == qs
    assert "tti_histogram" not in NON_NEGATIVE
    assert "error_rate" in NON_NEGATIVE


def test_lookup_errors_name_the_known_values() -> None:
    assert table("errors_hourly") is ERRORS_HOURLY
    with pytest.raises(KeyError, match="page_metrics_daily"):
        table("nope")
    with pytest.raises(KeyError, match="views"):
        PAGE_METRICS_DAILY.metric("nope")
