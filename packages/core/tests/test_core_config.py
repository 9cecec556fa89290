"""Unit tests of loglake_core.config: argument > environment variable > default."""

from __future__ import annotations

import pytest

from loglake_core.config import (
    DEFAULT_CONTROL_TABLE,
    ENV_ALLOWED_LATENESS_SECONDS,
    ENV_CONTROL_TABLE,
    ENV_LAKE_URI,
    PipelineConfig,
    parse_bool,
    resolve,
)
from loglake_core.errors import ConfigError

pytestmark = pytest.mark.unit


def test_resolve_order() -> None:
    env = {"X": "7"}
    assert resolve(3, "X", 5, int, environ=env) == 3
    assert resolve(None, "X", 5, int, environ=env) == 7
    assert resolve(None, "Y", 5, int, environ=env) == 5


def test_pipeline_defaults_and_env() -> None:
    cfg = PipelineConfig.from_env(environ={})
    assert cfg.control_table == DEFAULT_CONTROL_TABLE
    assert (cfg.stream_name, cfg.job_name) == ("ingest", "loglake-etl")
    env = {
        ENV_LAKE_URI: "s3://bucket/lake",
        ENV_CONTROL_TABLE: "ctl",
        ENV_ALLOWED_LATENESS_SECONDS: "60",
    }
    cfg = PipelineConfig.from_env(environ=env)
    assert cfg.layout.raw_events == "s3://bucket/lake/raw/events"
    assert (cfg.control_table, cfg.allowed_lateness_seconds) == ("ctl", 60)
    assert PipelineConfig.from_env(control_table="arg", environ=env).control_table == "arg"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({ENV_ALLOWED_LATENESS_SECONDS: "-5"}, "LOGLAKE_ALLOWED_LATENESS_SECONDS='-5'"),
        ({ENV_ALLOWED_LATENESS_SECONDS: "2h"}, "a whole number >= 0"),
        ({ENV_CONTROL_TABLE: "my table"}, "LOGLAKE_CONTROL_TABLE='my table'"),
        ({ENV_LAKE_URI: "hdfs://x/y"}, "scheme 'hdfs'"),
    ],
)
def test_bad_values_name_variable_value_and_fix(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        PipelineConfig.from_env(environ=env)


def test_parse_bool() -> None:
    assert parse_bool("TRUE") is True
    assert parse_bool("0") is False
    with pytest.raises(ValueError, match="accepted values"):
        parse_bool("maybe")


def test_config_is_frozen() -> None:
    cfg = PipelineConfig()
    with pytest.raises(AttributeError):
        cfg.job_name = "x"  # type: ignore[misc]
