from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from loglake_core.errors import ConfigError
from loglake_glue_etl.config import ENV_ETL_FAIL, MAX_DATES, EtlConfig
from loglake_glue_etl.entrypoint import main
from loglake_glue_etl.quality import GateFailure, check_row_counts, check_stats
from loglake_glue_etl.result import EtlResult

pytestmark = pytest.mark.unit


def test_dates_list_and_range() -> None:
    cfg = EtlConfig.create(lake="/tmp/lake", dates="2026-11-02, 2026-11-01,2026-11-02")
    assert cfg.dates == (date(2026, 11, 1), date(2026, 11, 2))
    assert cfg.expected_dates == frozenset(cfg.dates)
    assert cfg.lake.base == "file:///tmp/lake"
    cfg = EtlConfig.create(lake="s3://b/l", start="2026-10-30", end="2026-11-02", allow_empty=True)
    assert [d.day for d in cfg.dates] == [30, 31, 1, 2]
    assert cfg.expected_dates == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dates": "2026-11-01"}, "no lake given: pass --lake"),
        ({"lake": "/l"}, "no dates given"),
        (
            {"lake": "/l", "dates": "2026-13-01"},
            "--dates: '2026-13-01' is not a date; use YYYY-MM-DD",
        ),
        ({"lake": "/l", "dates": "2026-11-01", "start": "2026-11-01"}, "not both"),
        ({"lake": "/l", "start": "2026-11-01"}, "--start and --end go together"),
        ({"lake": "/l", "start": "2026-11-02", "end": "2026-11-01"}, "is before --start"),
        ({"lake": "/l", "start": "2020-01-01", "end": "2026-01-01"}, f"at most {MAX_DATES}"),
        ({"lake": "ftp://x", "dates": "2026-11-01"}, "has scheme 'ftp'"),
        ({"lake": "/l", "dates": ","}, "no date given"),
    ],
)
def test_usage_errors_name_the_option_and_the_fix(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        EtlConfig.create(**kwargs)


def test_failure_injection_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ETL_FAIL, "1")
    assert EtlConfig.create(lake="/l", dates="2026-11-01").fail is True
    assert EtlConfig.create(lake="/l", dates="2026-11-01", fail=False).fail is False
    monkeypatch.setenv(ENV_ETL_FAIL, "0")
    assert EtlConfig.create(lake="/l", dates="2026-11-01").fail is False


def test_main_usage_error_exits_2_without_spark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lake", "/tmp/l", "--start", "2026-11-01"]) == 2
    err = capsys.readouterr().err
    assert "error: --start and --end go together" in err
    assert main(["--lake", "/tmp/l", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_module_usage_error_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loglake_glue_etl", "--lake", "/tmp/l", "--dates", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error: --dates: 'nope' is not a date" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_result_json_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    result = EtlResult(status="ok", dates=["2026-11-01"], rows_read=5, rows_written={"a": 1})
    path = tmp_path / "out" / "result.json"  # type: ignore[operator]
    result.write(path)
    assert EtlResult.from_json(path.read_text()) == result


def test_row_gate_and_stats_checks_are_pure() -> None:
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    failures = check_row_counts({d1: 10, d2: 0}, {d1, d2})
    assert failures == [GateFailure(d2, "raw", "rows", failures[0].message)]
    assert "0 rows after cleaning" in failures[0].message
    assert check_row_counts({d1: 0}, set()) == []
    stats = [{"event_date": d1, "rows": 4, "nulls": 1, "nulls_sample": '{"page":null}'}]
    (f,) = check_stats("errors_hourly", stats)
    assert f.describe() == '2026-11-01 errors_hourly nulls: 1 of 4 rows fail; first: {"page":null}'


def test_the_glue_etl_driver_uses_the_throughput_collector_and_keeps_utc() -> None:
    from loglake_core.spark.session import LOCAL_CONF
    from loglake_glue_etl.config import local_spark_conf

    java = local_spark_conf()["spark.driver.extraJavaOptions"].split()
    assert "-XX:+UseParallelGC" in java
    assert set(LOCAL_CONF["spark.driver.extraJavaOptions"].split()) <= set(java)
