"""Stable reason codes of rejected records, and the version of the rules that produce them.

A reason code is part of the quarantine table's contract: dashboards and replay tools
match on it, so a code is never renamed or reused with another meaning. New rules get
new codes, and ``VALIDATOR_VERSION`` moves whenever a decision could change.

Example:
    >>> Reason.MISSING_FIELD.value
    'missing_field'
    >>> Reason("not_json") is Reason.NOT_JSON
    True
"""

from __future__ import annotations

from enum import Enum
from typing import Final

#: Version of the validation rules (Python and Spark validators decide identically).
VALIDATOR_VERSION: Final = "1.0.0"


class Reason(str, Enum):
    """Why a Kafka record was quarantined; the value is the stable code."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    NOT_OBJECT = "not_object"
    TOO_DEEP = "too_deep"
    NOT_JSON = "not_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    TOO_LONG = "too_long"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_VALUE = "invalid_value"
    BAD_TIMESTAMP = "bad_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    ANCIENT_TIMESTAMP = "ancient_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"

    def __str__(self) -> str:
        return self.value

    @property
    def description(self) -> str:
        """One line for people: what the code means."""
        return DESCRIPTIONS[self]


DESCRIPTIONS: Final[dict[Reason, str]] = {
    Reason.EMPTY: "the message value is empty or only whitespace",
    Reason.TOO_LARGE: "the message value is larger than the configured byte limit",
    Reason.INVALID_UTF8: "the message value is not valid UTF-8",
    Reason.NOT_OBJECT: "the message does not start with '{' (a JSON object is required)",
    Reason.TOO_DEEP: "brackets are nested deeper than the limit",
    Reason.NOT_JSON: (
        "the message is not one valid JSON object (syntax error, NaN/Infinity, a key repeated "
        "in one object, a raw control character, a number longer than 1000 characters, "
        "or data after the object)"
    ),
    Reason.MISSING_FIELD: "a required field is absent or null",
    Reason.WRONG_TYPE: 'a field has the wrong JSON type (e.g. the string "12" for a number)',
    Reason.TOO_LONG: "a string field is longer than its limit (in characters)",
    Reason.OUT_OF_RANGE: "a number is outside its accepted range (or not finite)",
    Reason.UNKNOWN_EVENT_TYPE: "event_type is not one of the known event types",
    Reason.INVALID_VALUE: (
        "a string is not one of the accepted values or does not match its pattern"
    ),
    Reason.BAD_TIMESTAMP: "event_time is not an ISO-8601 timestamp or is not a real date/time",
    Reason.NAIVE_TIMESTAMP: "event_time has no UTC offset (and naive timestamps are not accepted)",
    Reason.ANCIENT_TIMESTAMP: "event_time is before 2000-01-01T00:00:00Z",
    Reason.FUTURE_TIMESTAMP: "event_time is further in the future than the tolerated clock skew",
}

#: Codes in the order the validator checks them (the first failing check wins).
CHECK_ORDER: Final[tuple[Reason, ...]] = tuple(Reason)
