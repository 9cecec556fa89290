"""The JVM jars: fetch them from Maven Central once, check them, hand out classpaths.

``tools/jvm/pom.xml`` has one module per classpath (``spark``, ``kafka``, ``s3proxy``);
``mvn dependency:copy-dependencies`` copies each module's jars into
``<jars dir>/<module>`` (``$LOGLAKE_JARS_DIR``, default ``~/.cache/loglake/jars``).
After a complete fetch a ``.manifest`` file per module records the jar names, so later
checks need neither Maven nor the network.

Example:
    >>> ensure_jars()  # doctest: +SKIP
    >>> classpath("kafka")  # doctest: +SKIP
    '/home/me/.cache/loglake/jars/kafka/argparse4j-0.7.0.jar:...'
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

log = logging.getLogger(__name__)

ENV_JARS_DIR: Final = "LOGLAKE_JARS_DIR"
ENV_REPO: Final = "LOGLAKE_REPO"
DEFAULT_JARS_DIR: Final = "~/.cache/loglake/jars"
MODULES: Final = ("spark", "kafka", "s3proxy")
MANIFEST_NAME: Final = ".manifest"
_POM_NS: Final = {"m": "http://maven.apache.org/POM/4.0.0"}


class JarsError(click.ClickException):
    """The jars could not be fetched or located; the message says how to fix it."""


@dataclass(frozen=True)
class Artifact:
    """One dependency declared in a module's pom."""

    group_id: str
    artifact_id: str
    version: str

    @property
    def jar_name(self) -> str:
        """File name ``copy-dependencies`` gives this artifact's jar."""
        return f"{self.artifact_id}-{self.version}.jar"


def jars_dir(path: str | Path | None = None) -> Path:
    """The folder with one sub-folder of jars per module: argument, env var, default."""
    chosen = path or os.environ.get(ENV_JARS_DIR) or DEFAULT_JARS_DIR
    return Path(os.path.expanduser(str(chosen))).resolve()


def repo_root() -> Path:
    """The loglake repository (the folder holding ``tools/jvm/pom.xml``).

    Raises:
        JarsError: when neither ``$LOGLAKE_REPO`` nor this file's location leads to it.
    """
    env = os.environ.get(ENV_REPO)
    candidates = [Path(env)] if env else []
    candidates += list(Path(__file__).resolve().parents)
    for folder in candidates:
        if (folder / "tools" / "jvm" / "pom.xml").is_file():
            return folder
    raise JarsError(
        "cannot find tools/jvm/pom.xml; set "
        f"{ENV_REPO} to the loglake repository (the folder that holds tools/jvm)"
    )


def pom_path() -> Path:
    """The aggregator pom, ``tools/jvm/pom.xml``."""
    return repo_root() / "tools" / "jvm" / "pom.xml"


def declared_artifacts(module: str) -> list[Artifact]:
    """The dependencies declared in ``tools/jvm/<module>/pom.xml``."""
    tree = ET.parse(pom_path().parent / module / "pom.xml")
    found: list[Artifact] = []
    for dep in tree.getroot().iterfind("m:dependencies/m:dependency", _POM_NS):
        found.append(
            Artifact(
                group_id=dep.findtext("m:groupId", "", _POM_NS).strip(),
                artifact_id=dep.findtext("m:artifactId", "", _POM_NS).strip(),
                version=dep.findtext("m:version", "", _POM_NS).strip(),
            )
        )
    return found


def missing_jars(module: str, directory: str | Path | None = None) -> list[str]:
    """Jar names of ``module`` that are expected but absent (empty when complete).

    Expected are the pom's declared artifacts plus everything the last complete
    fetch recorded in the module's manifest (transitive dependencies).
    """
    folder = jars_dir(directory) / module
    expected = {a.jar_name for a in declared_artifacts(module)}
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        expected |= {ln.strip() for ln in manifest.read_text().splitlines() if ln.strip()}
    else:
        expected.add(MANIFEST_NAME)
    return sorted(name for name in expected if not (folder / name).is_file())


def fetch_jars(directory: str | Path | None = None, *, quiet: bool = False) -> Path:
    """Run Maven once to copy every module's jars, then record and check them.

    Raises:
        JarsError: Maven is missing or failed, or a declared jar is still absent.
    """
    target = jars_dir(directory)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsError("`mvn` is not on PATH; install Apache Maven 3.8+ and run again")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom_path()),
        "dependency:copy-dependencies",
        f"-Dloglake.jars.dir={target}",
    ]
    log.info("fetching jars into %s", target)
    if quiet:
        result = _run(cmd)
    else:
        from rich.console import Console

        with Console(stderr=True).status(f"mvn: fetching jars into {target} ..."):
            result = _run(cmd)
    if result.returncode != 0:
        raise JarsError(
            f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n"
            + (result.stdout + result.stderr)[-4000:]
        )
    for module in MODULES:
        folder = target / module
        absent = [
            a.jar_name for a in declared_artifacts(module) if not (folder / a.jar_name).is_file()
        ]
        if absent:
            raise JarsError(f"Maven finished but {folder} lacks {', '.join(absent)}")
        names = sorted(p.name for p in folder.glob("*.jar"))
        (folder / MANIFEST_NAME).write_text("\n".join(names) + "\n")
    return target


