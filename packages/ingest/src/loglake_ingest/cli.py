"""Command line of the ingest job: ``python -m loglake_ingest`` and the spark-submit entry.

Uses only argparse, so it runs on any Spark cluster without extra packages::

    python -m loglake_ingest --topic events --lake s3a://bucket/lake --bootstrap b:9092
    python -m loglake_ingest compact --lake URI --dates 2026-01-01..2026-01-07
    python -m loglake_ingest replay-quarantine --lake URI [--reason CODE] [--since TIME]

User mistakes end with a one-line error and exit status 2; a failed query with its
reason and status 1. The run prints its summary as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from loglake_ingest.errors import ConfigError, IngestError

logger = logging.getLogger(__name__)

SUBCOMMANDS: Final = ("run", "compact", "replay-quarantine")
PROG: Final = "loglake-ingest"


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", help="lake base URI (file://, s3://, s3a://) [$LOGLAKE_LAKE]")
    parser.add_argument("--s3-endpoint", help="S3 API endpoint for s3a:// lakes")
    parser.add_argument("--aws-endpoint", help="DynamoDB endpoint (local moto server)")
    parser.add_argument(
        "--control-table", help="DynamoDB control table, or 'none' [$LOGLAKE_CONTROL_TABLE]"
    )
    parser.add_argument("--master", help="Spark master (default: spark-submit's, or local[2])")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")


def run_parser() -> argparse.ArgumentParser:
    """Parser of the streaming run (the default command)."""
    p = argparse.ArgumentParser(prog=PROG, description="Stream Kafka events into the raw zone.")
    p.add_argument("--topic", action="append", help="Kafka topic (repeatable, or a,b)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers host:port")
    p.add_argument("--checkpoint", help="checkpoint URI (default <lake>/_checkpoints/ingest)")
    p.add_argument("--available-now", action="store_true", help="drain the topics, then stop")
    p.add_argument("--trigger-seconds", type=float, help="micro-batch interval (default 30)")
    p.add_argument("--max-offsets-per-trigger", type=int, help="records per micro-batch")
    p.add_argument("--starting-offsets", choices=("earliest", "latest"), help="first start only")
    p.add_argument("--fail-on-data-loss", type=_bool, help="true (default) or false")
    p.add_argument("--dedup-window-seconds", type=int, help="event_id de-dup window")
    p.add_argument("--max-future-skew-seconds", type=int, help="quarantine events further ahead")
    p.add_argument("--stream", help="stream name in the control table (default ingest)")
    p.add_argument("--job", help="ETL job whose dates late rows make dirty")
    p.add_argument("--target-file-mb", type=int, help="target data file size (default 128)")
    p.add_argument(
        "--conf",
        action="append",
        metavar="KEY=VALUE",
        help="Spark setting over the job's own (repeatable)",
    )
    _common(p)
    return p


def compact_parser() -> argparse.ArgumentParser:
    """Parser of ``compact``."""
    p = argparse.ArgumentParser(prog=f"{PROG} compact", description="OPTIMIZE raw/events dates.")
    p.add_argument("--dates", action="append", required=True, help="YYYY-MM-DD[,..] or a..b")
    _common(p)
    return p


def replay_parser() -> argparse.ArgumentParser:
    """Parser of ``replay-quarantine``."""
    p = argparse.ArgumentParser(
        prog=f"{PROG} replay-quarantine",
        description="Re-validate quarantined records; move now-valid ones to raw once.",
    )
    p.add_argument("--reason", help="only this reason code (e.g. future_timestamp)")
    p.add_argument("--since", help="only records quarantined at/after this ISO time")
    p.add_argument("--max-future-skew-seconds", type=int, help="validation setting to apply")
    p.add_argument("--job", help="ETL job whose dates the moved rows make dirty")
    _common(p)
    return p


def parse_since(text: str | None) -> datetime | None:
    """Parse ``--since`` (ISO-8601; a time without offset is UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is not an ISO-8601 time; use e.g. 2026-01-02T10:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def config_from_args(args: argparse.Namespace) -> Any:
    """Build the ``IngestConfig`` of a run from parsed arguments (then env, then defaults)."""
    from loglake_ingest.config import IngestConfig

    topics = [t for v in (args.topic or []) for t in v.split(",") if t.strip()] or None
    given: dict[str, Any] = {
        "topics": tuple(topics) if topics else None,
        "lake": args.lake,
        "bootstrap": args.bootstrap,
        "checkpoint": args.checkpoint,
        "available_now": args.available_now or None,
        "trigger_seconds": args.trigger_seconds,
        "max_offsets_per_trigger": args.max_offsets_per_trigger,
        "starting_offsets": args.starting_offsets,
        "fail_on_data_loss": args.fail_on_data_loss,
        "dedup_window_seconds": args.dedup_window_seconds,
        "max_future_skew_seconds": args.max_future_skew_seconds,
        "aws_endpoint": args.aws_endpoint,
        "s3_endpoint": args.s3_endpoint,
        "stream": args.stream,
        "job": args.job,
        "master": args.master,
    }
    if args.control_table is not None:
        given["control_table"] = args.control_table  # "none" turns it off
    if args.target_file_mb is not None:
        given["target_file_bytes"] = args.target_file_mb * 1024 * 1024
    if args.conf:
        given["spark_conf"] = spark_settings(args.conf)
    return IngestConfig.resolve(**given)


def spark_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``--conf KEY=VALUE`` arguments as a dict (a later key wins)."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f"--conf {pair!r} is not KEY=VALUE; write e.g. --conf "
                "spark.sql.streaming.stateStore.rocksdb.blockCacheSizeMB=64"
            )
        settings[key.strip()] = value.strip()
    return settings


