"""The orchestrator's Lambda deployment package: ``dist/orchestrator-lambda.zip``.

The zip holds ``loglake_core`` (without its Spark helpers), ``loglake_orchestrator`` and the
one third-party library they need that Lambda's Python runtime lacks, ``dynamodb-json``,
with its pure-Python dependencies ``simplejson`` and ``six`` (their C speed-ups are left
out: they would be built for this machine's Python, not Lambda's, and simplejson falls
back to pure Python). boto3 is not packed: every Lambda Python runtime ships it.
No pyspark, no py4j, no tests, no bytecode. Entries are sorted with fixed timestamps, so
the same sources give the same bytes.

Example:
    >>> build_lambda_zip(Path("dist/orchestrator-lambda.zip"))
    PosixPath('dist/orchestrator-lambda.zip')
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

#: Our packages, copied from their source folders (editable installs have no file list).
OWN_PACKAGES: Final = ("loglake_core", "loglake_orchestrator")
#: Parts of our packages that never run in Lambda.
OWN_EXCLUDED: Final = ("loglake_core/spark/",)
#: Third-party distributions and the top-level modules of theirs to pack.
THIRD_PARTY: Final = {
    "dynamodb-json": ("dynamodb_json",),
    "simplejson": ("simplejson",),
    "six": ("six.py",),
}
HANDLER: Final = "loglake_orchestrator.handler.handler"
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
_SKIP_SUFFIXES: Final = (".pyc", ".pyo", ".so", ".pyd", ".c", ".h")
_LICENSE_NAMES: Final = ("LICENSE", "LICENCE", "COPYING", "NOTICE")


class LambdaZipError(RuntimeError):
    """The zip cannot be built (a package is missing from this environment)."""


def _wanted(relative: str) -> bool:
    parts = relative.split("/")
    if "__pycache__" in parts or any(p in ("tests", "test") for p in parts[:-1]):
        return False
    return not relative.endswith(_SKIP_SUFFIXES)


def _own_files(package: str) -> Iterator[tuple[str, Path]]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LambdaZipError(f"package {package} is not installed; run inside `hatch run`")
    root = Path(next(iter(spec.submodule_search_locations)))
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = f"{package}/{path.relative_to(root).as_posix()}"
        if _wanted(relative) and not relative.startswith(OWN_EXCLUDED):
            yield relative, path


def _third_party_files(dist_name: str, tops: tuple[str, ...]) -> Iterator[tuple[str, Path]]:
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise LambdaZipError(
            f"{dist_name} is not installed; it is a dependency of loglake-orchestrator"
        ) from None
    for file in sorted(dist.files or [], key=str):
        relative = file.as_posix()
        top = relative.split("/", 1)[0]
        is_license = ".dist-info/" in relative and Path(relative).name.upper().startswith(
            _LICENSE_NAMES
        )
        if (top in tops or relative in tops or is_license) and _wanted(relative):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                yield relative, path


def lambda_files() -> list[tuple[str, Path]]:
    """Every (name in the zip, source file) pair, sorted by name."""
    files: dict[str, Path] = {}
    for package in OWN_PACKAGES:
        files.update(_own_files(package))
    for dist_name, tops in THIRD_PARTY.items():
        files.update(_third_party_files(dist_name, tops))
    return sorted(files.items())


def build_lambda_zip(out: Path) -> Path:
    """Write the Lambda zip to ``out`` (a ``.zip`` path, or a folder to put it in).

    Raises:
        LambdaZipError: a package to pack is not installed.
    """
    out = Path(out)
    if out.suffix != ".zip":
        out = out / "orchestrator-lambda.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    files = lambda_files()
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    logger.info("wrote %s: %d files, %d bytes", out, len(files), out.stat().st_size)
    return out
