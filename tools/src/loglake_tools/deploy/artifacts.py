"""The deployment's artifacts: build, content hash, upload, and the stack parameters."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from loglake_tools.deploy.errors import DeployError

if TYPE_CHECKING:
    from loglake_tools.deploy.config import DeployConfig

LAMBDA_ZIP_NAME: Final = "orchestrator-lambda.zip"
INGEST_SCRIPT_NAME: Final = "ingest_entry.py"
ETL_SCRIPT_NAME: Final = "entrypoint.py"
#: Options of ``loglake_ingest.cli`` that the stack passes to the Glue streaming job.
INGEST_OPTIONS: Final = (
    "--topic",
    "--lake",
    "--bootstrap",
    "--checkpoint",
    "--trigger-seconds",
    "--control-table",
    "--stream",
    "--job",
    "--starting-offsets",
)
#: The Glue script of the ingest job. Glue hands a script its own arguments too (--JOB_ID,
#: --TempDir, --enable-metrics, ...), which the ingest CLI would reject; this keeps only the
#: ingest options and runs the same CLI as ``spark-submit spark_entry.py``.
INGEST_GLUE_SCRIPT: Final = f"""\
\"\"\"Glue streaming entry of loglake ingest (written by loglake deploy).\"\"\"

import sys

from loglake_ingest.cli import main

KEEP = {INGEST_OPTIONS!r}


def ingest_args(argv):
    \"\"\"The ingest options among Glue's ``--key value`` / ``--key=value`` arguments.\"\"\"
    out, i = [], 0
    while i < len(argv):
        name, eq, _ = argv[i].partition("=")
        has_value = not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--")
        if name in KEEP:
            out.extend(argv[i : i + 2] if has_value else argv[i : i + 1])
        i += 2 if has_value else 1
    return out


if __name__ == "__main__":
    sys.exit(main(["run", *ingest_args(sys.argv[1:])]))
"""
#: Extra PyPI requirement of the ingest job on Glue (the control-table client).
INGEST_EXTRA_MODULES: Final = ("dynamodb-json>=1.4.2",)
#: Template parameter of the ingest job's ``--extra-jars``: the validator's accelerator jar
#: (when it could be built) and any jars given with ``--param IngestExtraJars=...``.
INGEST_EXTRA_JARS_PARAM: Final = "IngestExtraJars"


@dataclass(frozen=True)
class Artifacts:
    """Built files: the Glue files (wheels and scripts) and the Lambda zip."""

    glue_files: tuple[Path, ...]
    lambda_zip: Path

    @property
    def version(self) -> str:
        """Content hash of every file (12 hex digits): the S3 folder of this build."""
        digest = hashlib.sha256()
        for path in sorted((*self.glue_files, self.lambda_zip), key=lambda p: p.name):
            digest.update(path.name.encode())
            digest.update(content_digest(path))
        return digest.hexdigest()[:12]


def content_digest(path: Path) -> bytes:
    """SHA-256 of a file's content; for a zip or wheel, of its members' names and bytes.

    Zip timestamps differ between two builds of the same code; hashing the members keeps
    the version (and so the stack) unchanged when the code is.
    """
    if not zipfile.is_zipfile(path):
        return hashlib.sha256(path.read_bytes()).digest()
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(zf.read(name)).digest())
    return digest.digest()


def build_artifacts(out_dir: Path) -> Artifacts:
    """Build the Glue wheels and scripts and the Lambda zip into ``out_dir``.

    Uses ``loglake_tools.build.build_glue_artifacts`` and
    ``loglake_tools.lambda_zip.build_lambda_zip``; adds the ingest wheel (if the Glue build did
    not), ``ingest_entry.py``, the Glue script of the streaming job (``INGEST_GLUE_SCRIPT``),
    and the validator's accelerator jar when it can be built (without a JDK the ingest job
    validates with the same results, only slower; a warning says so).
    """
    from loglake_tools.build import build_glue_artifacts, build_wheel, repo_root
    from loglake_tools.jars import ensure_accel_jar
    from loglake_tools.lambda_zip import build_lambda_zip

    out_dir.mkdir(parents=True, exist_ok=True)
    glue = [Path(p) for p in build_glue_artifacts(out_dir / "glue")]
    if not any(p.name.startswith("loglake_ingest-") for p in glue):
        glue.append(build_wheel(repo_root() / "packages" / "ingest", out_dir / "glue"))
    if not any(p.name == ETL_SCRIPT_NAME for p in glue):
        raise DeployError(f"the Glue build made no {ETL_SCRIPT_NAME} (the ETL job's script)")
    script = out_dir / "glue" / INGEST_SCRIPT_NAME
    script.write_text(INGEST_GLUE_SCRIPT, encoding="utf-8")
    glue.append(script)
    accel_jar = ensure_accel_jar()
    if accel_jar is not None:
        glue.append(Path(shutil.copy2(accel_jar, out_dir / "glue" / accel_jar.name)))
    lambda_zip = Path(build_lambda_zip(out_dir / LAMBDA_ZIP_NAME))
    return Artifacts(glue_files=tuple(glue), lambda_zip=lambda_zip)


def upload_artifacts(s3: Any, cfg: DeployConfig, artifacts: Artifacts) -> dict[str, str]:
    """Upload the build under ``<prefix>/_artifacts/<version>/``; return the stack parameters."""
    base = f"{cfg.prefix}/_artifacts/{artifacts.version}"
    keys = {path: f"{base}/glue/{path.name}" for path in artifacts.glue_files}
    keys[artifacts.lambda_zip] = f"{base}/lambda/{LAMBDA_ZIP_NAME}"
    if not cfg.dry_run:
        for path, key in keys.items():
            s3.upload_file(str(path), cfg.bucket, key)
        click.echo(f"uploaded {len(keys)} artifacts to s3://{cfg.bucket}/{base}/")
    return artifact_parameters(cfg, artifacts)


def artifact_parameters(cfg: DeployConfig, artifacts: Artifacts) -> dict[str, str]:
    """The template parameters that point at one build.

    ``IngestExtraJars`` lists the build's jars first, then those the user gave with
    ``--param IngestExtraJars=...``.
    """
    base = f"{cfg.prefix}/_artifacts/{artifacts.version}"
    wheels = {p.name: f"s3://{cfg.bucket}/{base}/glue/{p.name}" for p in artifacts.glue_files}
    user_jars = [j.strip() for j in cfg.params.get(INGEST_EXTRA_JARS_PARAM, "").split(",")]
    jars = [uri for name, uri in sorted(wheels.items()) if name.endswith(".jar")]

    def pick(*packages: str) -> list[str]:
        return [
            uri
            for name, uri in sorted(wheels.items())
            if name.endswith(".whl") and name.startswith(packages)
        ]

    return {
        "ArtifactsPrefix": base,
        "EtlPythonModules": ",".join(pick("loglake_core-", "loglake_glue_etl-")),
        "IngestPythonModules": ",".join(
            [*pick("loglake_core-", "loglake_ingest-"), *INGEST_EXTRA_MODULES]
        ),
        INGEST_EXTRA_JARS_PARAM: ",".join([*jars, *(j for j in user_jars if j and j not in jars)]),
    }
