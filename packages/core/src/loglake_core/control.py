"""The control table's model: keys, item types and statuses (pure Python, no AWS).

One DynamoDB table with string keys ``pk``/``sk`` holds:

- ``stream#<name>`` / ``progress``: the ingest stream's event-time watermark, last batch id,
  the event dates it has written and its counters (:class:`StreamProgress`);
- ``job#<name>`` / ``state``: the ETL job's state machine (:class:`JobState`);
- ``job#<name>`` / ``date#YYYY-MM-DD``: one event date's status (:class:`DateItem`);
- ``job#<name>`` / ``run#<started iso>#<run id>``: run history (:class:`RunRecord`).

Items convert to and from plain dicts (str, int, list, dict, None) with ``to_item`` and
``from_item``; :mod:`loglake_core.control_store` marshals those with ``dynamodb-json``.

Example:
    >>> job_pk("loglake-etl"), date_sk(date(2026, 11, 27))
    ('job#loglake-etl', 'date#2026-11-27')
    >>> is_date_complete(date(2026, 11, 26), datetime(2026, 11, 27, 1, tzinfo=UTC), 3600)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from loglake_core.errors import LoglakeError

CONTROL_TABLE_ENV: Final = "LOGLAKE_CONTROL_TABLE"
DEFAULT_CONTROL_TABLE: Final = "loglake-control"
DEFAULT_STREAM: Final = "ingest"
DEFAULT_JOB: Final = "loglake-etl"

PROGRESS_SK: Final = "progress"
STATE_SK: Final = "state"
DATE_PREFIX: Final = "date#"
RUN_PREFIX: Final = "run#"


class ConflictError(LoglakeError):
    """A conditional write lost: another writer changed the item first."""


class DateStatus(StrEnum):
    """Where one event date stands in the ETL."""

    PENDING = "pending"
    RUNNING = "running"
    PROCESSED = "processed"
    DIRTY = "dirty"
    FAILED = "failed"


class JobStatus(StrEnum):
    """The job state machine's states."""

    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"


def stream_pk(stream: str) -> str:
    """Partition key of a stream's items."""
    return f"stream#{stream}"


def job_pk(job: str) -> str:
    """Partition key of a job's items."""
    return f"job#{job}"


def date_sk(day: date) -> str:
    """Sort key of a date item."""
    return f"{DATE_PREFIX}{day.isoformat()}"


def run_sk(started_at: datetime, run_id: str) -> str:
    """Sort key of a run history item (sorts by start time)."""
    return f"{RUN_PREFIX}{iso(started_at)}#{run_id}"


def iso(value: datetime) -> str:
    """An aware datetime as ISO-8601 in UTC with an explicit offset."""
    if value.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no time zone; pass an aware UTC datetime")
    return value.astimezone(UTC).isoformat()


