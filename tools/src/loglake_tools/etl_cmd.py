"""``loglake etl``: run the batch ETL for some dates of a lake, here, on local Spark.

For an ``s3://`` or ``s3a://`` lake the S3 endpoint defaults to the local stack's
(``loglake stack up``), read from its state file; pass ``--s3-endpoint`` to override.

Example:
    $ loglake etl --lake /tmp/lake --dates 2026-11-01,2026-11-02
    $ loglake etl --lake s3a://lake/demo --start 2026-11-01 --end 2026-11-07
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from loglake_core.errors import ConfigError, LoglakeError


def _stack_s3_endpoint() -> str | None:
    """The S3 endpoint of a running local stack, if its state file exists."""
    try:
        from loglake_tools.stack.state import read_state
    except ImportError:
        return None
    state = read_state()
    return state.s3_endpoint if state is not None else None


@click.command()
@click.option("--lake", required=True, help="Base URI of the lake (path, file://, s3://, s3a://).")
@click.option("--dates", default=None, help="Comma-separated dates, YYYY-MM-DD.")
@click.option("--start", default=None, help="First date of an inclusive range.")
@click.option("--end", default=None, help="Last date of an inclusive range.")
@click.option("--expected-dates", default=None, help="Dates that must have rows [every date].")
@click.option("--allow-empty", is_flag=True, help="Accept dates without rows.")
@click.option(
    "--result-path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the JSON result to this file.",
)
@click.option(
    "--s3-endpoint", default=None, help="S3 API endpoint for s3a:// lakes [the local stack's]."
)
@click.option("--master", default="local[2]", show_default=True, help="Spark master.")
@click.option("--fail", is_flag=True, help="Inject a failure (tests, demos).")
def etl(
    lake: str,
    dates: str | None,
    start: str | None,
    end: str | None,
    expected_dates: str | None,
    allow_empty: bool,
    result_path: Path | None,
    s3_endpoint: str | None,
    master: str,
    fail: bool,
) -> None:
    """Recompute processed/page_metrics_daily and processed/errors_hourly for some dates."""
    from loglake_glue_etl.config import EtlConfig, local_spark_conf

    try:
        config = EtlConfig.create(
            lake=lake,
            dates=dates,
            start=start,
            end=end,
            expected_dates=expected_dates,
            allow_empty=allow_empty,
            result_path=str(result_path) if result_path else None,
            s3_endpoint=s3_endpoint,
            fail=True if fail else None,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if config.lake.scheme == "s3":
        config = dataclasses.replace(config, lake=config.lake.with_scheme("s3a"))
    if not config.lake.is_local and not config.s3_endpoint:
        config = dataclasses.replace(config, s3_endpoint=_stack_s3_endpoint())

    from loglake_core.spark.session import build_spark_session
    from loglake_glue_etl.entrypoint import EXIT_OK, execute

    try:
        spark = build_spark_session(
            "loglake-etl", master=master, s3_endpoint=config.s3_endpoint, conf=local_spark_conf()
        )
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    spark.sparkContext.setLogLevel("WARN")
    code = execute(spark, config)
    if code != EXIT_OK:
        sys.exit(code)
