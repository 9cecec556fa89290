"""Drive the orchestrator with the local job runner until every date is processed.

The orchestrator is the same state machine the Lambda runs; here the demo calls its
``tick`` every `TICK_SECONDS` instead of EventBridge. A date is *complete* when the
stream's event-time watermark has passed its end plus the allowed lateness (1 hour):
the ticks process those by themselves. The demo's last day is still open (its events
run up to now), so the demo backfills it explicitly, which is what an operator would
do to see today's numbers early; a later late event would mark it dirty again.
"""

from __future__ import annotations

import time
from datetime import date
from typing import TYPE_CHECKING, Any

from loglake_core.control import DateStatus, JobStatus, is_date_complete
from loglake_tools.demo.errors import DemoError

if TYPE_CHECKING:
    from loglake_orchestrator.machine import Orchestrator
    from loglake_tools.demo.pipeline import Demo


def build(demo: Demo) -> Orchestrator:
    """The orchestrator of the demo lake: local runner, short back-off, one run for all dates."""
    from loglake_orchestrator.config import OrchestratorConfig
    from loglake_orchestrator.handler import build_orchestrator
    from loglake_tools.demo import pipeline as p

    config = OrchestratorConfig.from_env(
        lake_uri=demo.cfg.lake,
        control_table=demo.book.control_table,
        job_runner="local",
        aws_endpoint=demo.state.aws_endpoint,
        local_runner_dir=str(demo.cfg.state_dir / "runs"),
        backoff_base_seconds=p.BACKOFF_BASE_SECONDS,
        backoff_cap_seconds=p.BACKOFF_CAP_SECONDS,
        max_dates_per_run=p.MAX_DATES_PER_RUN,
        etl_fail_once=demo.cfg.fail_etl_once,
    )
    return build_orchestrator(config)


def open_dates(orch: Orchestrator) -> list[date]:
    """Dates ingest wrote that the watermark has not completed and no run has processed."""
    progress = orch.store.get_stream_progress(orch.config.stream_name)
    if progress is None or progress.watermark is None:
        return []
    lateness = orch.config.allowed_lateness_seconds
    found = []
    for day in progress.dates:
        if is_date_complete(day, progress.watermark, lateness):
            continue
        if orch.store.get_date_status(orch.job, day) == DateStatus.PENDING:
            found.append(day)
    return sorted(found)


def unprocessed(orch: Orchestrator) -> list[tuple[date, str]]:
    """Dates ingest wrote whose status is not processed yet."""
    progress = orch.store.get_stream_progress(orch.config.stream_name)
    days = sorted(progress.dates) if progress else []
    out = []
    for day in days:
        status = orch.store.get_date_status(orch.job, day)
        if status != DateStatus.PROCESSED:
            out.append((day, str(status)))
    return out


def run_orchestrator(demo: Demo) -> list[dict[str, Any]]:
    """Tick until every date is processed; return the runs this demo run saw.

    Raises:
        DemoError: a date failed after every retry, or it took too long.
    """
    from loglake_tools.demo import pipeline as p

    orch = build(demo)
    note = demo.clock.note
    for day in open_dates(orch):
        orch.backfill(day, day, reason="demo: the last day is still open; processed early")
        note(
            f"{day} is still open (the watermark has not passed its end + "
            f"{orch.config.allowed_lateness_seconds // 60} min lateness): backfilled explicitly"
        )
    if demo.cfg.fail_etl_once:
        note("[yellow]the first ETL run will fail on purpose (LOGLAKE_ETL_FAIL_ONCE)[/]")
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + p.ORCHESTRATE_TIMEOUT_SECONDS
    started_at: dict[str, float] = {}
    with demo.console.status("ticking the orchestrator") as spinner:
        while True:
            result = orch.tick()
            action = result.get("action")
            run_id = result.get("run_id")
            if action == "started":
                started_at[run_id] = time.monotonic()
                note(
                    f"run [bold]{run_id}[/] started: dates {', '.join(result['dates'])} "
                    f"(attempt {result['attempt']})"
                )
            elif action in ("succeeded", "retry_scheduled", "failed"):
                took = time.monotonic() - started_at.get(run_id, time.monotonic())
                seen.append({"run_id": run_id, "action": action, "seconds": round(took, 1)})
                colour = "green" if action == "succeeded" else "yellow"
                note(f"run {run_id} [{colour}]{action}[/] after {took:.0f}s")
                if action == "failed":
                    raise DemoError(
                        f"the ETL failed for {', '.join(result['dates'])} after every retry; "
                        f"see {demo.cfg.state_dir / 'runs' / run_id / 'output.log'}"
                    )
            state = orch.store.get_job_state(orch.job)
            if state.status == JobStatus.IDLE and action == "idle":
                left = unprocessed(orch)
                failed = [d for d, s in left if s == DateStatus.FAILED]
                if failed:
                    raise DemoError(
                        f"dates {', '.join(d.isoformat() for d in failed)} are marked failed "
                        "in the control table; pass --fresh to start over"
                    )
                if not left:
                    break
                late = open_dates(orch)
                if not late:
                    raise DemoError(
                        "the orchestrator is idle but dates are not processed: "
                        + ", ".join(f"{d} ({s})" for d, s in left)
                    )
                for day in late:
                    orch.backfill(day, day, reason="demo: open day written after the start")
            if time.monotonic() > deadline:
                raise DemoError(f"the ETL did not finish in {p.ORCHESTRATE_TIMEOUT_SECONDS:.0f}s")
            spinner.update(f"ticking the orchestrator: {action}")
            time.sleep(p.TICK_SECONDS if action != "succeeded" else 0)
    if not seen:
        note("every date was already processed: nothing to run")
    return seen
