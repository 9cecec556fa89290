"""The Lambda orchestrator of the ETL job.

The handler is ``loglake_orchestrator.handler.handler``; the state machine is
:class:`loglake_orchestrator.machine.Orchestrator`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
