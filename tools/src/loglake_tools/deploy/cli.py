"""The ``loglake deploy`` and ``loglake destroy`` click commands."""

from __future__ import annotations

from pathlib import Path

import click

from loglake_core.errors import LoglakeError
from loglake_tools.deploy import artifacts
from loglake_tools.deploy.config import (
    DEFAULT_TEMPLATE,
    TEMPLATE_ENV,
    DeployConfig,
    DestroyConfig,
    parse_params,
)
from loglake_tools.deploy.stack import aws_session, deploy_stack
from loglake_tools.deploy.teardown import destroy_stack

_region = click.option("--region", help="AWS region (default: AWS_REGION or the profile's).")
_endpoint = click.option(
    "--endpoint-url", help="AWS API endpoint (e.g. a local moto server); default: AWS itself."
)


@click.command()
@click.option(
    "--stack-name", required=True, help="CloudFormation stack name (also names resources)."
)
@click.option("--bucket", required=True, help="S3 bucket of the lake (created unless it exists).")
@click.option("--kafka-bootstrap", required=True, help="Kafka bootstrap servers host:port[,…].")
@click.option(
    "--kafka-topic", default="events", show_default=True, help="Kafka topic of the events."
)
@click.option(
    "--prefix", default="lake", show_default=True, help="Key prefix of the lake in the bucket."
)
@_region
@_endpoint
@click.option("--dry-run", is_flag=True, help="Build and print the change set; change nothing.")
@click.option(
    "--param", "params", multiple=True, metavar="K=V", help="Any other template parameter."
)
@click.option(
    "--start-ingest/--no-start-ingest",
    default=True,
    show_default=True,
    help="Start the streaming job.",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=TEMPLATE_ENV,
    default=DEFAULT_TEMPLATE,
    show_default="deploy/loglake.yaml",
    help="CloudFormation template.",
)
def deploy(
    stack_name: str,
    bucket: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    prefix: str,
    region: str | None,
    endpoint_url: str | None,
    dry_run: bool,
    params: tuple[str, ...],
    start_ingest: bool,
    template: Path,
) -> None:
    """Build, upload and deploy the whole pipeline to AWS with CloudFormation."""
    try:
        cfg = DeployConfig(
            stack_name=stack_name,
            bucket=bucket,
            kafka_bootstrap=kafka_bootstrap,
            kafka_topic=kafka_topic,
            prefix=prefix,
            region=region,
            endpoint_url=endpoint_url,
            params=parse_params(params),
            dry_run=dry_run,
            start_ingest=start_ingest,
            template=template,
        )
        session, _ = aws_session(region, endpoint_url)
        outputs = deploy_stack(session, cfg, build=artifacts.build_artifacts)
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    for key, value in sorted(outputs.items()):
        click.echo(f"{key}: {value}")


@click.command()
@click.option("--stack-name", required=True, help="CloudFormation stack to delete.")
@click.option(
    "--delete-data", is_flag=True, help="Also delete the lake (the bucket if the stack made it)."
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting data.")
@_region
@_endpoint
def destroy(
    stack_name: str, delete_data: bool, yes: bool, region: str | None, endpoint_url: str | None
) -> None:
    """Delete the stack; the lake bucket stays unless --delete-data."""
    if delete_data and not yes:
        click.confirm(f"Delete stack {stack_name} AND all its lake data?", abort=True)
    try:
        session, _ = aws_session(region, endpoint_url)
        destroy_stack(
            session,
            DestroyConfig(
                stack_name, delete_data=delete_data, region=region, endpoint_url=endpoint_url
            ),
        )
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
