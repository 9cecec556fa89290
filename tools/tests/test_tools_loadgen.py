from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from loglake_core.schema import EVENT_FIELDS, MAX_MESSAGE_BYTES
from loglake_tools.loadgen import MALFORMED_WEIGHTS, GenerationSummary, generate_events

pytestmark = pytest.mark.unit

# An independent, minimal reading of the event contract (the design document's rules, not
# the project's validator), so a generator bug and a validator bug cannot hide each other.

FIELDS = {f.name: f for f in EVENT_FIELDS}


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def reason_of(raw: bytes, now: datetime) -> str | None:
    """The reason code the design's rules give ``raw``, or None when it is valid."""
    if not raw.strip():
        return "empty"
    if len(raw) > MAX_MESSAGE_BYTES:
        return "too_large"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    if not text.lstrip().startswith("{"):
        return "not_object"
    try:
        event = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except ValueError:
        return "not_json"
    if not isinstance(event, dict):
        return "not_object"
    etype = event.get("event_type")
    for f in EVENT_FIELDS:
        if event.get(f.name) is None and (
            f.required or (isinstance(etype, str) and etype in f.required_for)
        ):
            return "missing_field"
    for name, value in event.items():
        f = FIELDS.get(name)
        if f is None or value is None:
            continue
        if f.type == "string" and not isinstance(value, str):
            return "wrong_type"
        if f.type in ("double", "int") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            return "wrong_type"
        if f.type == "int" and isinstance(value, float) and not value.is_integer():
            return "wrong_type"
        if f.type == "timestamp" and (isinstance(value, bool) or not isinstance(value, (str, int))):
            return "wrong_type"
        if f.type == "map" and (
            not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
        ):
            return "wrong_type"
    for name, value in event.items():
        f = FIELDS.get(name)
        if f is None or value is None:
            continue
        if f.max_length is not None and isinstance(value, str) and len(value) > f.max_length:
            return "too_long"
        if f.type in ("double", "int"):
            if f.minimum is not None and value < f.minimum:
                return "out_of_range"
            if f.maximum is not None and (
                value > f.maximum or (f.exclusive_maximum and value >= f.maximum)
            ):
                return "out_of_range"
    if etype not in FIELDS["event_type"].choices:
        return "unknown_event_type"
    for name in ("level", "country"):
        value = event.get(name)
        f = FIELDS[name]
        if value is None:
            continue
        if f.choices and value not in f.choices:
            return "invalid_value"
        if f.pattern and not re.fullmatch(f.pattern, value):
            return "invalid_value"
    when = event["event_time"]
    if isinstance(when, int):
        ts = datetime.fromtimestamp(when / 1000, tz=UTC)
    else:
        try:
            ts = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return "bad_timestamp"
        if ts.tzinfo is None:
            return "naive_timestamp"
    if ts < datetime(2000, 1, 1, tzinfo=UTC):
        return "ancient_timestamp"
    if ts > now + timedelta(seconds=300):
        return "future_timestamp"
    return None


def event_time(event: dict) -> datetime:
    """The UTC event time of a valid event."""
    when = event["event_time"]
    if isinstance(when, int):
        return datetime.fromtimestamp(when / 1000, tz=UTC)
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _run(n=20_000, **kwargs):
    summary = GenerationSummary()
    records = list(generate_events(n, kwargs.pop("seed", 5), now=NOW, summary=summary, **kwargs))
    return records, summary


def test_same_seed_gives_the_same_bytes_and_another_seed_other_ids():
    a = list(generate_events(2000, seed=11, now=NOW, malformed_share=0.1, duplicate_share=0.1))
    b = list(generate_events(2000, seed=11, now=NOW, malformed_share=0.1, duplicate_share=0.1))
    c = list(generate_events(2000, seed=12, now=NOW))
    assert a == b
    ids_a = {json.loads(v)["event_id"] for _k, v, kind in a if kind == "valid"}
    ids_c = {json.loads(v)["event_id"] for _k, v, kind in c if kind == "valid"}
    assert not ids_a & ids_c


def test_summary_reconciles_exactly_with_the_records():
    records, s = _run(
        30_000, malformed_share=0.05, duplicate_share=0.04, late_share=0.1, days=3, seed=9
    )
    kinds = Counter(kind.split(":")[0] for _k, _v, kind in records)
    assert s.events_total == len(records) == 30_000
    assert s.valid == kinds["valid"] + kinds["late"]
    assert s.late == kinds["late"]
    assert s.duplicates == kinds["duplicate"]
    assert s.malformed == kinds["malformed"]
    assert s.valid + s.duplicates + s.malformed == s.events_total
    assert sum(s.per_type.values()) == sum(s.per_date.values()) == s.valid
    assert sum(s.malformed_by_reason.values()) == s.malformed

    valid = [json.loads(v) for _k, v, kind in records if kind in ("valid", "late")]
    assert len({e["event_id"] for e in valid}) == s.valid
    assert Counter(e["event_type"] for e in valid) == s.per_type
    assert Counter(event_time(e).date().isoformat() for e in valid) == s.per_date
    reasons = Counter(kind.split(":")[1] for _k, _v, kind in records if ":" in kind)
    assert reasons == s.malformed_by_reason
    assert set(reasons) == set(MALFORMED_WEIGHTS)  # every class shows up at this size


