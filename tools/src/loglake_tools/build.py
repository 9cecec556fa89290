"""``loglake build glue|lambda`` and ``loglake upload glue``: the job's artifacts.

The Glue job ships as two pure-Python wheels (``loglake_core``, ``loglake_glue_etl``) and one
entry script (``entrypoint.py``). ``upload glue`` puts them under
``s3://<bucket>/<prefix>/_artifacts/glue/<version>/`` and prints the Glue job definition to
use (GlueVersion 6.0, the script location, ``--additional-python-modules`` with the wheel
URIs, ``--datalake-formats delta`` and the Delta ``--conf``), or the Jupyter magics of a Glue
interactive session (``--print-magics``).

Example:
    $ loglake build glue
    $ loglake upload glue --bucket my-lake --prefix lake --role arn:aws:iam::1:role/glue
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import click

from loglake_core.errors import LoglakeError

DEFAULT_GLUE_DIST: Final = Path("dist/glue")
DEFAULT_LAMBDA_ZIP: Final = Path("dist/orchestrator-lambda.zip")
ENTRY_SCRIPT: Final = "entrypoint.py"
GLUE_VERSION: Final = "6.0"
DEFAULT_JOB_NAME: Final = "loglake-etl"
#: The Delta settings Glue needs besides ``--datalake-formats delta``: one ``--conf`` value.
DELTA_SPARK_CONF: Final = (
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
    "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
    "--conf spark.sql.session.timeZone=UTC"
)
#: Packages built into wheels for the Glue job, in install order.
GLUE_PACKAGES: Final = ("core", "glue_etl")


class BuildError(LoglakeError):
    """An artifact could not be built or uploaded; the message says which and why."""


def repo_root() -> Path:
    """The monorepo folder (the one holding ``packages/``).

    Raises:
        BuildError: when loglake_tools does not run from a source checkout.
    """
    root = Path(__file__).resolve().parents[3]
    if not (root / "packages" / "glue_etl" / "pyproject.toml").is_file():
        raise BuildError(
            f"no source checkout around {Path(__file__).resolve()}; build from the loglake repo"
        )
    return root


def build_wheel(project: Path, out_dir: Path) -> Path:
    """Build the wheel of one workspace member into ``out_dir`` (uv if present, else build).

    Raises:
        BuildError: with the builder's error output.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    cmd = (
        [uv, "build", "--wheel", "--out-dir", str(out_dir), str(project)]
        if uv
        else [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir), str(project)]
    )
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"building the wheel of {project.name} failed:\n{done.stderr[-2000:]}")
    wheels = sorted(out_dir.glob(f"loglake_{project.name}-*.whl"))
    if not wheels:
        raise BuildError(f"building {project.name} produced no wheel in {out_dir}")
    return wheels[-1]


def build_glue_artifacts(out_dir: Path | str = DEFAULT_GLUE_DIST) -> list[Path]:
    """Build the core and glue_etl wheels and copy the entry script into ``out_dir``.

    Older wheels of these packages in ``out_dir`` are removed first.

    Returns:
        ``[core wheel, glue_etl wheel, entrypoint.py]``.

    Example:
        >>> [p.name for p in build_glue_artifacts("dist/glue")]  # doctest: +SKIP
        ['loglake_core-0.1.0-py3-none-any.whl', 'loglake_glue_etl-0.1.0-py3-none-any.whl',
         'entrypoint.py']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = repo_root()
    built: list[Path] = []
    for name in GLUE_PACKAGES:
        for old in out.glob(f"loglake_{name}-*.whl"):
            old.unlink()
        built.append(build_wheel(root / "packages" / name, out))
    script = out / ENTRY_SCRIPT
    shutil.copyfile(
        root / "packages" / "glue_etl" / "src" / "loglake_glue_etl" / ENTRY_SCRIPT, script
    )
    built.append(script)
    return built


def artifacts_prefix(prefix: str, version: str) -> str:
    """Key prefix of one version's Glue artifacts: ``<prefix>/_artifacts/glue/<version>``."""
    parts = [p for p in (prefix.strip("/"), "_artifacts", "glue", version) if p]
    return "/".join(parts)


