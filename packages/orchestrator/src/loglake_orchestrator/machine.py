"""The job state machine: idle -> starting -> running -> idle | retry_wait -> starting ...

Every transition is one conditional DynamoDB transaction on the job state's version (plus
the date items it moves and the run history item), so duplicate or concurrent invocations
move the state once; the loser of a race gets a ``ConflictError`` and does nothing.

Starting a run is claim-first: the tick writes ``starting`` with a claim token, then calls
the runner, then records the run id. A tick that loses the claim never calls the runner;
if recording the run id loses (the claim expired meanwhile), the run just started is
stopped. A claim older than ``claim_ttl_seconds`` (the invoking Lambda died) is released
into ``retry_wait`` by the next tick.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from loglake_core.control import (
    ConflictError,
    DateItem,
    DateStatus,
    JobState,
    JobStatus,
    RunRecord,
    is_date_complete,
)
from loglake_orchestrator.backoff import UniformSource, next_attempt_at
from loglake_orchestrator.errors import RetryableRunnerError, RunnerError
from loglake_orchestrator.events import Backfill, Event, JobStateChange, Status, Tick
from loglake_orchestrator.logging_ import log_event, log_transition
from loglake_orchestrator.runners.base import RunState, RunStatus, classify_state

if TYPE_CHECKING:
    from loglake_core.control_store import ControlStore
    from loglake_orchestrator.config import OrchestratorConfig
    from loglake_orchestrator.notify import Notifier
    from loglake_orchestrator.runners.base import JobRunner

logger = logging.getLogger(__name__)

#: A finishing transition re-reads and retries when a date changed under it (late data
#: dirtied it); more lost races than this means a writer loops, which we surface.
MAX_FINISH_RETRIES: Final = 5


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Orchestrator:
    """Drives one ETL job from control-table state.

    Args:
        config: settings.
        store: the control table.
        runner: Glue or local.
        notifier: where final failures are announced.
        clock: returns "now" (injectable for tests).
        rng: jitter source for back-off (injectable for tests).
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        store: ControlStore,
        runner: JobRunner,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = utc_now,
        rng: UniformSource | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.runner = runner
        self.notifier = notifier
        self.clock = clock
        self.rng = rng
        self.job = config.job_name

    # ------------------------------------------------------------------ dispatch
    def handle(self, event: Event) -> dict[str, Any]:
        """Run one parsed event; returns a JSON-able result."""
        if isinstance(event, Tick):
            return self.tick()
        if isinstance(event, JobStateChange):
            return self.on_state_change(event)
        if isinstance(event, Backfill):
            return self.backfill(event.start, event.end, event.reason)
        if isinstance(event, Status):
            return self.status()
        raise TypeError(f"unhandled event {event!r}")  # pragma: no cover - exhaustive

    # ------------------------------------------------------------------ tick
    def tick(self) -> dict[str, Any]:
        """Reconcile the active run, then start the next one when due."""
        now = self.clock()
        state = self.store.get_job_state(self.job)
        if (
            state.pending_alert
            and state.updated_at
            and (now - state.updated_at > timedelta(seconds=self.config.claim_ttl_seconds))
        ):
            state = self._flush_alert(state, now)
        if state.status == JobStatus.RUNNING:
            assert state.run_id is not None
            try:
                status = self.runner.get_status(state.run_id)
            except RetryableRunnerError as exc:
                log_event(
                    event="reconcile_deferred", job=self.job, run_id=state.run_id, error=str(exc)
                )
                return {"action": "reconcile_deferred", "run_id": state.run_id}
            except RunnerError as exc:
                status = RunStatus(state.run_id, RunState.FAILED, "ERROR", str(exc))
            if status.state == RunState.RUNNING:
                return {"action": "running", "run_id": state.run_id, "dates": _iso(state.dates)}
            finished = self._finish(state, status, now, source="tick")
            if finished.get("action") != "succeeded":
                return finished
            # Success: go on and start the next dates in the same tick.
            following = self._next(self.store.get_job_state(self.job), now)
            if following.get("action") in ("idle", "running", "starting"):
                return finished
            return {**following, "finished": finished}
        return self._next(state, now)

    def _next(self, state: JobState, now: datetime) -> dict[str, Any]:
        """The tick's second half: release an expired claim, retry, or start new dates."""
        if state.status == JobStatus.STARTING:
            claimed_at = state.claimed_at or now
            if now - claimed_at < timedelta(seconds=self.config.claim_ttl_seconds):
                return {"action": "starting", "dates": _iso(state.dates)}
            state = self._release_claim(state, now)
            if state.status != JobStatus.RETRY_WAIT:
                return {"action": "claim_lost"}
        if state.status == JobStatus.RETRY_WAIT:
            if state.next_attempt_at and now < state.next_attempt_at:
                return {
                    "action": "backing_off",
                    "dates": _iso(state.dates),
                    "next_attempt_at": state.next_attempt_at.isoformat(),
                    "attempt": state.attempt,
                }
            return self._start(state, list(state.dates), now, reason="retry")
        if state.status == JobStatus.RUNNING:
            return {"action": "running", "run_id": state.run_id}
        dates = self.choose_dates()
        if not dates:
            return {"action": "idle"}
        return self._start(state, dates, now, reason="dates ready")

    def choose_dates(self) -> list[date]:
        """Dirty dates first, then pending dates the stream watermark has completed."""
        items = {item.day: item for item in self.store.list_dates(self.job)}
        dirty = sorted(d for d, item in items.items() if item.status == DateStatus.DIRTY)
        complete: list[date] = []
        progress = self.store.get_stream_progress(self.config.stream_name)
        if progress is not None and progress.watermark is not None:
            for day in sorted(progress.dates):
                item = items.get(day)
                if (item is None or item.status == DateStatus.PENDING) and is_date_complete(
                    day, progress.watermark, self.config.allowed_lateness_seconds
                ):
                    complete.append(day)
        return (dirty + complete)[: self.config.max_dates_per_run]

    # ------------------------------------------------------------------ start
    def _date_items(self, dates: Sequence[date]) -> list[DateItem]:
        found = []
        for day in dates:
            item = self.store.get_date(self.job, day)
            found.append(item if item is not None else DateItem(job=self.job, day=day))
        return found

    def _start(
        self, state: JobState, dates: list[date], now: datetime, *, reason: str
    ) -> dict[str, Any]:
        attempt = state.attempt + 1
        token = uuid.uuid4().hex
        claimed = state.moved(
            JobStatus.STARTING,
            now=now,
            dates=tuple(dates),
            attempt=attempt,
            run_id=None,
            run_ids=state.run_ids if state.status == JobStatus.RETRY_WAIT else (),
            claim_token=token,
            claimed_at=now,
            next_attempt_at=None,
        )
        items = [i.moved(DateStatus.RUNNING, now=now) for i in self._date_items(dates)]
        try:
            self.store.commit(claimed, dates=items)
        except ConflictError:
            log_event(event="claim_lost", job=self.job, dates=_iso(dates))
            return {"action": "claim_lost"}
        log_transition(
            job=self.job, dates=dates, run_id=None, from_state=state.status,
            to_state=claimed.status, reason=reason, at=now, attempt=attempt,
        )  # fmt: skip
        try:
            run_id = self.runner.start(dates, lake_uri=self.config.lake_uri)
        except RetryableRunnerError as exc:
            # Throttling / too many concurrent runs: wait, but do not count an attempt.
            wait = claimed.moved(
                JobStatus.RETRY_WAIT,
                now=now,
                attempt=attempt - 1,
                claim_token=None,
                next_attempt_at=self._retry_at(now, attempt - 1),
                last_error=str(exc),
            )
            self._commit_or_log(claimed, wait, reason=f"start deferred: {exc}", now=now)
            return {"action": "start_deferred", "error": str(exc), "dates": _iso(dates)}
        except RunnerError as exc:
            status = RunStatus(
                f"start-failed-{token[:12]}", RunState.FAILED, "START_FAILED", str(exc)
            )
            try:
                return self._fail(claimed, status, now, source="start")
            except ConflictError:
                return {"action": "claim_lost"}
        running = claimed.moved(
            JobStatus.RUNNING,
            now=now,
            run_id=run_id,
            run_ids=(*claimed.run_ids, run_id),
            started_at=now,
            claim_token=None,
        )
        transition = log_transition(
            job=self.job, dates=dates, run_id=run_id, from_state=claimed.status,
            to_state=running.status, reason="run started", at=now, attempt=attempt,
        )  # fmt: skip
        record = RunRecord(
            job=self.job, run_id=run_id, started_at=now, dates=tuple(dates), attempt=attempt,
            status="RUNNING", runner=self.runner.name, transitions=(transition,),
        )  # fmt: skip
        try:
            self.store.commit(running, runs=[record])
        except ConflictError:
            # Our claim expired and another tick took over: this run must not go on.
            self.runner.stop(run_id)
            log_event(event="run_stopped_claim_lost", job=self.job, run_id=run_id)
            return {"action": "claim_lost", "stopped_run_id": run_id}
        return {"action": "started", "run_id": run_id, "dates": _iso(dates), "attempt": attempt}

    def _release_claim(self, state: JobState, now: datetime) -> JobState:
        released = state.moved(
            JobStatus.RETRY_WAIT,
            now=now,
            attempt=max(state.attempt - 1, 0),
            claim_token=None,
            next_attempt_at=now,
            last_error="start claim expired (the invocation that claimed it did not finish)",
        )
        self._commit_or_log(state, released, reason="claim expired", now=now)
        return self.store.get_job_state(self.job)

    # ------------------------------------------------------------------ finish
    def on_state_change(self, change: JobStateChange) -> dict[str, Any]:
        """Apply a Glue state-change event if it is about the active run."""
        if change.job_name != self.job:
            log_event(event="ignored", why="foreign job", job=change.job_name, run_id=change.run_id)
            return {"action": "ignored", "why": "foreign job"}
        state = self.store.get_job_state(self.job)
        if state.status != JobStatus.RUNNING or state.run_id != change.run_id:
            log_event(event="ignored", why="not the active run", job=self.job, run_id=change.run_id)
            return {"action": "ignored", "why": "not the active run"}
        run_state = classify_state(change.state)
        if run_state == RunState.RUNNING:
            return {"action": "ignored", "why": f"state {change.state} is not final"}
        status = RunStatus(change.run_id, run_state, change.state, change.message)
        return self._finish(state, status, self.clock(), source="event")

    def _finish(
        self, state: JobState, status: RunStatus, now: datetime, *, source: str
    ) -> dict[str, Any]:
        for _ in range(MAX_FINISH_RETRIES):
            if state.status != JobStatus.RUNNING or state.run_id != status.run_id:
                return {"action": "ignored", "why": "run already finished"}
            try:
                if status.state == RunState.SUCCEEDED:
                    return self._succeed(state, status, now, source=source)
                return self._fail(state, status, now, source=source)
            except ConflictError:
                state = self.store.get_job_state(self.job)
        raise ConflictError(f"job {self.job!r}: could not finish run {status.run_id}")

    def _record(
        self, state: JobState, status: RunStatus, now: datetime, transition: dict[str, Any]
    ) -> RunRecord:
        started = state.started_at or state.claimed_at or now
        previous = self.store.get_run(self.job, started, status.run_id)
        base = previous or RunRecord(
            job=self.job, run_id=status.run_id, started_at=started, dates=state.dates,
            attempt=state.attempt, status=status.raw_state, runner=self.runner.name,
        )  # fmt: skip
        return replace(
            base,
            status=status.raw_state,
            ended_at=now,
            error=status.error_message,
            transitions=(*base.transitions, transition),
        )

    def _succeed(
        self, state: JobState, status: RunStatus, now: datetime, *, source: str
    ) -> dict[str, Any]:
        items = []
        done = []
        for item in self._date_items(state.dates):
            if item.status == DateStatus.RUNNING:  # a date dirtied meanwhile stays dirty
                items.append(item.moved(DateStatus.PROCESSED, now=now, last_run_id=status.run_id))
                done.append(item.day)
        known = [*done, *([state.processed_through] if state.processed_through else [])]
        through = max(known) if known else None
        idle = state.moved(
            JobStatus.IDLE, now=now, processed_through=through, dates=(), attempt=0, run_id=None,
            run_ids=(), claim_token=None, next_attempt_at=None, last_error=None,
        )  # fmt: skip
        transition = log_transition(
            job=self.job, dates=state.dates, run_id=status.run_id, from_state=state.status,
            to_state=idle.status, reason=f"run {status.raw_state} ({source})", at=now,
            processed_through=through,
        )  # fmt: skip
        self.store.commit(idle, dates=items, runs=[self._record(state, status, now, transition)])
        return {
            "action": "succeeded",
            "run_id": status.run_id,
            "dates": _iso(done),
            "processed_through": through.isoformat() if through else None,
        }

    def _fail(
        self, state: JobState, status: RunStatus, now: datetime, *, source: str
    ) -> dict[str, Any]:
        error = status.error_message or f"run ended {status.raw_state}"
        run_ids = (
            state.run_ids if status.run_id in state.run_ids else (*state.run_ids, status.run_id)
        )
        if state.attempt < self.config.max_attempts:
            wait = state.moved(
                JobStatus.RETRY_WAIT, now=now, run_id=None, run_ids=run_ids, claim_token=None,
                next_attempt_at=self._retry_at(now, state.attempt), last_error=error,
            )  # fmt: skip
            transition = log_transition(
                job=self.job, dates=state.dates, run_id=status.run_id, from_state=state.status,
                to_state=wait.status, reason=f"run {status.raw_state} ({source}): {error}", at=now,
                attempt=state.attempt, next_attempt_at=wait.next_attempt_at,
            )  # fmt: skip
            self.store.commit(wait, runs=[self._record(state, status, now, transition)])
            assert wait.next_attempt_at is not None
            return {
                "action": "retry_scheduled",
                "run_id": status.run_id,
                "attempt": state.attempt,
                "next_attempt_at": wait.next_attempt_at.isoformat(),
            }
        alert = {
            "job": self.job,
            "dates": _iso(state.dates),
            "run_ids": list(run_ids),
            "attempts": state.attempt,
            "last_error": error,
            "failed_at": now.isoformat(),
        }
        items = [
            i.moved(DateStatus.FAILED, now=now, last_run_id=status.run_id, reason=error[:500])
            for i in self._date_items(state.dates)
        ]
        idle = state.moved(
            JobStatus.IDLE, now=now, dates=(), attempt=0, run_id=None, run_ids=(),
            claim_token=None, next_attempt_at=None, last_error=error, pending_alert=alert,
        )  # fmt: skip
        transition = log_transition(
            job=self.job, dates=state.dates, run_id=status.run_id, from_state=state.status,
            to_state=idle.status, reason=f"gave up after {state.attempt} attempt(s): {error}",
            at=now, attempts=state.attempt,
        )  # fmt: skip
        self.store.commit(idle, dates=items, runs=[self._record(state, status, now, transition)])
        self._flush_alert(idle, now)
        return {
            "action": "failed",
            "run_id": status.run_id,
            "dates": alert["dates"],
            "alert": alert,
        }

    def _flush_alert(self, state: JobState, now: datetime) -> JobState:
        alert = state.pending_alert
        if not alert:
            return state
        try:
            self.notifier.publish(f"loglake: job {self.job} failed", alert)
        except Exception as exc:  # the alert stays pending; a later tick tries again
            log_event(event="alert_failed", job=self.job, error=str(exc))
            return state
        cleared = replace(state, version=state.version + 1, pending_alert=None, updated_at=now)
        self._commit_or_log(state, cleared, reason="alert sent", now=now, log=False)
        log_event(event="alert_sent", job=self.job, dates=alert.get("dates"))
        return self.store.get_job_state(self.job)

    # ------------------------------------------------------------------ manual
    def backfill(self, start: date, end: date, reason: str = "backfill") -> dict[str, Any]:
        """Mark every date from ``start`` to ``end`` dirty so the next ticks re-run them."""
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        dirtied = self.store.mark_dates_dirty(self.job, days, reason, force=True)
        log_event(event="backfill", job=self.job, dates=_iso(dirtied), reason=reason)
        return {"action": "backfill", "dirtied": _iso(dirtied), "requested": len(days)}

    def status(self) -> dict[str, Any]:
        """The job state, date counts by status and the stream's watermark."""
        state = self.store.get_job_state(self.job)
        counts: dict[str, int] = {}
        for item in self.store.list_dates(self.job):
            counts[item.status] = counts.get(item.status, 0) + 1
        progress = self.store.get_stream_progress(self.config.stream_name)
        view = {k: v for k, v in state.to_item().items() if k not in ("pk", "sk")}
        return {
            "action": "status",
            "state": view,
            "dates": counts,
            "watermark": progress.watermark.isoformat()
            if progress and progress.watermark
            else None,
            "pending_dates": _iso(self.choose_dates()),
        }

    # ------------------------------------------------------------------ helpers
    def _retry_at(self, now: datetime, attempt: int) -> datetime:
        return next_attempt_at(
            now,
            max(attempt, 0),
            base=self.config.backoff_base_seconds,
            cap=self.config.backoff_cap_seconds,
            rng=self.rng,
        )

    def _commit_or_log(
        self, old: JobState, new: JobState, *, reason: str, now: datetime, log: bool = True
    ) -> bool:
        try:
            self.store.commit(new)
        except ConflictError:
            log_event(event="transition_lost", job=self.job, reason=reason)
            return False
        if log:
            log_transition(
                job=self.job, dates=new.dates, run_id=new.run_id, from_state=old.status,
                to_state=new.status, reason=reason, at=now,
            )  # fmt: skip
        return True


def _iso(dates: Sequence[date]) -> list[str]:
    return [d.isoformat() for d in dates]
