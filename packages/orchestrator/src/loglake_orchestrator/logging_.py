"""Structured logs: every state transition is one JSON line on the ``transitions`` logger.

Example line::

    {"event": "transition", "job": "loglake-etl", "dates": ["2026-11-26"], "run_id": "jr_1",
     "from": "running", "to": "idle", "reason": "run SUCCEEDED", "at": "2026-11-27T17:00:00+00:00"}
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

TRANSITIONS_LOGGER: Final = "loglake_orchestrator.transitions"
transitions = logging.getLogger(TRANSITIONS_LOGGER)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def json_line(**fields: Any) -> str:
    """One compact JSON object (dates and datetimes as ISO strings)."""
    return json.dumps(fields, default=_default, sort_keys=False, separators=(",", ":"))


def log_transition(
    *,
    job: str,
    dates: Sequence[date],
    run_id: str | None,
    from_state: str,
    to_state: str,
    reason: str,
    at: datetime,
    **extra: Any,
) -> dict[str, Any]:
    """Log one transition as a JSON line; returns the fields (also kept in run history)."""
    record: dict[str, Any] = {
        "event": "transition",
        "job": job,
        "dates": [d.isoformat() for d in dates],
        "run_id": run_id,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "at": at.isoformat(),
    }
    record.update(extra)
    transitions.info(json_line(**record))
    return record


def log_event(**fields: Any) -> None:
    """Log a non-transition fact (ignored events, errors) as one JSON line."""
    transitions.info(json_line(**fields))


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the transitions logger's lines, bare, to stdout (idempotent; for the Lambda edge)."""
    if any(getattr(h, "_loglake_json", False) for h in transitions.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._loglake_json = True  # type: ignore[attr-defined]
    transitions.addHandler(handler)
    transitions.setLevel(level)
    transitions.propagate = False
