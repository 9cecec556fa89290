r"""The pure-Python event validator: Kafka message bytes -> ``ValidEvent`` or ``Rejection``.

The rules come from ``loglake_core.schema.EVENT_FIELDS``; ``loglake_core.spark.rules`` applies
the same rules as Spark columns, and a property-based test keeps the two in agreement.

Checks run in a fixed order and the first failing one decides the reason:

1. ``empty`` - no bytes, or only JSON whitespace;
2. ``too_large`` - more bytes than ``max_message_bytes``;
3. ``invalid_utf8``;
4. ``not_object`` - the first non-whitespace character is not ``{``;
5. ``too_deep`` - brackets (outside strings) nested deeper than ``MAX_JSON_DEPTH``;
6. ``not_json`` - any syntax error, ``NaN``/``Infinity``, a key repeated in one object
   (duplicates are rejected, never "last wins"), a raw control character in a string,
   a number literal longer than ``MAX_NUMBER_LENGTH``, or anything after the object;
7. then each field in ``EVENT_FIELDS`` order: ``missing_field`` (absent or ``null``),
   ``wrong_type``, then its value rules (``too_long``, ``out_of_range``,
   ``unknown_event_type``/``invalid_value``, and for ``event_time``: ``bad_timestamp``
   for text outside the ISO profile, ``naive_timestamp``, ``bad_timestamp`` for a date
   or time that does not exist, ``ancient_timestamp``, ``future_timestamp``).

Unknown top-level fields are kept in ``ValidEvent.rescued`` as a JSON object string with
sorted keys. Escaped lone surrogates (``"\\ud800"``) become ``?``, as in the JVM.

Example:
    >>> from datetime import datetime, timezone
    >>> ok = validate(b'{"event_id":"e1","event_time":"2024-01-01T00:00:00Z",'
    ...               b'"event_type":"log","service":"api","x":1}',
    ...               now=datetime(2024, 1, 2, tzinfo=timezone.utc))
    >>> ok.fields["level"], ok.rescued
    ('info', '{"x":1}')
    >>> validate(b'{"event_id":"e1"}').code.value
    'missing_field'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from loglake_core.jsontext import (
    JSON_WHITESPACE,
    MAX_JSON_DEPTH,
    MAX_NUMBER_LENGTH,
    bracket_profile,
)
from loglake_core.pages import normalize_page
from loglake_core.reasons import VALIDATOR_VERSION, Reason
from loglake_core.schema import (
    DEFAULT_LEVEL,
    DEFAULT_MAX_FUTURE_SKEW_SECONDS,
    EVENT_FIELD_NAMES,
    EVENT_FIELDS,
    MAX_MESSAGE_BYTES,
    Field,
)
from loglake_core.timeparse import MICROS_PER_SECOND, parse_iso

__all__ = [
    "CHOICE_REASONS",
    "DEFAULT_VALIDATION_CONFIG",
    "ENV_MAX_FUTURE_SKEW_SECONDS",
    "ENV_NAIVE_TIMESTAMPS_AS_UTC",
    "INT64_MAX",
    "INT64_MIN",
    "MIN_EVENT_MICROS",
    "VALIDATOR_VERSION",
    "Rejection",
    "ValidEvent",
    "ValidationConfig",
    "validate",
]

ENV_MAX_FUTURE_SKEW_SECONDS: Final = "LOGLAKE_MAX_FUTURE_SKEW_SECONDS"
ENV_NAIVE_TIMESTAMPS_AS_UTC: Final = "LOGLAKE_NAIVE_TIMESTAMPS_AS_UTC"

#: 2000-01-01T00:00:00Z in microseconds since the epoch; earlier times are ``ancient``.
MIN_EVENT_MICROS: Final = 946_684_800 * MICROS_PER_SECOND
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Reason of a ``choices`` failure per field; other fields use ``invalid_value``.
CHOICE_REASONS: Final = {"event_type": Reason.UNKNOWN_EVENT_TYPE}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SHOW_CHARS: Final = 60
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class ValidationConfig:
    """Settings of the validator.

    Attributes:
        max_future_skew_seconds: events further than this in the future are rejected.
        max_message_bytes: larger message values are rejected as ``too_large``.
        naive_timestamps_as_utc: read ISO timestamps without offset as UTC instead of
            rejecting them as ``naive_timestamp`` (default: reject).
        max_depth: deepest accepted nesting of objects and arrays.
    """

    max_future_skew_seconds: int = DEFAULT_MAX_FUTURE_SKEW_SECONDS
    max_message_bytes: int = MAX_MESSAGE_BYTES
    naive_timestamps_as_utc: bool = False
    max_depth: int = MAX_JSON_DEPTH

    @classmethod
    def from_env(
        cls,
        *,
        max_future_skew_seconds: int | None = None,
        naive_timestamps_as_utc: bool | None = None,
    ) -> ValidationConfig:
        """Build a config: argument, then environment variable, then default.

        Raises:
            ConfigError: when an environment variable holds an invalid value.
        """
        from loglake_core.config import parse_bool, parse_non_negative_int, resolve

        return cls(
            max_future_skew_seconds=resolve(
                max_future_skew_seconds,
                ENV_MAX_FUTURE_SKEW_SECONDS,
                DEFAULT_MAX_FUTURE_SKEW_SECONDS,
                parse_non_negative_int,
            ),
            naive_timestamps_as_utc=resolve(
                naive_timestamps_as_utc, ENV_NAIVE_TIMESTAMPS_AS_UTC, False, parse_bool
            ),
        )


DEFAULT_VALIDATION_CONFIG: Final = ValidationConfig()


@dataclass(frozen=True)
class Rejection:
    """A record that broke the contract.

    Attributes:
        code: the stable reason code.
        field: the field at fault, or None for message-level problems.
        message: what was wrong (naming the field and the value) and how to fix it.
    """

    code: Reason
    field: str | None
    message: str

    @property
    def ok(self) -> bool:
        """Always False: this is a rejection."""
        return False


@dataclass(frozen=True)
class ValidEvent:
    """A record that satisfies the contract.

    Attributes:
        fields: every event field by name with its typed value (None when absent;
            ``event_time`` an aware UTC datetime; ``level`` defaulted to ``info``).
        page: the normalised page of ``page_url``, or None.
        rescued: unknown top-level fields as a JSON object string with sorted keys, or None.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    page: str | None = None
    rescued: str | None = None

    @property
    def ok(self) -> bool:
        """Always True: this is a valid event."""
        return True

    @property
    def event_time(self) -> datetime:
        """The event time (aware, UTC)."""
        value: datetime = self.fields["event_time"]
        return value

    @property
    def event_date(self) -> date:
        """The UTC date of the event time (the partition of the raw table)."""
        return self.event_time.date()


