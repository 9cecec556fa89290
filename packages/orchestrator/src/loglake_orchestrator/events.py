"""The events the handler accepts, parsed into small typed values.

- EventBridge scheduled tick: ``{"source": "aws.events", "detail-type": "Scheduled Event"}``
  (``{"action": "tick"}`` works too);
- Glue job state change: ``{"source": "aws.glue", "detail-type": "Glue Job State Change",
  "detail": {"jobName", "jobRunId", "state", "message"}}``;
- manual: ``{"action": "backfill", "start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}`` and
  ``{"action": "status"}``.

Example:
    >>> parse_event({"action": "backfill", "start": "2026-11-01", "end": "2026-11-03"})
    Backfill(start=datetime.date(2026, 11, 1), end=datetime.date(2026, 11, 3), reason='backfill')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from loglake_orchestrator.errors import EventError

#: A backfill longer than this is almost certainly a typo in a year.
MAX_BACKFILL_DAYS: Final = 366
ACTIONS: Final = ("tick", "backfill", "status")


@dataclass(frozen=True)
class Tick:
    """Reconcile the active run and start the next one when due."""


@dataclass(frozen=True)
class JobStateChange:
    """Glue reported that a run changed state."""

    job_name: str
    run_id: str
    state: str
    message: str | None = None


@dataclass(frozen=True)
class Backfill:
    """Re-run every date from ``start`` to ``end`` inclusive."""

    start: date
    end: date
    reason: str = "backfill"


@dataclass(frozen=True)
class Status:
    """Report the job's state; changes nothing."""


Event = Tick | JobStateChange | Backfill | Status


def parse_event(event: Any) -> Event:
    """Parse a handler event.

    Raises:
        EventError: naming what is wrong and what is accepted.
    """
    if not isinstance(event, dict):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    source = event.get("source")
    if source == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return Tick()
    if source == "aws.glue":
        return _state_change(event)
    action = event.get("action")
    if action == "tick":
        return Tick()
    if action == "status":
        return Status()
    if action == "backfill":
        return _backfill(event)
    raise EventError(
        f"unknown event (source={source!r}, action={action!r}); send a scheduled event, a Glue "
        f"Job State Change event or {{'action': one of {', '.join(ACTIONS)}}}"
    )


def _state_change(event: dict[str, Any]) -> JobStateChange:
    if event.get("detail-type") != "Glue Job State Change":
        raise EventError(
            f"aws.glue event with detail-type {event.get('detail-type')!r}; "
            "only 'Glue Job State Change' is handled"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EventError("Glue Job State Change event has no 'detail' object")
    missing = [k for k in ("jobName", "jobRunId", "state") if not isinstance(detail.get(k), str)]
    if missing:
        raise EventError(f"Glue Job State Change detail lacks string field(s) {missing}")
    message = detail.get("message")
    return JobStateChange(
        job_name=detail["jobName"],
        run_id=detail["jobRunId"],
        state=detail["state"].upper(),
        message=message if isinstance(message, str) else None,
    )


def _date(event: dict[str, Any], key: str) -> date:
    raw = event.get(key)
    if not isinstance(raw, str):
        raise EventError(f"backfill needs '{key}' as a YYYY-MM-DD string, got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise EventError(f"backfill '{key}'={raw!r} is not a date; use YYYY-MM-DD") from None


def _backfill(event: dict[str, Any]) -> Backfill:
    start = _date(event, "start")
    end = _date(event, "end") if "end" in event else start
    if end < start:
        raise EventError(f"backfill end {end} is before start {start}; swap them")
    if (end - start).days + 1 > MAX_BACKFILL_DAYS:
        raise EventError(
            f"backfill {start}..{end} spans {(end - start).days + 1} days; "
            f"split it into ranges of at most {MAX_BACKFILL_DAYS} days"
        )
    reason = event.get("reason")
    return Backfill(start=start, end=end, reason=reason if isinstance(reason, str) else "backfill")