def test_duplicates_are_byte_identical_resends_of_earlier_valid_records():
    records, s = _run(10_000, duplicate_share=0.05)
    seen: set[tuple[bytes, bytes]] = set()
    dups = 0
    for key, value, kind in records:
        if kind == "duplicate":
            assert (key, value) in seen
            dups += 1
        else:
            seen.add((key, value))
    assert dups == s.duplicates > 300


def test_every_valid_record_meets_the_contract_and_every_malformed_one_fails_as_labelled():
    records, s = _run(20_000, malformed_share=0.1, late_share=0.1, seed=3)
    for _key, value, kind in records:
        got = reason_of(value, NOW)
        if kind.startswith("malformed:"):
            assert got == kind.split(":", 1)[1], (kind, value[:200])
        else:
            assert got is None, (got, value)
    assert s.malformed > 1500


def test_event_times_span_the_last_days_and_late_events_lag():
    records, _s = _run(20_000, days=4, late_share=0.2, seed=1)
    times = [(event_time(json.loads(v)), kind) for _k, v, kind in records]
    on_time = [t for t, kind in times if kind == "valid"]
    assert min(on_time) >= NOW - timedelta(days=4, seconds=1)
    assert max(t for t, _ in times) <= NOW
    assert len({t.date() for t in on_time}) >= 4
    # A late event is at least an hour behind the events sent just before it.
    previous = None
    for t, kind in times:
        if kind == "late" and previous is not None:
            assert t <= previous - timedelta(minutes=59)
        if kind == "valid":
            previous = t


def test_traffic_mix_looks_like_a_web_shop():
    records, s = _run(40_000, seed=21)
    share = {k: v / s.valid for k, v in s.per_type.items()}
    assert share["page_view"] == pytest.approx(0.70, abs=0.02)
    assert share["api_request"] == pytest.approx(0.15, abs=0.02)
    assert share["error"] == pytest.approx(0.08, abs=0.015)
    assert share["log"] == pytest.approx(0.07, abs=0.015)
    events = [json.loads(v) for _k, v, _kind in records]
    api = [e for e in events if e["event_type"] == "api_request"]
    five_xx = sum(e["status_code"] >= 500 for e in api) / len(api)
    assert 0.005 <= five_xx <= 0.025
    pages = Counter(re.sub(r"^https://[^/]+", "", e["page_url"]) for e in events if "page_url" in e)
    assert any(re.fullmatch(r"/product/\d+", p) for p in pages)
    assert any(re.fullmatch(r"/user/[0-9a-f-]{36}/orders", p) for p in pages)
    # Zipf: the most popular product page is far more frequent than the median one.
    products = sorted((c for p, c in pages.items() if p.startswith("/product/")), reverse=True)
    assert products[0] >= 20 * products[len(products) // 2]
    tti = sorted(e["tti_ms"] for e in events if e["event_type"] == "page_view")
    median = tti[len(tti) // 2]
    assert 800 <= median <= 1400  # log-normal around 1.1 s
    assert tti[int(len(tti) * 0.99)] > 3 * median  # with a long tail
    assert len({e.get("session_id") for e in events}) > 500
    assert len({e["service"] for e in events}) >= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"malformed_share": 1.5}, "malformed_share"),
        ({"late_share": -0.1}, "late_share"),
        ({"malformed_share": 0.6, "duplicate_share": 0.5}, "below 1"),
        ({"days": 0}, "days"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_events(10, **kwargs)


def test_naive_now_is_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"\+00:00"):
        generate_events(10, now=datetime(2026, 1, 1))


def test_the_project_validator_agrees_with_every_label():
    from loglake_core.validate import Rejection, validate

    records, s = _run(
        20_000, malformed_share=0.2, duplicate_share=0.05, late_share=0.1, days=3, seed=4
    )
    mismatches = []
    for _key, value, kind in records:
        result = validate(value, now=NOW)
        got = result.code.value if isinstance(result, Rejection) else None
        want = kind.split(":", 1)[1] if kind.startswith("malformed:") else None
        if got != want:
            mismatches.append((kind, got, value[:120]))
    assert mismatches == []
    assert len(s.malformed_by_reason) == len(MALFORMED_WEIGHTS)
