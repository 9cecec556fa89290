"""The orchestrator's configuration: explicit argument, then environment variable, then default.

Example:
    >>> cfg = OrchestratorConfig.from_env({"LOGLAKE_LAKE_URI": "s3://bucket/lake",
    ...                                     "LOGLAKE_SNS_TOPIC_ARN": "arn:aws:sns:..."})
    >>> cfg.max_attempts, cfg.job_runner
    (3, 'glue')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from loglake_core.control import (
    CONTROL_TABLE_ENV,
    DEFAULT_CONTROL_TABLE,
    DEFAULT_JOB,
    DEFAULT_STREAM,
)
from loglake_orchestrator.errors import OrchestratorConfigError

GLUE_JOB_NAME_ENV: Final = "LOGLAKE_GLUE_JOB_NAME"
SNS_TOPIC_ARN_ENV: Final = "LOGLAKE_SNS_TOPIC_ARN"
MAX_ATTEMPTS_ENV: Final = "LOGLAKE_MAX_ATTEMPTS"
BACKOFF_BASE_ENV: Final = "LOGLAKE_BACKOFF_BASE_SECONDS"
BACKOFF_CAP_ENV: Final = "LOGLAKE_BACKOFF_CAP_SECONDS"
MAX_DATES_ENV: Final = "LOGLAKE_MAX_DATES_PER_RUN"
LATENESS_ENV: Final = "LOGLAKE_ALLOWED_LATENESS_SECONDS"
STREAM_NAME_ENV: Final = "LOGLAKE_STREAM_NAME"
JOB_RUNNER_ENV: Final = "LOGLAKE_JOB_RUNNER"
LAKE_URI_ENV: Final = "LOGLAKE_LAKE_URI"
AWS_ENDPOINT_ENV: Final = "LOGLAKE_AWS_ENDPOINT"
CLAIM_TTL_ENV: Final = "LOGLAKE_CLAIM_TTL_SECONDS"
LOCAL_RUNNER_DIR_ENV: Final = "LOGLAKE_LOCAL_RUNNER_DIR"
LOCAL_ETL_COMMAND_ENV: Final = "LOGLAKE_LOCAL_ETL_COMMAND"
ETL_FAIL_ONCE_ENV: Final = "LOGLAKE_ETL_FAIL_ONCE"

RUNNERS: Final = ("glue", "local")
_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("", "0", "false", "no", "off")


def _default_local_dir() -> str:
    state = os.environ.get("LOGLAKE_STATE_DIR") or os.path.join(
        os.path.expanduser("~"), ".local", "state", "loglake"
    )
    return os.path.join(state, "runs")


@dataclass(frozen=True)
class OrchestratorConfig:
    """Every setting of the orchestrator (see ``docs/orchestrator.md`` for the variables)."""

    lake_uri: str
    control_table: str = DEFAULT_CONTROL_TABLE
    job_name: str = DEFAULT_JOB
    stream_name: str = DEFAULT_STREAM
    sns_topic_arn: str | None = None
    max_attempts: int = 3
    backoff_base_seconds: float = 60.0
    backoff_cap_seconds: float = 3600.0
    max_dates_per_run: int = 7
    allowed_lateness_seconds: int = 3600
    job_runner: str = "glue"
    aws_endpoint: str | None = None
    claim_ttl_seconds: int = 900
    local_runner_dir: str = ""
    local_etl_command: str | None = None
    etl_fail_once: bool = False

    def __post_init__(self) -> None:
        if self.job_runner not in RUNNERS:
            raise OrchestratorConfigError(
                f"{JOB_RUNNER_ENV}={self.job_runner!r} is not a runner; use one of "
                f"{', '.join(RUNNERS)}"
            )
        if not self.lake_uri.strip():
            raise OrchestratorConfigError(
                f"{LAKE_URI_ENV} is not set; set it to the lake's base URI, "
                "e.g. s3://bucket/lake or file:///var/lake"
            )
        if self.job_runner == "glue" and not self.sns_topic_arn:
            raise OrchestratorConfigError(
                f"{SNS_TOPIC_ARN_ENV} is not set; the glue runner needs an SNS topic ARN "
                "for failure alerts (arn:aws:sns:<region>:<account>:<topic>)"
            )
        _at_least(MAX_ATTEMPTS_ENV, self.max_attempts, 1)
        _at_least(MAX_DATES_ENV, self.max_dates_per_run, 1)
        _at_least(LATENESS_ENV, self.allowed_lateness_seconds, 0)
        _at_least(CLAIM_TTL_ENV, self.claim_ttl_seconds, 1)
        _at_least(BACKOFF_BASE_ENV, self.backoff_base_seconds, 0)
        _at_least(BACKOFF_CAP_ENV, self.backoff_cap_seconds, self.backoff_base_seconds)
        if self.max_dates_per_run > 90:
            raise OrchestratorConfigError(
                f"{MAX_DATES_ENV}={self.max_dates_per_run} is too large; use 1..90 "
                "(one transaction writes every date of a run)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> OrchestratorConfig:
        """Build from keyword overrides, then ``env`` (default ``os.environ``), then defaults.

        Raises:
            OrchestratorConfigError: naming the variable, its value and what is accepted.
        """
        source = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise OrchestratorConfigError(f"unknown settings {sorted(unknown)}")
        values: dict[str, Any] = {
            "lake_uri": _text(source, LAKE_URI_ENV, ""),
            "control_table": _text(source, CONTROL_TABLE_ENV, DEFAULT_CONTROL_TABLE),
            "job_name": _text(source, GLUE_JOB_NAME_ENV, DEFAULT_JOB),
            "stream_name": _text(source, STREAM_NAME_ENV, DEFAULT_STREAM),
            "sns_topic_arn": _text(source, SNS_TOPIC_ARN_ENV, "") or None,
            "max_attempts": _int(source, MAX_ATTEMPTS_ENV, 3),
            "backoff_base_seconds": _float(source, BACKOFF_BASE_ENV, 60.0),
            "backoff_cap_seconds": _float(source, BACKOFF_CAP_ENV, 3600.0),
            "max_dates_per_run": _int(source, MAX_DATES_ENV, 7),
            "allowed_lateness_seconds": _int(source, LATENESS_ENV, 3600),
            "job_runner": _text(source, JOB_RUNNER_ENV, "glue").lower(),
            "aws_endpoint": _text(source, AWS_ENDPOINT_ENV, "") or None,
            "claim_ttl_seconds": _int(source, CLAIM_TTL_ENV, 900),
            "local_runner_dir": _text(source, LOCAL_RUNNER_DIR_ENV, "") or _default_local_dir(),
            "local_etl_command": _text(source, LOCAL_ETL_COMMAND_ENV, "") or None,
            "etl_fail_once": _bool(source, ETL_FAIL_ONCE_ENV),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def local_dir(self) -> Path:
        """The local runner's state folder."""
        return Path(self.local_runner_dir or _default_local_dir())


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise OrchestratorConfigError(
            f"{name}={raw!r} is not a whole number; set it to an integer such as {default}"
        ) from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise OrchestratorConfigError(
            f"{name}={raw!r} is not a number of seconds; set it to e.g. {default:g}"
        ) from None


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise OrchestratorConfigError(
        f"{name}={raw!r} is not a flag; use one of {', '.join(_TRUE + _FALSE[1:])}"
    )


def _at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise OrchestratorConfigError(f"{name}={value!r} is out of range; use a value >= {minimum}")
