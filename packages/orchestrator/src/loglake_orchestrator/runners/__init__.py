"""Job runners: the same state machine drives AWS Glue and a local subprocess."""

from __future__ import annotations

from loglake_orchestrator.runners.base import JobRunner, RunState, RunStatus, classify_state

__all__ = ["JobRunner", "RunState", "RunStatus", "classify_state"]
