"""The Lambda entry point: ``loglake_orchestrator.handler.handler``.

It accepts an EventBridge scheduled tick, a Glue "Job State Change" event, or a manual
``{"action": "backfill", "start": ..., "end": ...}`` / ``{"action": "status"}``, and returns
a JSON object with ``ok`` and what it did. A bad event or setting gives ``ok: false`` and an
``error`` naming the problem, with no state change; the handler never sleeps.

Example:
    >>> handler({"action": "status"}, None)  # doctest: +SKIP
    {'ok': True, 'action': 'status', 'state': {...}, ...}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loglake_core.control_store import ControlStore
from loglake_core.errors import LoglakeError
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.errors import EventError, OrchestratorConfigError
from loglake_orchestrator.events import parse_event
from loglake_orchestrator.logging_ import configure_json_logging, log_event
from loglake_orchestrator.machine import Orchestrator
from loglake_orchestrator.notify import LogNotifier, Notifier, SnsNotifier

if TYPE_CHECKING:
    from loglake_orchestrator.runners.base import JobRunner

logger = logging.getLogger(__name__)

#: One orchestrator per warm Lambda container, rebuilt when the configuration changes.
_CACHE: dict[OrchestratorConfig, Orchestrator] = {}


def build_runner(config: OrchestratorConfig, glue_client: Any = None) -> JobRunner:
    """The runner the configuration names."""
    if config.job_runner == "local":
        from loglake_orchestrator.runners.local import LocalJobRunner

        return LocalJobRunner(
            config.local_dir, config.local_etl_command, fail_once=config.etl_fail_once
        )
    from loglake_orchestrator.runners.glue import GlueJobRunner

    return GlueJobRunner(config.job_name, client=glue_client, endpoint_url=config.aws_endpoint)


def build_orchestrator(
    config: OrchestratorConfig,
    *,
    dynamodb: Any = None,
    glue: Any = None,
    sns: Any = None,
    runner: JobRunner | None = None,
) -> Orchestrator:
    """Wire an orchestrator from a configuration (clients default to the configured endpoint)."""
    if dynamodb is None:
        from loglake_core.control_store import default_client

        dynamodb = default_client(config.aws_endpoint)
    store = ControlStore(config.control_table, client=dynamodb)
    notifier: Notifier
    if config.sns_topic_arn:
        notifier = SnsNotifier(config.sns_topic_arn, client=sns, endpoint_url=config.aws_endpoint)
    else:
        notifier = LogNotifier()
    return Orchestrator(config, store, runner or build_runner(config, glue), notifier)


def run_event(orchestrator: Orchestrator, event: Any) -> dict[str, Any]:
    """Parse and run one event; user errors become ``{"ok": False, "error": ...}``."""
    try:
        parsed = parse_event(event)
    except EventError as exc:
        log_event(event="bad_event", error=str(exc))
        return {"ok": False, "error": str(exc)}
    try:
        result = orchestrator.handle(parsed)
    except LoglakeError as exc:
        log_event(event="error", job=orchestrator.job, error=str(exc))
        return {"ok": False, "error": str(exc)}
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceNotFoundException":
            raise  # unexpected: let Lambda record it and retry the invocation
        message = (
            f"control table {orchestrator.store.table_name!r} does not exist at this endpoint; "
            "deploy it or set LOGLAKE_CONTROL_TABLE to its name"
        )
        log_event(event="error", job=orchestrator.job, error=message)
        return {"ok": False, "error": message}
    return {"ok": True, **result}


def handler(
    event: Any, context: Any = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Lambda handler (``context`` is unused; ``env`` overrides ``os.environ`` in tests)."""
    configure_json_logging()
    try:
        config = OrchestratorConfig.from_env(env)
    except OrchestratorConfigError as exc:
        log_event(event="config_error", error=str(exc))
        return {"ok": False, "error": str(exc)}
    orchestrator = _CACHE.get(config)
    if orchestrator is None:
        _CACHE.clear()
        orchestrator = _CACHE[config] = build_orchestrator(config)
    return run_event(orchestrator, event)
