"""Typed configuration shared by every loglake package.

Every setting is resolved the same way: an explicit argument, then an environment
variable, then a default. Environment variable names are the constants below; a bad value
raises ``ConfigError`` naming the variable, the value and what is accepted.

Example:
    >>> cfg = PipelineConfig.from_env(lake_uri="/tmp/lake", environ={})
    >>> cfg.control_table, cfg.layout.raw_events
    ('loglake-control', 'file:///tmp/lake/raw/events')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from loglake_core.errors import ConfigError
from loglake_core.layout import LakeLayout

T = TypeVar("T")

ENV_LAKE_URI: Final = "LOGLAKE_LAKE_URI"
ENV_CONTROL_TABLE: Final = "LOGLAKE_CONTROL_TABLE"
ENV_STREAM_NAME: Final = "LOGLAKE_STREAM_NAME"
ENV_JOB_NAME: Final = "LOGLAKE_JOB_NAME"
ENV_ALLOWED_LATENESS_SECONDS: Final = "LOGLAKE_ALLOWED_LATENESS_SECONDS"

DEFAULT_LAKE_URI: Final = "~/.local/share/loglake/lake"
DEFAULT_CONTROL_TABLE: Final = "loglake-control"
DEFAULT_STREAM_NAME: Final = "ingest"
DEFAULT_JOB_NAME: Final = "loglake-etl"
#: How long after a UTC day ends late events are still expected (the stream watermark delay).
DEFAULT_ALLOWED_LATENESS_SECONDS: Final = 2 * 3600

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


def parse_bool(text: str) -> bool:
    """Parse a boolean setting (1/0, true/false, yes/no, on/off; case-insensitive).

    Raises:
        ValueError: for anything else.
    """
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("accepted values: true/false, 1/0, yes/no, on/off")


def parse_non_negative_int(text: str) -> int:
    """Parse an integer >= 0.

    Raises:
        ValueError: for anything else.
    """
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("accepted values: a whole number >= 0") from None
    if value < 0:
        raise ValueError("accepted values: a whole number >= 0")
    return value


def parse_name(text: str) -> str:
    """Parse a resource name: non-empty, no whitespace.

    Raises:
        ValueError: for an empty name or one with whitespace.
    """
    value = text.strip()
    if not value or any(ch.isspace() for ch in value):
        raise ValueError("accepted values: a non-empty name without spaces")
    return value


def resolve(
    arg: T | None,
    env_var: str,
    default: T,
    parse: Callable[[str], T],
    *,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Resolve one setting: ``arg`` if given, else ``$env_var`` parsed, else ``default``.

    Args:
        arg: the explicit value (None means "not given").
        env_var: the environment variable to read.
        default: the value when neither is given.
        parse: turns the variable's text into a value; raises ValueError with the
            accepted values when it cannot.
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigError: when the variable is set to an invalid value.

    Example:
        >>> resolve(None, "X", 5, int, environ={"X": "7"})
        7
    """
    if arg is not None:
        return arg
    env = os.environ if environ is None else environ
    text = env.get(env_var)
    if text is None:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"{env_var}={text!r} is invalid; {exc}") from None


@dataclass(frozen=True)
class PipelineConfig:
    """Settings every part of the pipeline shares.

    Attributes:
        lake_uri: base URI of the lake (``file://``, ``s3://`` or ``s3a://``) or a local path.
        control_table: DynamoDB control table name.
        stream_name: name of the ingest stream in the control table.
        job_name: name of the ETL job in the control table (and of the Glue job).
        allowed_lateness_seconds: how late events may arrive after their UTC day ends.
    """

    lake_uri: str = DEFAULT_LAKE_URI
    control_table: str = DEFAULT_CONTROL_TABLE
    stream_name: str = DEFAULT_STREAM_NAME
    job_name: str = DEFAULT_JOB_NAME
    allowed_lateness_seconds: int = DEFAULT_ALLOWED_LATENESS_SECONDS

    @property
    def layout(self) -> LakeLayout:
        """The lake's tables under ``lake_uri``."""
        return LakeLayout.from_uri(self.lake_uri)

    @classmethod
    def from_env(
        cls,
        *,
        lake_uri: str | None = None,
        control_table: str | None = None,
        stream_name: str | None = None,
        job_name: str | None = None,
        allowed_lateness_seconds: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> PipelineConfig:
        """Resolve every setting: argument, then environment variable, then default.

        Raises:
            ConfigError: when a variable holds an invalid value or the lake URI is invalid.
        """
        cfg = cls(
            lake_uri=resolve(lake_uri, ENV_LAKE_URI, DEFAULT_LAKE_URI, parse_name, environ=environ),
            control_table=resolve(
                control_table, ENV_CONTROL_TABLE, DEFAULT_CONTROL_TABLE, parse_name, environ=environ
            ),
            stream_name=resolve(
                stream_name, ENV_STREAM_NAME, DEFAULT_STREAM_NAME, parse_name, environ=environ
            ),
            job_name=resolve(job_name, ENV_JOB_NAME, DEFAULT_JOB_NAME, parse_name, environ=environ),
            allowed_lateness_seconds=resolve(
                allowed_lateness_seconds,
                ENV_ALLOWED_LATENESS_SECONDS,
                DEFAULT_ALLOWED_LATENESS_SECONDS,
                parse_non_negative_int,
                environ=environ,
            ),
        )
        cfg.layout  # noqa: B018 - validates the URI early, with a ConfigError
        return cfg
