"""The event-time grammar, shared by the Python and the Spark validator.

``event_time`` is either a JSON string in a strict ISO-8601 profile or a JSON integer of
epoch milliseconds. The string profile is ``YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)``:
the ``T`` is upper case, the fraction has 1 to 9 digits and is truncated to microseconds,
and the offset is at most 18:00 (what ``java.time.ZoneOffset`` accepts). Without an offset
the timestamp is *naive*; whether that is rejected or read as UTC is a setting.

All arithmetic is done on integers (microseconds since the epoch, proleptic Gregorian
calendar), so years 0 to 9999 and any offset are handled without overflow.

Example:
    >>> parse_iso("2024-03-01T12:00:00.5+01:00").micros
    1709290800500000
    >>> parse_iso("2024-02-30T00:00:00Z").error
    'day 30 does not exist in 2024-02'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: The ISO-8601 profile; groups: year, month, day, hour, minute, second, fraction, offset.
ISO_PATTERN: Final = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
ISO_RE: Final = re.compile(ISO_PATTERN)

#: Largest UTC offset accepted, in minutes (java.time.ZoneOffset's limit).
MAX_OFFSET_MINUTES: Final = 18 * 60
MICROS_PER_SECOND: Final = 1_000_000
MICROS_PER_DAY: Final = 86_400 * MICROS_PER_SECOND


@dataclass(frozen=True)
class ParsedTime:
    """Result of ``parse_iso``: either ``micros`` (UTC) or an ``error``, and whether naive."""

    micros: int | None
    naive: bool = False
    error: str | None = None


def is_leap(year: int) -> bool:
    """Whether ``year`` is a leap year in the proleptic Gregorian calendar."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """Number of days of ``month`` (1-12) in ``year``."""
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, including 0)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def parse_iso(text: str, *, naive_as_utc: bool = False) -> ParsedTime:
    """Parse ``text`` in the event-time ISO-8601 profile.

    Args:
        text: the JSON string value of ``event_time``.
        naive_as_utc: read a timestamp without offset as UTC instead of flagging it naive.

    Returns:
        ``ParsedTime`` with ``micros`` set when valid; ``naive=True`` (and no micros) for a
        well-formed timestamp without offset when ``naive_as_utc`` is false; otherwise an
        ``error`` that says what is wrong.
    """
    m = ISO_RE.fullmatch(text)
    if m is None:
        return ParsedTime(None, error="not in the form YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+hh:mm)")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, offset = m.group(7), m.group(8)
    if offset is None and not naive_as_utc:
        return ParsedTime(None, naive=True)
    if not 1 <= month <= 12:
        return ParsedTime(None, error=f"month {month} does not exist")
    if not 1 <= day <= days_in_month(year, month):
        return ParsedTime(None, error=f"day {day} does not exist in {year:04d}-{month:02d}")
    if hour > 23 or minute > 59 or second > 59:
        return ParsedTime(None, error=f"time {hour:02d}:{minute:02d}:{second:02d} does not exist")
    offset_minutes = 0
    if offset not in (None, "Z"):
        oh, om = int(offset[1:3]), int(offset[4:6])
        if om > 59 or oh * 60 + om > MAX_OFFSET_MINUTES:
            return ParsedTime(None, error=f"offset {offset} is not between -18:00 and +18:00")
        offset_minutes = (oh * 60 + om) * (-1 if offset[0] == "-" else 1)
    micros_fraction = int((fraction or "")[:6].ljust(6, "0"))
    seconds = (hour * 60 + minute - offset_minutes) * 60 + second
    micros = (
        days_from_civil(year, month, day) * MICROS_PER_DAY
        + seconds * MICROS_PER_SECOND
        + micros_fraction
    )
    return ParsedTime(micros)