def glue_job_definition(
    *,
    bucket: str,
    prefix: str,
    version: str,
    files: list[Path],
    lake: str | None = None,
    role: str = "arn:aws:iam::123456789012:role/loglake-glue",
    job_name: str = DEFAULT_JOB_NAME,
) -> dict[str, Any]:
    """The ``glue.create_job`` arguments of the job built from ``files``.

    ``--lake`` defaults to ``s3://<bucket>/<prefix>``; the orchestrator passes ``--dates``
    per run. ``MaxConcurrentRuns`` is 1: one run per job at a time.
    """
    base = f"s3://{bucket}/{artifacts_prefix(prefix, version)}"
    wheels = [f"{base}/{p.name}" for p in files if p.suffix == ".whl"]
    lake_uri = lake or f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
    return {
        "Name": job_name,
        "Role": role,
        "GlueVersion": GLUE_VERSION,
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": f"{base}/{ENTRY_SCRIPT}",
            "PythonVersion": "3",
        },
        "DefaultArguments": {
            "--job-language": "python",
            "--datalake-formats": "delta",
            "--conf": DELTA_SPARK_CONF,
            "--additional-python-modules": ",".join(wheels),
            "--extra-py-files": ",".join(wheels),
            "--enable-metrics": "true",
            "--lake": lake_uri,
        },
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "MaxRetries": 0,
        "Timeout": 60,
        "WorkerType": "G.1X",
        "NumberOfWorkers": 2,
    }


def session_magics(definition: dict[str, Any], *, idle_timeout: int = 30) -> str:
    """Jupyter magics that configure a Glue 6.0 interactive session like the job.

    Example:
        >>> print(session_magics(glue_job_definition(bucket="b", prefix="", version="1",
        ...     files=[])).splitlines()[0])
        %glue_version 6.0
    """
    args = definition["DefaultArguments"]
    configure = {"--datalake-formats": "delta", "--conf": args["--conf"]}
    return "\n".join(
        [
            f"%glue_version {definition['GlueVersion']}",
            f"%idle_timeout {idle_timeout}",
            f"%worker_type {definition['WorkerType']}",
            f"%number_of_workers {definition['NumberOfWorkers']}",
            f"%additional_python_modules {args['--additional-python-modules']}",
            "",
            "%%configure",
            json.dumps(configure, indent=2),
        ]
    )


def upload_glue_artifacts(
    files: list[Path],
    *,
    bucket: str,
    prefix: str = "",
    version: str | None = None,
    s3_client: Any | None = None,
    endpoint_url: str | None = None,
) -> list[str]:
    """Upload ``files`` to ``s3://<bucket>/<prefix>/_artifacts/glue/<version>/``.

    Args:
        files: what ``build_glue_artifacts`` returned.
        bucket: target bucket (must exist).
        prefix: lake prefix in the bucket.
        version: artifact version (default: the glue_etl package version).
        s3_client: a boto3 S3 client; default one built for ``endpoint_url``.
        endpoint_url: S3 API endpoint (local stack, moto).

    Returns:
        The uploaded ``s3://`` URIs.

    Raises:
        BuildError: naming the bucket when it is missing or refuses the upload.
    """
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3", endpoint_url=endpoint_url)
    key_prefix = artifacts_prefix(prefix, version or _package_version())
    uris: list[str] = []
    for path in files:
        key = f"{key_prefix}/{path.name}"
        try:
            s3_client.upload_file(str(path), bucket, key)
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise BuildError(
                f"uploading {path.name} to s3://{bucket}/{key} failed: {exc}; check that the "
                "bucket exists and the credentials may write to it"
            ) from exc
        uris.append(f"s3://{bucket}/{key}")
    return uris


