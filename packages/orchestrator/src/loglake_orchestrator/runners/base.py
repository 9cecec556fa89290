"""The ``JobRunner`` interface: start a run for some dates, check it, stop it.

Runners never wait for a run: the orchestrator records the run id and asks again on the
next event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final


class RunState(StrEnum):
    """A run's state, reduced to what the state machine needs."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


#: Glue's JobRunState values that end a run unsuccessfully.
FAILED_STATES: Final = frozenset({"FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"})
#: Glue's JobRunState values of a run that is still going.
ACTIVE_STATES: Final = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})


def classify_state(raw: str) -> RunState:
    """Map a Glue ``JobRunState`` (or a local runner state) onto :class:`RunState`.

    Example:
        >>> classify_state("TIMEOUT")
        <RunState.FAILED: 'FAILED'>
    """
    upper = raw.upper()
    if upper == "SUCCEEDED":
        return RunState.SUCCEEDED
    if upper in FAILED_STATES:
        return RunState.FAILED
    return RunState.RUNNING


@dataclass(frozen=True)
class RunStatus:
    """What a runner knows about one run."""

    run_id: str
    state: RunState
    raw_state: str
    error_message: str | None = None


def format_dates(dates: Sequence[date]) -> str:
    """The ``--dates`` argument: ISO dates joined by commas."""
    return ",".join(d.isoformat() for d in dates)


class JobRunner(ABC):
    """Starts and inspects ETL runs."""

    #: Short name written to run history ("glue", "local", ...).
    name: str = "runner"

    @abstractmethod
    def start(self, dates: Sequence[date], *, lake_uri: str) -> str:
        """Start a run for ``dates``; returns its run id.

        Raises:
            RetryableRunnerError: throttled or too many concurrent runs; try later.
            RunnerError: the run could not be started.
        """

    @abstractmethod
    def get_status(self, run_id: str) -> RunStatus:
        """The run's current state.

        Raises:
            RetryableRunnerError: throttled; ask again later.
            RunnerError: the run is unknown.
        """

    @abstractmethod
    def stop(self, run_id: str) -> None:
        """Ask the run to stop (best effort)."""
