"""Unit tests of the Python validator: one or more per rule and per reason code."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from loglake_core.reasons import VALIDATOR_VERSION, Reason
from loglake_core.validate import Rejection, ValidationConfig, ValidEvent, validate

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "event_id": "e-1",
    "event_time": "2024-06-01T10:00:00.123456789+02:00",
    "event_type": "page_view",
    "service": "shop",
    "page_url": "https://shop.example.com/Product/42?ref=x",
    "tti_ms": 812.5,
}


def check(event: dict[str, Any] | bytes, **kwargs: Any) -> ValidEvent | Rejection:
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    return validate(raw, now=NOW, **kwargs)


def with_(**changes: Any) -> dict[str, Any]:
    event = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def rejected(result: ValidEvent | Rejection, code: Reason, field: str | None) -> Rejection:
    assert isinstance(result, Rejection), result
    assert (result.code, result.field) == (code, field), result
    return result


pytestmark = pytest.mark.unit


def test_valid_event_is_typed() -> None:
    result = check(with_(extra={"b": 1, "a": [1, 2]}, level=None, status_code=200))
    assert isinstance(result, ValidEvent)
    assert result.ok
    assert result.event_time == datetime(2024, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert result.event_date == date(2024, 6, 1)
    assert result.fields["tti_ms"] == 812.5
    assert result.fields["status_code"] == 200
    assert result.fields["level"] == "info"
    assert result.fields["message"] is None
    assert result.page == "/product/{id}"
    assert result.rescued == '{"extra":{"a":[1,2],"b":1}}'


def test_epoch_millis_and_integer_tti() -> None:
    result = check(with_(event_time=1717236000123, tti_ms=0))
    assert isinstance(result, ValidEvent)
    assert result.event_time == datetime(2024, 6, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert result.fields["tti_ms"] == 0.0
    assert isinstance(result.fields["tti_ms"], float)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", Reason.EMPTY),
        (b" \n\t", Reason.EMPTY),
        (b"\xff{}", Reason.INVALID_UTF8),
        (b'{"a":"\xed\xa0\x80"}', Reason.INVALID_UTF8),
        (b"[1]", Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b'\xef\xbb\xbf{"a":1}', Reason.NOT_OBJECT),
        (b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", Reason.TOO_DEEP),
        (b'{"a":1', Reason.NOT_JSON),
        (b'{"a":1} x', Reason.NOT_JSON),
        (b'{"a":1}{"b":2}', Reason.NOT_JSON),
        (b'{"a":NaN}', Reason.NOT_JSON),
        (b'{"a":Infinity}', Reason.NOT_JSON),
        (b'{"a":1,"a":2}', Reason.NOT_JSON),
        (b'{"a":{"b":1,"b":2}}', Reason.NOT_JSON),
        (b'{"a":"\x01"}', Reason.NOT_JSON),
        (b'{"a":' + b"1" * 1001 + b"}", Reason.NOT_JSON),
        (b"{'a':1}", Reason.NOT_JSON),
    ],
)
def test_message_level_reasons(raw: bytes, code: Reason) -> None:
    rejected(check(raw), code, None)


def test_too_large() -> None:
    big = json.dumps(with_(message="x" * 70_000)).encode()
    rejected(check(big), Reason.TOO_LARGE, None)
    small_limit = ValidationConfig(max_message_bytes=10)
    rejected(check(BASE, config=small_limit), Reason.TOO_LARGE, None)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert isinstance(check(with_(message="[" * 100 + "{" * 100)), ValidEvent)


@pytest.mark.parametrize("field", ["event_id", "event_time", "event_type", "service"])
def test_required_fields(field: str) -> None:
    msg = rejected(check(with_(**{field: ...})), Reason.MISSING_FIELD, field).message
    assert field in msg
    assert "missing" in msg
    rejected(check(with_(**{field: None})), Reason.MISSING_FIELD, field)


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("page_view", "page_url"), ("page_view", "tti_ms"), ("api_request", "duration_ms")],
)
def test_required_for_event_type(event_type: str, field: str) -> None:
    event = with_(event_type=event_type, duration_ms=3.5)
    event.pop(field)
    msg = rejected(check(event), Reason.MISSING_FIELD, field).message
    assert event_type in msg
    assert isinstance(check(with_(event_type="log", page_url=..., tti_ms=...)), ValidEvent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tti_ms", "12"),
        ("tti_ms", True),
        ("tti_ms", [1]),
        ("status_code", 200.0),
        ("status_code", "200"),
        ("status_code", 2**63),
        ("status_code", False),
        ("event_id", 12),
        ("event_id", {"a": "b"}),
        ("event_time", 1.7e12),
        ("event_time", True),
        ("attributes", {"a": 1}),
        ("attributes", {"a": None}),
        ("attributes", ["a"]),
        ("level", 3),
    ],
)
def test_wrong_type(field: str, value: Any) -> None:
    msg = rejected(check(with_(**{field: value})), Reason.WRONG_TYPE, field).message
    assert field in msg
    assert "send" in msg


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("event_id", "x" * 129, Reason.TOO_LONG),
        ("page_url", "/" * 2049, Reason.TOO_LONG),
        ("message", "m" * 8193, Reason.TOO_LONG),
        ("tti_ms", -0.001, Reason.OUT_OF_RANGE),
        ("tti_ms", 600_000, Reason.OUT_OF_RANGE),
        ("duration_ms", -1, Reason.OUT_OF_RANGE),
        ("status_code", 99, Reason.OUT_OF_RANGE),
        ("status_code", 600, Reason.OUT_OF_RANGE),
        ("event_type", "click", Reason.UNKNOWN_EVENT_TYPE),
        ("level", "INFO", Reason.INVALID_VALUE),
        ("country", "de", Reason.INVALID_VALUE),
        ("country", "DE\n", Reason.INVALID_VALUE),
    ],
)
def test_value_rules(field: str, value: Any, code: Reason) -> None:
    msg = rejected(check(with_(**{field: value})), code, field).message
    assert field in msg


def test_limits_are_inclusive_where_documented() -> None:
    ok = check(with_(event_id="x" * 128, tti_ms=599_999.999, status_code=599, duration_ms=0))
    assert isinstance(ok, ValidEvent)


def test_infinite_number_is_out_of_range() -> None:
    raw = json.dumps(with_(event_type="api_request")).encode()[:-1] + b', "duration_ms": 1e400}'
    rejected(check(raw), Reason.OUT_OF_RANGE, "duration_ms")
    raw = (
        json.dumps(with_(event_type="api_request")).encode()[:-1]
        + b', "duration_ms": 9'
        + b"9" * 400
        + b"}"
    )
    rejected(check(raw), Reason.OUT_OF_RANGE, "duration_ms")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2024-06-01 10:00:00Z", Reason.BAD_TIMESTAMP),
        ("2024-02-30T10:00:00Z", Reason.BAD_TIMESTAMP),
        ("2023-02-29T10:00:00Z", Reason.BAD_TIMESTAMP),
        ("2024-06-01T24:00:00Z", Reason.BAD_TIMESTAMP),
        ("2024-06-01T10:00:60Z", Reason.BAD_TIMESTAMP),
        ("2024-06-01T10:00:00+18:01", Reason.BAD_TIMESTAMP),
        ("2024-06-01T10:00:00+0200", Reason.BAD_TIMESTAMP),
        ("yesterday", Reason.BAD_TIMESTAMP),
        ("2024-06-01T10:00:00", Reason.NAIVE_TIMESTAMP),
        ("1999-12-31T23:59:59.999999Z", Reason.ANCIENT_TIMESTAMP),
        ("0000-01-01T00:00:00Z", Reason.ANCIENT_TIMESTAMP),
        (1717236000, Reason.ANCIENT_TIMESTAMP),
        (-1, Reason.ANCIENT_TIMESTAMP),
        ("2024-06-01T12:05:00.000001Z", Reason.FUTURE_TIMESTAMP),
        ("9999-12-31T23:59:59-18:00", Reason.FUTURE_TIMESTAMP),
        (2**62, Reason.FUTURE_TIMESTAMP),
    ],
)
def test_event_time_rules(value: Any, code: Reason) -> None:
    rejected(check(with_(event_time=value)), code, "event_time")


def test_event_time_edges() -> None:
    assert isinstance(check(with_(event_time="2000-01-01T00:00:00Z")), ValidEvent)
    assert isinstance(check(with_(event_time="2024-06-01T12:05:00Z")), ValidEvent)
    assert isinstance(check(with_(event_time="2024-06-01T12:05:00.0000009Z")), ValidEvent)
    assert isinstance(check(with_(event_time="2024-02-29T00:00:00-18:00")), ValidEvent)


def test_naive_timestamps_can_be_read_as_utc() -> None:
    result = check(
        with_(event_time="2024-06-01T10:00:00"),
        config=ValidationConfig(naive_timestamps_as_utc=True),
    )
    assert isinstance(result, ValidEvent)
    assert result.event_time == datetime(2024, 6, 1, 10, tzinfo=UTC)


def test_future_skew_is_configurable() -> None:
    event = with_(event_time="2024-06-01T13:00:00Z")
    rejected(check(event), Reason.FUTURE_TIMESTAMP, "event_time")
    assert isinstance(
        check(event, config=ValidationConfig(max_future_skew_seconds=3600)), ValidEvent
    )


def test_first_failing_rule_wins_in_field_order() -> None:
    event = with_(event_id=..., event_type="nope", tti_ms="x")
    rejected(check(event), Reason.MISSING_FIELD, "event_id")
    rejected(check(with_(event_type="nope", tti_ms="x")), Reason.UNKNOWN_EVENT_TYPE, "event_type")


def test_message_shows_truncated_value() -> None:
    msg = rejected(check(with_(event_type="z" * 500)), Reason.UNKNOWN_EVENT_TYPE, "event_type")
    assert "zzz..." in msg.message
    assert len(msg.message) < 200
    assert "page_view" in msg.message  # names the fix


def test_lone_surrogates_become_question_marks() -> None:
    raw = (
        json.dumps(with_(message="a\ud800b"))
        .encode("utf-8", "surrogatepass")
        .replace(b"\xed\xa0\x80", b"\\ud800")
    )
    result = check(raw)
    assert isinstance(result, ValidEvent)
    assert result.fields["message"] == "a?b"


def test_escaped_control_characters_are_kept() -> None:
    result = check(with_(message="line1\nline2\u0000"))
    assert isinstance(result, ValidEvent)
    assert result.fields["message"] == "line1\nline2\u0000"


def test_unknown_fields_are_rescued_with_sorted_keys() -> None:
    result = check(with_(zeta=1, Alpha="é", event_ID="x"))
    assert isinstance(result, ValidEvent)
    assert result.rescued == '{"Alpha":"é","event_ID":"x","zeta":1}'


def test_every_reason_code_is_reachable_and_documented() -> None:
    assert {r.value for r in Reason} >= {
        "empty", "too_large", "invalid_utf8", "not_json", "not_object", "missing_field",
        "wrong_type", "out_of_range", "too_long", "bad_timestamp", "naive_timestamp",
        "future_timestamp", "ancient_timestamp", "unknown_event_type", "invalid_value",
    }  # fmt: skip
    assert all(r.description for r in Reason)
    assert str(Reason.NOT_JSON) == "not_json"
    assert VALIDATOR_VERSION


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from loglake_core.errors import ConfigError

    monkeypatch.setenv("LOGLAKE_MAX_FUTURE_SKEW_SECONDS", "60")
    monkeypatch.setenv("LOGLAKE_NAIVE_TIMESTAMPS_AS_UTC", "true")
    cfg = ValidationConfig.from_env()
    assert (cfg.max_future_skew_seconds, cfg.naive_timestamps_as_utc) == (60, True)
    assert ValidationConfig.from_env(max_future_skew_seconds=5).max_future_skew_seconds == 5
    monkeypatch.setenv("LOGLAKE_MAX_FUTURE_SKEW_SECONDS", "soon")
    with pytest.raises(ConfigError, match="LOGLAKE_MAX_FUTURE_SKEW_SECONDS='soon'"):
        ValidationConfig.from_env()