def ensure_jars(directory: str | Path | None = None, *, quiet: bool = True) -> Path:
    """Fetch the jars unless every expected one is present, and build the accelerator's.

    Returns:
        The jars folder.
    """
    if all(not missing_jars(m, directory) for m in MODULES):
        target = jars_dir(directory)
    else:
        target = fetch_jars(directory, quiet=quiet)
    ensure_accel_jar(directory)
    return target


def ensure_accel_jar(directory: str | Path | None = None, *, force: bool = False) -> Path | None:
    """Build the validator accelerator's jar unless it exists; ``None`` (a warning) if it fails.

    The validator gives the same results without it (only slower), so a failure here never
    stops the caller.
    """
    from loglake_core.errors import ConfigError
    from loglake_core.spark import accel

    target = accel.jar_path(jars_dir(directory))
    if target.is_file() and not force:
        return target
    try:
        return accel.build_jar(jars_dir(directory))
    except (ConfigError, OSError) as exc:
        log.warning("no validator accelerator (ingest validates slower): %s", exc)
        return None


def jar_paths(module: str, directory: str | Path | None = None) -> list[Path]:
    """Every jar of ``module``, sorted.

    Raises:
        JarsError: when the module's folder has no jar.
    """
    if module not in MODULES:
        raise JarsError(f"unknown jars module {module!r}; choose one of {', '.join(MODULES)}")
    found = sorted((jars_dir(directory) / module).glob("*.jar"))
    if not found:
        raise JarsError(
            f"no jars in {jars_dir(directory) / module}; run `loglake jars fetch` "
            f"(or set {ENV_JARS_DIR} to the folder that holds them)"
        )
    return found


def classpath(module: str, directory: str | Path | None = None) -> str:
    """A java classpath (``os.pathsep``-joined) of the jars of ``module``."""
    return os.pathsep.join(str(p) for p in jar_paths(module, directory))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@click.group()
def jars() -> None:
    """Fetch and locate the JVM jars (Maven Central, via mvn)."""


def class_archive_path(directory: str | Path | None = None) -> Path:
    """Where the JVM class archive of local Spark drivers lives (see ``class_archive``)."""
    from loglake_core.spark.session import CLASS_ARCHIVE_NAME

    return jars_dir(directory) / "jvm" / CLASS_ARCHIVE_NAME


def ensure_class_archive(directory: str | Path | None = None) -> Path | None:
    """Build the JVM class archive unless it exists; ``None`` (and a warning) if it fails.

    Local Spark works without the archive, only its start-up is slower, so a failure
    here never stops the caller.
    """
    archive = class_archive_path(directory)
    if archive.is_file():
        return archive
    from loglake_tools.class_archive import ClassArchiveError, build_class_archive

    try:
        seconds = build_class_archive(archive, jars_dir(directory))
    except (ClassArchiveError, OSError, subprocess.SubprocessError) as exc:
        log.warning("no JVM class archive (local Spark starts slower): %s", exc)
        return None
    log.info("JVM class archive built in %.0f s: %s", seconds, archive)
    return archive


@jars.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Jars folder.")
@click.option("--force", is_flag=True, help="Run Maven and rebuild the class archive anyway.")
@click.option(
    "--no-class-archive",
    is_flag=True,
    help="Skip the JVM class archive that shortens local Spark start-up.",
)
def fetch(directory: str | None, force: bool, no_class_archive: bool) -> None:
    """Copy every jar into the jars folder, then build the JVM class archive.

    Both steps are no-ops when their result is already there (unless --force).
    """
    if not force and all(not missing_jars(m, directory) for m in MODULES):
        click.echo(f"all jars present in {jars_dir(directory)}")
    else:
        target = fetch_jars(directory, quiet=False)
        counts = ", ".join(f"{m}: {len(jar_paths(m, directory))}" for m in MODULES)
        click.echo(f"jars ready in {target} ({counts})")
    built = ensure_accel_jar(directory, force=force)
    click.echo(f"validator accelerator: {built or 'not built (see the warning above)'}")
    archive = class_archive_path(directory)
    if no_class_archive or (archive.is_file() and not force):
        if archive.is_file():
            click.echo(f"class archive present: {archive}")
        return
    from rich.console import Console

    from loglake_tools.class_archive import ClassArchiveError, build_class_archive

    try:
        with Console(stderr=True).status("building the JVM class archive (a short Spark run) ..."):
            seconds = build_class_archive(archive, jars_dir(directory))
    except ClassArchiveError as exc:
        raise JarsError(f"{exc}\nlocal Spark still works without it (--no-class-archive)") from exc
    size_mb = archive.stat().st_size / 1e6
    click.echo(f"class archive ready in {seconds:.0f} s: {archive} ({size_mb:.0f} MB)")


@jars.command()
@click.argument("module", required=False, type=click.Choice(MODULES))
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Jars folder.")
def path(module: str | None, directory: str | None) -> None:
    """Print the jars folder, or MODULE's classpath."""
    click.echo(classpath(module, directory) if module else str(jars_dir(directory)))