def parse_iso(value: str | None) -> datetime | None:
    """Parse what :func:`iso` wrote (``None`` stays ``None``)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: str) -> date:
    return date.fromisoformat(value)


def is_date_complete(day: date, watermark: datetime, allowed_lateness_seconds: int) -> bool:
    """True when the watermark has passed the end of ``day`` plus the allowed lateness."""
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return watermark >= end + timedelta(seconds=allowed_lateness_seconds)


@dataclass(frozen=True)
class StreamProgress:
    """``stream#<name>`` / ``progress``: how far ingest has got."""

    stream: str
    batch_id: int
    watermark: datetime | None
    dates: tuple[date, ...] = ()
    counters: dict[str, int] = field(default_factory=dict)
    last_counters: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None
    query_id: str | None = None
    version: int = 0

    def to_item(self) -> dict[str, Any]:
        """Plain dict with keys."""
        return {
            "pk": stream_pk(self.stream),
            "sk": PROGRESS_SK,
            "batch_id": self.batch_id,
            "watermark": iso(self.watermark) if self.watermark else None,
            "dates": [d.isoformat() for d in sorted(self.dates)],
            "counters": dict(self.counters),
            "last_counters": dict(self.last_counters),
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "query_id": self.query_id,
            "version": self.version,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StreamProgress:
        """Inverse of :meth:`to_item`."""
        return cls(
            stream=str(item["pk"]).removeprefix("stream#"),
            batch_id=int(item["batch_id"]),
            watermark=parse_iso(item.get("watermark")),
            dates=tuple(_day(d) for d in item.get("dates") or ()),
            counters={str(k): int(v) for k, v in (item.get("counters") or {}).items()},
            last_counters={str(k): int(v) for k, v in (item.get("last_counters") or {}).items()},
            updated_at=parse_iso(item.get("updated_at")),
            query_id=str(item["query_id"]) if item.get("query_id") else None,
            version=int(item.get("version") or 0),
        )


@dataclass(frozen=True)
class DateItem:
    """``job#<name>`` / ``date#YYYY-MM-DD``: one event date's status."""

    job: str
    day: date
    status: DateStatus = DateStatus.PENDING
    version: int = 0
    last_run_id: str | None = None
    reason: str | None = None
    updated_at: datetime | None = None

    def to_item(self) -> dict[str, Any]:
        """Plain dict with keys."""
        return {
            "pk": job_pk(self.job),
            "sk": date_sk(self.day),
            "day": self.day.isoformat(),
            "status": str(self.status),
            "version": self.version,
            "last_run_id": self.last_run_id,
            "reason": self.reason,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DateItem:
        """Inverse of :meth:`to_item`."""
        return cls(
            job=str(item["pk"]).removeprefix("job#"),
            day=_day(str(item["day"])),
            status=DateStatus(item["status"]),
            version=int(item["version"]),
            last_run_id=item.get("last_run_id"),
            reason=item.get("reason"),
            updated_at=parse_iso(item.get("updated_at")),
        )

    def moved(self, status: DateStatus, *, now: datetime, **changes: Any) -> DateItem:
        """A copy with a new status and the next version."""
        return replace(self, status=status, version=self.version + 1, updated_at=now, **changes)


@dataclass(frozen=True)
class JobState:
    """``job#<name>`` / ``state``: the job's state machine and checkpoint.

    ``dates``, ``attempt``, ``run_ids`` describe the current unit of work across its
    attempts; ``run_id`` is the run being watched (``None`` while starting).
    ``pending_alert`` is an SNS message recorded with the final failure and cleared once
    published, so an alert survives a crash between the two.
    """

    job: str
    version: int = 0
    status: JobStatus = JobStatus.IDLE
    processed_through: date | None = None
    dates: tuple[date, ...] = ()
    attempt: int = 0
    run_id: str | None = None
    run_ids: tuple[str, ...] = ()
    claim_token: str | None = None
    claimed_at: datetime | None = None
    started_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    pending_alert: dict[str, Any] | None = None
    updated_at: datetime | None = None

    def to_item(self) -> dict[str, Any]:
        """Plain dict with keys."""
        return {
            "pk": job_pk(self.job),
            "sk": STATE_SK,
            "version": self.version,
            "status": str(self.status),
            "processed_through": (
                self.processed_through.isoformat() if self.processed_through else None
            ),
            "dates": [d.isoformat() for d in self.dates],
            "attempt": self.attempt,
            "run_id": self.run_id,
            "run_ids": list(self.run_ids),
            "claim_token": self.claim_token,
            "claimed_at": iso(self.claimed_at) if self.claimed_at else None,
            "started_at": iso(self.started_at) if self.started_at else None,
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
            "last_error": self.last_error,
            "pending_alert": self.pending_alert,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> JobState:
        """Inverse of :meth:`to_item`."""
        through = item.get("processed_through")
        return cls(
            job=str(item["pk"]).removeprefix("job#"),
            version=int(item["version"]),
            status=JobStatus(item["status"]),
            processed_through=_day(through) if through else None,
            dates=tuple(_day(d) for d in item.get("dates") or ()),
            attempt=int(item.get("attempt") or 0),
            run_id=item.get("run_id"),
            run_ids=tuple(item.get("run_ids") or ()),
            claim_token=item.get("claim_token"),
            claimed_at=parse_iso(item.get("claimed_at")),
            started_at=parse_iso(item.get("started_at")),
            next_attempt_at=parse_iso(item.get("next_attempt_at")),
            last_error=item.get("last_error"),
            pending_alert=item.get("pending_alert"),
            updated_at=parse_iso(item.get("updated_at")),
        )

    def moved(self, status: JobStatus, *, now: datetime, **changes: Any) -> JobState:
        """A copy in a new status with the next version."""
        return replace(self, status=status, version=self.version + 1, updated_at=now, **changes)


@dataclass(frozen=True)
class RunRecord:
    """``job#<name>`` / ``run#<started>#<run id>``: one run's history."""

    job: str
    run_id: str
    started_at: datetime
    dates: tuple[date, ...]
    attempt: int
    status: str
    runner: str = ""
    ended_at: datetime | None = None
    error: str | None = None
    transitions: tuple[dict[str, Any], ...] = ()

    def to_item(self) -> dict[str, Any]:
        """Plain dict with keys."""
        return {
            "pk": job_pk(self.job),
            "sk": run_sk(self.started_at, self.run_id),
            "run_id": self.run_id,
            "started_at": iso(self.started_at),
            "dates": [d.isoformat() for d in self.dates],
            "attempt": self.attempt,
            "status": self.status,
            "runner": self.runner,
            "ended_at": iso(self.ended_at) if self.ended_at else None,
            "error": self.error,
            "transitions": [dict(t) for t in self.transitions],
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunRecord:
        """Inverse of :meth:`to_item`."""
        started = parse_iso(item["started_at"])
        assert started is not None
        return cls(
            job=str(item["pk"]).removeprefix("job#"),
            run_id=str(item["run_id"]),
            started_at=started,
            dates=tuple(_day(d) for d in item.get("dates") or ()),
            attempt=int(item.get("attempt") or 0),
            status=str(item["status"]),
            runner=str(item.get("runner") or ""),
            ended_at=parse_iso(item.get("ended_at")),
            error=item.get("error"),
            transitions=tuple(item.get("transitions") or ()),
        )
