"""Config from env vars, event parsing and the back-off function."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loglake_orchestrator.backoff import backoff_ceiling, next_attempt_at, retry_delay
from loglake_orchestrator.config import OrchestratorConfig
from loglake_orchestrator.errors import EventError, OrchestratorConfigError
from loglake_orchestrator.events import Backfill, JobStateChange, Status, Tick, parse_event

pytestmark = pytest.mark.unit

BASE_ENV = {"LOGLAKE_LAKE_URI": "s3://bucket/lake", "LOGLAKE_SNS_TOPIC_ARN": "arn:aws:sns:x:1:t"}


def test_config_defaults_and_env():
    cfg = OrchestratorConfig.from_env(BASE_ENV)
    assert (cfg.control_table, cfg.job_name, cfg.stream_name, cfg.job_runner) == (
        "loglake-control", "loglake-etl", "ingest", "glue",
    )  # fmt: skip
    assert (cfg.max_attempts, cfg.max_dates_per_run, cfg.allowed_lateness_seconds) == (3, 7, 3600)
    cfg = OrchestratorConfig.from_env(
        {**BASE_ENV, "LOGLAKE_MAX_ATTEMPTS": "5", "LOGLAKE_BACKOFF_BASE_SECONDS": "1.5",
         "LOGLAKE_JOB_RUNNER": "LOCAL", "LOGLAKE_ETL_FAIL_ONCE": "yes"}
    )  # fmt: skip
    assert (cfg.max_attempts, cfg.backoff_base_seconds, cfg.job_runner, cfg.etl_fail_once) == (
        5, 1.5, "local", True,
    )  # fmt: skip


def test_argument_beats_env():
    cfg = OrchestratorConfig.from_env({**BASE_ENV, "LOGLAKE_MAX_ATTEMPTS": "5"}, max_attempts=2)
    assert cfg.max_attempts == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGLAKE_SNS_TOPIC_ARN": "arn"}, "LOGLAKE_LAKE_URI is not set"),
        ({"LOGLAKE_LAKE_URI": "s3://b/l"}, "LOGLAKE_SNS_TOPIC_ARN is not set"),
        (
            {**BASE_ENV, "LOGLAKE_MAX_ATTEMPTS": "three"},
            "LOGLAKE_MAX_ATTEMPTS='three' is not a whole",
        ),
        ({**BASE_ENV, "LOGLAKE_MAX_ATTEMPTS": "0"}, "LOGLAKE_MAX_ATTEMPTS=0 is out of range"),
        ({**BASE_ENV, "LOGLAKE_BACKOFF_CAP_SECONDS": "1"}, "LOGLAKE_BACKOFF_CAP_SECONDS=1.0"),
        ({**BASE_ENV, "LOGLAKE_JOB_RUNNER": "emr"}, "use one of glue, local"),
        (
            {**BASE_ENV, "LOGLAKE_ETL_FAIL_ONCE": "maybe"},
            "LOGLAKE_ETL_FAIL_ONCE='maybe' is not a flag",
        ),
        ({**BASE_ENV, "LOGLAKE_MAX_DATES_PER_RUN": "500"}, "use 1..90"),
    ],
)
def test_config_errors_name_variable_value_and_fix(env, message):
    with pytest.raises(OrchestratorConfigError, match=message.replace("(", r"\(")):
        OrchestratorConfig.from_env(env)


def test_local_runner_needs_no_sns_topic():
    cfg = OrchestratorConfig.from_env(
        {"LOGLAKE_LAKE_URI": "/tmp/lake", "LOGLAKE_JOB_RUNNER": "local"}
    )
    assert cfg.sns_topic_arn is None


def test_parse_events(load_event):
    assert parse_event(load_event("scheduled_tick.json")) == Tick()
    assert parse_event({"action": "tick"}) == Tick()
    assert parse_event(load_event("manual_status.json")) == Status()
    change = parse_event(load_event("glue_state_failed.json"))
    assert isinstance(change, JobStateChange)
    assert (change.job_name, change.state) == ("loglake-etl", "FAILED")
    assert change.message.startswith("AnalysisException")
    assert parse_event(load_event("manual_backfill.json")) == Backfill(
        date(2026, 11, 20), date(2026, 11, 22), "reprocess after fix"
    )
    assert parse_event({"action": "backfill", "start": "2026-11-20"}) == Backfill(
        date(2026, 11, 20), date(2026, 11, 20)
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("tick", "must be a JSON object"),
        ({}, "unknown event"),
        (
            {"source": "aws.glue", "detail-type": "Glue Job Run Status"},
            "only 'Glue Job State Change'",
        ),
        ({"action": "backfill"}, "needs 'start'"),
        ({"action": "backfill", "start": "2026-11-22", "end": "2026-11-20"}, "before start"),
        ({"action": "backfill", "start": "2020-01-01", "end": "2026-01-01"}, "at most 366 days"),
    ],
)
def test_bad_events(event, message):
    with pytest.raises(EventError, match=message):
        parse_event(event)


def test_backoff_ceiling_doubles_then_caps():
    assert [backoff_ceiling(a, base=60, cap=600) for a in range(6)] == [60, 120, 240, 480, 600, 600]
    assert backoff_ceiling(10_000, base=60, cap=600) == 600
    with pytest.raises(ValueError, match="attempt"):
        backoff_ceiling(-1, base=1, cap=1)


@given(attempt=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_full_jitter_stays_within_zero_and_ceiling(attempt, seed):
    delay = retry_delay(attempt, base=30, cap=900, rng=random.Random(seed))
    assert 0 <= delay <= backoff_ceiling(attempt, base=30, cap=900)


def test_jitter_is_spread_and_reproducible():
    delays = [retry_delay(3, base=60, cap=3600, rng=random.Random(s)) for s in range(200)]
    assert min(delays) < 100
    assert max(delays) > 380
    assert retry_delay(3, base=60, cap=3600, rng=random.Random(7)) == delays[7]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    at = next_attempt_at(now, 3, base=60, cap=3600, rng=random.Random(7))
    assert at - now == timedelta(seconds=delays[7])