def _lake_and_session(args: argparse.Namespace) -> tuple[Any, Any]:
    import os

    from loglake_core.layout import LakeLayout
    from loglake_core.spark.session import build_spark_session
    from loglake_ingest.config import ENV_LAKE, ENV_S3_ENDPOINT

    lake = args.lake or os.environ.get(ENV_LAKE)
    if not lake:
        raise ConfigError(f"no lake given; pass --lake URI or set {ENV_LAKE}")
    layout = LakeLayout.from_uri(lake)
    spark = build_spark_session(
        "loglake-ingest-maintenance",
        master=args.master,
        s3_endpoint=args.s3_endpoint or os.environ.get(ENV_S3_ENDPOINT),
    )
    return layout, spark


def _control(args: argparse.Namespace, job: str | None) -> Any:
    import os

    from loglake_core.control import DEFAULT_CONTROL_TABLE, DEFAULT_JOB, DEFAULT_STREAM
    from loglake_ingest.config import ENV_AWS_ENDPOINT, ENV_CONTROL_TABLE, normalize_control_table
    from loglake_ingest.progress import ProgressRecorder

    raw = args.control_table
    if raw is None:
        raw = os.environ.get(ENV_CONTROL_TABLE, DEFAULT_CONTROL_TABLE)
    table = normalize_control_table(raw)
    if table is None:
        return None
    return ProgressRecorder.connect(
        table,
        endpoint=args.aws_endpoint or os.environ.get(ENV_AWS_ENDPOINT),
        stream=DEFAULT_STREAM,
        job=job or DEFAULT_JOB,
    )


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the streaming job."""
    from loglake_ingest.job import run_ingest

    summary = run_ingest(config_from_args(args))
    return summary.as_dict()


def cmd_compact(args: argparse.Namespace) -> dict[str, Any]:
    """Compact raw/events for some dates."""
    from loglake_ingest.compact import compact_dates, parse_dates

    dates = parse_dates(args.dates)
    layout, spark = _lake_and_session(args)
    return compact_dates(spark, layout, dates).as_dict()


def cmd_replay(args: argparse.Namespace) -> dict[str, Any]:
    """Replay quarantined records."""
    from loglake_core.spark.rules import validate_values
    from loglake_core.validate import ValidationConfig
    from loglake_ingest.replay import replay_quarantine

    since = parse_since(args.since)
    validation = (
        ValidationConfig(max_future_skew_seconds=args.max_future_skew_seconds)
        if args.max_future_skew_seconds is not None
        else ValidationConfig()
    )
    # before any record moves: the dates it touches must reach the control table
    recorder = _control(args, args.job)
    layout, spark = _lake_and_session(args)
    summary = replay_quarantine(
        spark,
        layout,
        validator=lambda df: validate_values(df, "value", config=validation),
        reason=args.reason,
        since=since,
    )
    out = summary.as_dict()
    if recorder is not None and summary.event_dates:
        dirtied = recorder.mark_dirty(summary.event_dates, f"quarantine replay {summary.replay_id}")
        out["dirty_dates"] = [d.isoformat() for d in dirtied]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 job failure, 2 usage error)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and args_list[0] in SUBCOMMANDS else "run"
    if args_list and args_list[0] in SUBCOMMANDS:
        args_list = args_list[1:]
    parser = {"run": run_parser, "compact": compact_parser, "replay-quarantine": replay_parser}[
        command
    ]()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = {"run": cmd_run, "compact": cmd_compact, "replay-quarantine": cmd_replay}[command]
    try:
        result = handler(args)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except IngestError as exc:
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, default=str, sort_keys=True), flush=True)
    return 0
