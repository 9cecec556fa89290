"""Errors of loglake_orchestrator; each derives from :class:`OrchestratorError`."""

from __future__ import annotations

from loglake_core.errors import ConfigError, LoglakeError


class OrchestratorError(LoglakeError):
    """Base of the orchestrator's errors."""


class OrchestratorConfigError(OrchestratorError, ConfigError):
    """An environment variable or argument is missing or invalid (the message names it)."""


class EventError(OrchestratorError, ValueError):
    """The handler got an event it does not understand; the message says what was expected."""


class RunnerError(OrchestratorError):
    """The job runner could not start, inspect or stop a run."""


class RetryableRunnerError(RunnerError):
    """A transient runner failure (throttling, too many concurrent runs): try again later."""
