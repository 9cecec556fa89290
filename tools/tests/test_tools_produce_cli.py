from __future__ import annotations

import pytest
from click.testing import CliRunner

from loglake_tools.produce import produce, resolve_bootstrap

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--malformed-share", "1.5"], "1.5 is not a share"),
        (["--late-share", "-0.2"], "-0.2 is not a share"),
        (["--malformed-share", "0.6", "--duplicate-share", "0.5"], "must stay below 1"),
        (["--now", "2026-11-27T12:00:00"], "has no UTC offset; add +00:00"),
        (["--now", "tomorrow"], "is not ISO-8601"),
        (["--events", "-3"], "-3 is not in the range x>=0"),
    ],
)
def test_bad_options_fail_with_a_message_naming_the_fix(args, expected):
    result = CliRunner().invoke(produce, ["--topic", "t", *args])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_bootstrap_comes_from_argument_then_env_then_state(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGLAKE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("LOGLAKE_KAFKA_BOOTSTRAP", raising=False)
    assert resolve_bootstrap() == "127.0.0.1:19092"
    monkeypatch.setenv("LOGLAKE_KAFKA_BOOTSTRAP", "10.0.0.1:9092")
    assert resolve_bootstrap() == "10.0.0.1:9092"
    assert resolve_bootstrap("b:1") == "b:1"


def test_unreachable_broker_is_a_clear_error(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr("loglake_tools.produce.CONNECT_TIMEOUT", 1.0)
    result = CliRunner().invoke(
        produce,
        ["--topic", "t", "--events", "5", "--bootstrap", f"127.0.0.1:{port}"],
    )
    assert result.exit_code == 1
    assert f"cannot create topic 't' on 127.0.0.1:{port}" in result.output
    assert "loglake stack status" in result.output
