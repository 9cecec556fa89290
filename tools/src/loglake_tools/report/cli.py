"""The ``loglake report`` command and its Python entry point `build_report`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from loglake_core.errors import ConfigError, LoglakeError

log = logging.getLogger(__name__)


def build_report(
    lake: str,
    out: str | Path,
    *,
    control_table: str | None = None,
    aws_endpoint: str | None = None,
    s3_endpoint: str | None = None,
    producer_summary: Mapping[str, Any] | None = None,
) -> Path:
    """Read the lake at ``lake`` and write the HTML report to ``out``.

    Args:
        lake: the lake's base URI (path, ``file://``, ``s3://`` or ``s3a://``).
        out: the HTML file to write (its folder is created).
        control_table: control table for the run history (``None``: env/default;
            ``""``: none).
        aws_endpoint: DynamoDB endpoint (``$LOGLAKE_AWS_ENDPOINT`` when ``None``).
        s3_endpoint: S3 API endpoint of an S3 lake (``$LOGLAKE_S3_ENDPOINT`` when ``None``).
        producer_summary: the producer's summary, to reconcile produced against landed.

    Returns:
        The path written.

    Raises:
        ConfigError: the lake holds no loglake table.
    """
    from loglake_tools.reconcile import LakeReader, reconcile
    from loglake_tools.report.data import load_report_data
    from loglake_tools.report.html import render_html

    reader = LakeReader.open(lake, s3_endpoint=s3_endpoint)
    tables = (reader.layout.raw_events, reader.layout.processed_page_metrics)
    if not any(reader.exists(t) for t in tables):
        raise ConfigError(
            f"no loglake table under {reader.layout.base} (neither raw/events nor "
            "processed/page_metrics_daily); check --lake, or run `hatch run demo` first"
        )
    data = load_report_data(reader, control_table=control_table, aws_endpoint=aws_endpoint)
    recon = reconcile(producer_summary, data.counts) if producer_summary is not None else None
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(data, recon=recon), encoding="utf-8")
    tmp.replace(path)
    log.info("report of %s written to %s", reader.layout.base, path)
    return path


@click.command(name="report")
@click.option("--lake", required=True, help="Lake base URI: a path, file://, s3:// or s3a://.")
@click.option(
    "--out",
    "out",
    default="loglake-report.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write.",
)
@click.option(
    "--control-table",
    default=None,
    help="DynamoDB control table for the run history ($LOGLAKE_CONTROL_TABLE or "
    "loglake-control; '' to skip).",
)
@click.option("--aws-endpoint", default=None, help="DynamoDB endpoint ($LOGLAKE_AWS_ENDPOINT).")
@click.option("--s3-endpoint", default=None, help="S3 API endpoint ($LOGLAKE_S3_ENDPOINT).")
@click.option(
    "--producer-summary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON summary written by `loglake produce --summary-out`, to reconcile against.",
)
def report(
    lake: str,
    out: Path,
    control_table: str | None,
    aws_endpoint: str | None,
    s3_endpoint: str | None,
    producer_summary: Path | None,
) -> None:
    """Write a self-contained HTML report (charts and tables) of the lake at LAKE."""
    summary = None
    if producer_summary is not None:
        try:
            summary = json.loads(producer_summary.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.ClickException(
                f"--producer-summary {producer_summary} is not JSON ({exc}); pass the file "
                "written by `loglake produce --summary-out`"
            ) from exc
    try:
        path = build_report(
            lake,
            out,
            control_table=control_table,
            aws_endpoint=aws_endpoint,
            s3_endpoint=s3_endpoint,
            producer_summary=summary,
        )
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read the lake {lake!r} or write {out}: {exc}") from exc
    click.echo(f"report written to {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB)")
