"""The ``loglake`` command line.

Each sub-command lives in its own module and is imported only when it is run, so
``loglake stack status`` does not pay for importing pyspark.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, Final

import click

#: command name -> "module:attribute" of its click command.
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "jars": ("loglake_tools.jars:jars", "Fetch and locate the JVM jars (Maven)."),
    "stack": ("loglake_tools.stack.cli:stack", "Start, inspect and stop the local stack."),
    "produce": ("loglake_tools.produce:produce", "Write synthetic events to a Kafka topic."),
    "ingest": ("loglake_tools.ingest_cmd:ingest", "Run the streaming ingest job."),
    "etl": ("loglake_tools.etl_cmd:etl", "Run the batch ETL job for some dates."),
    "orchestrate": ("loglake_tools.orchestrate_cmd:orchestrate", "Drive the orchestrator."),
    "build": ("loglake_tools.build:build", "Build the Glue wheels or the Lambda zip."),
    "upload": ("loglake_tools.build:upload", "Upload the Glue artifacts to S3."),
    "deploy": ("loglake_tools.deploy:deploy", "Deploy the pipeline to AWS (CloudFormation)."),
    "destroy": ("loglake_tools.deploy:destroy", "Remove the AWS stack."),
    "demo": ("loglake_tools.demo:demo", "Run the whole pipeline on this machine."),
    "report": ("loglake_tools.report:report", "Write the HTML report of a lake."),
    "bench": ("loglake_tools.bench:bench", "Benchmarks: ingest, latency, etl, scaling."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of every sub-command, imported or not."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the sub-command ``cmd_name`` (None when unknown)."""
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("loglake_tools"):
                return _not_built(cmd_name, entry[1])
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        """List the sub-commands with their one-line help, without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in sorted(COMMANDS)])


def _not_built(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    def missing() -> None:
        raise click.ClickException(f"`loglake {name}` is not available in this version")

    return missing


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def cli(verbose: bool) -> None:
    """loglake: Kafka -> Spark -> Delta lake -> Glue ETL, on one machine or on AWS."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``loglake`` script."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="loglake")