def _built_files(dist: Path) -> list[Path]:
    """The artifacts already in ``dist`` (core wheel, glue_etl wheel, entry script).

    Raises:
        BuildError: when one is missing, with the command that builds them.
    """
    found: list[Path] = []
    for pattern in (*(f"loglake_{name}-*.whl" for name in GLUE_PACKAGES), ENTRY_SCRIPT):
        matches = sorted(dist.glob(pattern))
        if not matches:
            raise BuildError(f"no {pattern} in {dist}; run `loglake build glue --out {dist}`")
        found.append(matches[-1])
    return found


def _package_version() -> str:
    from loglake_glue_etl import __version__

    return __version__


@click.group()
def build() -> None:
    """Build the Glue wheels or the Lambda zip."""


@build.command("glue")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_GLUE_DIST,
    show_default=True,
    help="Folder for the wheels and the entry script.",
)
def build_glue(out_dir: Path) -> None:
    """Build the core and glue_etl wheels and the Glue entry script."""
    try:
        for path in build_glue_artifacts(out_dir):
            click.echo(str(path))
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc


@build.command("lambda")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_LAMBDA_ZIP,
    show_default=True,
    help="Path of the zip.",
)
def build_lambda(out: Path) -> None:
    """Build the orchestrator's Lambda zip (no Spark inside)."""
    try:
        from loglake_tools.lambda_zip import build_lambda_zip
    except ImportError as exc:
        raise click.ClickException(
            f"the Lambda zip builder is not available in this version ({exc})"
        ) from exc
    try:
        click.echo(str(build_lambda_zip(out)))
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def upload() -> None:
    """Upload built artifacts to S3."""


@upload.command("glue")
@click.option("--bucket", required=True, help="Bucket of the lake.")
@click.option("--prefix", default="", help="Prefix of the lake in the bucket.")
@click.option("--endpoint-url", default=None, help="S3 API endpoint (local stack, moto).")
@click.option("--version", "version", default=None, help="Artifact version [package version].")
@click.option(
    "--dist",
    type=click.Path(path_type=Path),
    default=DEFAULT_GLUE_DIST,
    show_default=True,
    help="Build folder.",
)
@click.option(
    "--role",
    default="arn:aws:iam::123456789012:role/loglake-glue",
    show_default=True,
    help="IAM role of the Glue job.",
)
@click.option("--job-name", default=DEFAULT_JOB_NAME, show_default=True)
@click.option("--lake", default=None, help="Lake URI the job reads [s3://bucket/prefix].")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the job definition as JSON to this file.",
)
@click.option("--no-build", is_flag=True, help="Upload what --dist holds; do not build.")
@click.option(
    "--print-magics",
    is_flag=True,
    help="Print the Glue interactive-session magics instead of the job definition.",
)
def upload_glue(
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    version: str | None,
    dist: Path,
    role: str,
    job_name: str,
    lake: str | None,
    output: Path | None,
    no_build: bool,
    print_magics: bool,
) -> None:
    """Build, upload the Glue artifacts and print the job definition (JSON)."""
    try:
        files = _built_files(dist) if no_build else build_glue_artifacts(dist)
        chosen = version or _package_version()
        uris = upload_glue_artifacts(
            files, bucket=bucket, prefix=prefix, version=chosen, endpoint_url=endpoint_url
        )
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"uploaded {len(uris)} files to s3://{bucket}/{artifacts_prefix(prefix, chosen)}/", err=True
    )
    definition = glue_job_definition(
        bucket=bucket,
        prefix=prefix,
        version=chosen,
        files=files,
        lake=lake,
        role=role,
        job_name=job_name,
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(definition, indent=2) + "\n", encoding="utf-8")
    click.echo(session_magics(definition) if print_magics else json.dumps(definition, indent=2))