class _DuplicateKeyError(ValueError):
    pass


def validate(
    raw: bytes,
    *,
    config: ValidationConfig = DEFAULT_VALIDATION_CONFIG,
    now: datetime | None = None,
) -> ValidEvent | Rejection:
    """Validate one Kafka message value against the event contract.

    Args:
        raw: the message value, byte for byte.
        config: validator settings.
        now: the current time for the future-skew rule (default: the clock).

    Returns:
        A ``ValidEvent``, or a ``Rejection`` for the first failing check (see the module doc).
    """
    if not raw.strip(JSON_WHITESPACE.encode()):
        return Rejection(
            Reason.EMPTY, None, "message is empty; send one JSON object per Kafka message"
        )
    if len(raw) > config.max_message_bytes:
        return Rejection(
            Reason.TOO_LARGE,
            None,
            f"message is {len(raw)} bytes, over the limit of {config.max_message_bytes}; "
            "shorten `message` or move bulky data out of the event",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(
            Reason.INVALID_UTF8,
            None,
            f"message is not valid UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 4]!r}); "
            "encode the JSON text as UTF-8",
        )
    first = text.lstrip(JSON_WHITESPACE)[:1]
    if first != "{":
        return Rejection(
            Reason.NOT_OBJECT,
            None,
            f"message starts with {_show(first)}, not '{{'; send one JSON object per message "
            "(no arrays, scalars or byte-order mark)",
        )
    depth, _ = bracket_profile(text)
    if depth > config.max_depth:
        return Rejection(
            Reason.TOO_DEEP,
            None,
            f"objects/arrays are nested {depth} deep, over the limit of {config.max_depth}; "
            "flatten the event",
        )
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_object_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except (ValueError, RecursionError) as exc:
        return Rejection(
            Reason.NOT_JSON, None, f"message is not valid JSON: {exc}; send strict JSON (RFC 8259)"
        )
    if _SURROGATE_ESCAPE.search(text):
        obj = _replace_lone_surrogates(obj)
    return _validate_object(obj, config, now)


def _validate_object(
    obj: dict[str, Any], config: ValidationConfig, now: datetime | None
) -> ValidEvent | Rejection:
    now_micros = _to_micros(now if now is not None else datetime.now(UTC))
    values: dict[str, Any] = {}
    for f in EVENT_FIELDS:
        raw_value = obj.get(f.name)
        if raw_value is None:
            if f.required or values.get("event_type") in f.required_for:
                why = "is null" if f.name in obj else "is missing"
                need = "every event" if f.required else f"event_type {values.get('event_type')!r}"
                return Rejection(
                    Reason.MISSING_FIELD, f.name, f"{f.name} {why}; it is required for {need}"
                )
            values[f.name] = DEFAULT_LEVEL if f.name == "level" else None
            continue
        outcome = _check_field(f, raw_value, config, now_micros)
        if isinstance(outcome, Rejection):
            return outcome
        values[f.name] = outcome
    rescued = {k: v for k, v in obj.items() if k not in EVENT_FIELD_NAMES}
    return ValidEvent(
        fields=values,
        page=normalize_page(values["page_url"]),
        rescued=(
            json.dumps(
                _strict_json(rescued), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
            if rescued
            else None
        ),
    )


def _check_field(f: Field, value: Any, config: ValidationConfig, now_micros: int) -> Any:
    """Return the typed value of ``f`` or a ``Rejection``."""
    if f.type == "string":
        if not isinstance(value, str):
            return _wrong_type(f, value, "a JSON string")
        if f.max_length is not None and len(value) > f.max_length:
            return Rejection(
                Reason.TOO_LONG,
                f.name,
                f"{f.name} has {len(value)} characters ({_show(value)}), over the limit of "
                f"{f.max_length}; shorten it",
            )
        if f.choices is not None and value not in f.choices:
            return Rejection(
                CHOICE_REASONS.get(f.name, Reason.INVALID_VALUE),
                f.name,
                f"{f.name} is {_show(value)}; use one of {', '.join(f.choices)}",
            )
        if f.pattern is not None and re.fullmatch(f.pattern, value) is None:
            return Rejection(
                Reason.INVALID_VALUE,
                f.name,
                f"{f.name} is {_show(value)}; it must match {f.pattern} ({f.doc})",
            )
        return value
    if f.type in ("double", "int"):
        return _check_number(f, value)
    if f.type == "timestamp":
        return _check_time(f, value, config, now_micros)
    if f.type == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return _wrong_type(f, value, "a JSON object whose values are all strings")
        return dict(value)
    raise AssertionError(f"event field {f.name} has unsupported type {f.type}")  # pragma: no cover


def _check_number(f: Field, value: Any) -> Any:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if f.type == "int":
        if not is_int or not INT64_MIN <= value <= INT64_MAX:
            return _wrong_type(f, value, "a JSON integer (no fraction, no quotes)")
        number: float = value
    else:
        if not is_int and not isinstance(value, float):
            return _wrong_type(f, value, "a JSON number (no quotes)")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
    too_low = f.minimum is not None and number < f.minimum
    too_high = f.maximum is not None and (
        number >= f.maximum if f.exclusive_maximum else number > f.maximum
    )
    if too_low or too_high or math.isinf(number):
        low = "" if f.minimum is None else f"{f.minimum:g} <= "
        high = "" if f.maximum is None else f" {'<' if f.exclusive_maximum else '<='} {f.maximum:g}"
        return Rejection(
            Reason.OUT_OF_RANGE,
            f.name,
            f"{f.name} is {_show(value)}; it must be finite and {low}{f.name}{high}",
        )
    return value if f.type == "int" else number


def _check_time(f: Field, value: Any, config: ValidationConfig, now_micros: int) -> Any:
    if isinstance(value, str):
        parsed = parse_iso(value, naive_as_utc=config.naive_timestamps_as_utc)
        if parsed.naive:
            return Rejection(
                Reason.NAIVE_TIMESTAMP,
                f.name,
                f"{f.name} {_show(value)} has no UTC offset; append 'Z' or +hh:mm",
            )
        if parsed.micros is None:
            return Rejection(
                Reason.BAD_TIMESTAMP,
                f.name,
                f"{f.name} {_show(value)}: {parsed.error}; send ISO-8601 like "
                "2024-05-01T12:30:00.123Z or epoch milliseconds",
            )
        micros = parsed.micros
    elif isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        micros = value * 1000
    else:
        return _wrong_type(
            f, value, "an ISO-8601 string with offset or an integer of epoch milliseconds"
        )
    if micros < MIN_EVENT_MICROS:
        hint = " (epoch seconds? send milliseconds)" if isinstance(value, int) else ""
        return Rejection(
            Reason.ANCIENT_TIMESTAMP,
            f.name,
            f"{f.name} {_show(value)} is before 2000-01-01T00:00:00Z{hint}; fix the clock",
        )
    if micros > now_micros + config.max_future_skew_seconds * MICROS_PER_SECOND:
        return Rejection(
            Reason.FUTURE_TIMESTAMP,
            f.name,
            f"{f.name} {_show(value)} is more than {config.max_future_skew_seconds}s in the "
            "future; fix the producer's clock (or its time zone)",
        )
    return _EPOCH + timedelta(microseconds=micros)


def _wrong_type(f: Field, value: Any, expected: str) -> Rejection:
    return Rejection(
        Reason.WRONG_TYPE,
        f.name,
        f"{f.name} is {_json_type(value)} {_show(value)}; send {expected}",
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value"  # pragma: no cover - json.loads yields nothing else


def _show(value: Any) -> str:
    """A short, printable rendering of ``value`` for messages."""
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def _object_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(f"key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise ValueError(f"number literal of {len(literal)} characters is too long")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise ValueError(f"number literal of {len(literal)} characters is too long")
    return float(literal)


#: Integers of up to 38 digits stay exact in Spark's VARIANT (a DECIMAL(38)).
_EXACT_INT_LIMIT: Final = 10**38


def _strict_json(value: Any) -> Any:
    """Numbers as Spark's VARIANT keeps them, and overflows as the strings Spark writes.

    Spark keeps an integer of up to 38 digits exactly and a longer one as a double, so
    ``_rescued`` says what Spark's does; JSON has no infinity, so an overflowing number
    (``1e400``, or a 400-digit integer) is the string Spark writes for it.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _EXACT_INT_LIMIT:
        try:
            value = float(value)
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict_json(v) for v in value]
    return value


def _fix_text(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _replace_lone_surrogates(value: Any) -> Any:
    """Replace unpaired surrogates with ``?`` (what the JVM does when it encodes UTF-8)."""
    if isinstance(value, str):
        return _fix_text(value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_text(k): _replace_lone_surrogates(v) for k, v in value.items()}
    return value
