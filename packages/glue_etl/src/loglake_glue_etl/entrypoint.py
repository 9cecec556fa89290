r"""The job's entry script: AWS Glue 6.0 when ``awsglue`` is importable, plain Spark otherwise.

This is the only module that imports ``awsglue``. On Glue the job parameters are
``--lake``, ``--dates`` or ``--start``/``--end``, and optionally ``--expected_dates``,
``--allow_empty true``, ``--result_path``, ``--fail true`` (Glue reserves ``--JOB_NAME``,
``--JOB_RUN_ID``, ``--job-bookmark-option`` and rejects abbreviations). Elsewhere (local,
spark-submit, EMR) the same options are parsed with argparse; dashes and underscores are
both accepted (``--result-path`` = ``--result_path``).

Exit codes: 0 success, 2 usage error, 1 job failure; the JSON result goes to stdout (and to
``--result-path``), the reason of a failure to stderr, without a stack trace.

Example:
    spark-submit --py-files core.whl,glue_etl.whl entrypoint.py --lake file:///tmp/lake \\
        --dates 2026-11-01
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from loglake_core.errors import ConfigError
from loglake_glue_etl.config import EtlConfig, local_spark_conf
from loglake_glue_etl.errors import EtlError
from loglake_glue_etl.result import EtlResult

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
#: Optional Glue job parameters (names as Glue passes them, without dashes).
GLUE_OPTIONAL: Final = (
    "dates",
    "start",
    "end",
    "expected_dates",
    "allow_empty",
    "result_path",
    "s3_endpoint",
    "fail",
)


class _UsageError(Exception):
    """argparse could not parse the arguments (message already built)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never returns
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the non-Glue runtime."""
    p = _Parser(prog="python -m loglake_glue_etl", description="loglake batch ETL")
    p.add_argument("--lake", help="base URI of the lake (file://, s3://, s3a://)")
    p.add_argument("--dates", help="comma-separated dates, YYYY-MM-DD")
    p.add_argument("--start", help="first date of an inclusive range")
    p.add_argument("--end", help="last date of an inclusive range")
    p.add_argument(
        "--expected-dates",
        "--expected_dates",
        dest="expected_dates",
        help="dates that must have rows (default: every date)",
    )
    p.add_argument(
        "--allow-empty",
        "--allow_empty",
        dest="allow_empty",
        action="store_true",
        help="accept dates without rows",
    )
    p.add_argument(
        "--result-path",
        "--result_path",
        dest="result_path",
        help="also write the JSON result to this local file",
    )
    p.add_argument(
        "--s3-endpoint",
        "--s3_endpoint",
        dest="s3_endpoint",
        help="S3 API endpoint for s3a:// lakes",
    )
    p.add_argument("--fail", action="store_true", help="inject a failure (tests, demos)")
    return p  # fmt: skip


def glue_available() -> bool:
    """Whether this process runs inside AWS Glue (``awsglue`` importable)."""
    return importlib.util.find_spec("awsglue") is not None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit code (the caller exits with it)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    args = list(sys.argv[1:] if argv is None else argv)
    if glue_available():
        return _main_glue(args)
    try:
        ns = build_parser().parse_args(args)
        config = EtlConfig.create(
            lake=ns.lake,
            dates=ns.dates,
            start=ns.start,
            end=ns.end,
            expected_dates=ns.expected_dates,
            allow_empty=ns.allow_empty,
            result_path=ns.result_path,
            s3_endpoint=ns.s3_endpoint,
            fail=True if ns.fail else None,
        )
    except (_UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from loglake_core.spark.session import build_spark_session

    lake = config.lake
    if lake.scheme == "s3":
        lake = lake.with_scheme("s3a")  # plain Spark's Hadoop reads S3 through s3a://
    spark = build_spark_session(
        "loglake-etl", s3_endpoint=config.s3_endpoint, conf=local_spark_conf()
    )
    return execute(spark, dataclasses.replace(config, lake=lake))


def execute(spark: SparkSession, config: EtlConfig) -> int:
    """Run ``config`` on ``spark``, report the result, and return the exit code."""
    from loglake_glue_etl.job import run_etl

    try:
        result = run_etl(
            spark,
            config.lake,
            config.dates,
            expected_dates=config.expected_dates,
            fail=config.fail,
        )
        code = EXIT_OK
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        result = EtlResult(
            status="failed",
            dates=[d.isoformat() for d in config.dates],
            lake=config.lake.base,
            error=str(exc),
        )
        code = EXIT_FAILED
    print(result.to_json(), flush=True)
    if config.result_path:
        result.write(config.result_path)
    return code


def _main_glue(argv: list[str]) -> int:  # pragma: no cover - needs the Glue runtime
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    full = [sys.argv[0], *argv]
    present = [name for name in GLUE_OPTIONAL if f"--{name}" in full]
    opts = getResolvedOptions(full, ["JOB_NAME", "lake", *present])
    try:
        config = EtlConfig.create(
            lake=opts["lake"],
            dates=opts.get("dates"),
            start=opts.get("start"),
            end=opts.get("end"),
            expected_dates=opts.get("expected_dates"),
            allow_empty=_truthy(opts.get("allow_empty")),
            result_path=opts.get("result_path"),
            s3_endpoint=opts.get("s3_endpoint"),
            fail=_truthy(opts.get("fail")) or None,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(opts["JOB_NAME"], opts)
    code = execute(glue_context.spark_session, config)
    if code == EXIT_OK:
        job.commit()
    return code


if __name__ == "__main__":
    sys.exit(main())
