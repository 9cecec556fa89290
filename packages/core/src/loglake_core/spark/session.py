"""Build a SparkSession configured for loglake: Delta, Kafka, S3 (s3a) and the jars.

On a cluster that already has a session (AWS Glue, Databricks, EMR) ``get_or_create``
returns that session and only sets what is missing at run time; locally it builds a
``local[*]`` session with the jars that ``loglake jars fetch`` put in the jars folder.

Example:
    >>> spark = build_spark_session("loglake-etl", master="local[2]")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.util
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from loglake_core.errors import ConfigError
from loglake_core.spark import accel

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENV_JARS_DIR: Final = "LOGLAKE_JARS_DIR"
ENV_SPARK_JARS: Final = "LOGLAKE_SPARK_JARS"
ENV_S3_ENDPOINT: Final = "LOGLAKE_S3_ENDPOINT"
ENV_CLASS_ARCHIVE: Final = "LOGLAKE_JVM_CLASS_ARCHIVE"
DEFAULT_JARS_DIR: Final = "~/.cache/loglake/jars"


def environment_key() -> str:
    """8 hex digits naming the pyspark installation (its folder) without importing it.

    Example:
        >>> len(environment_key())
        8
    """
    spec = importlib.util.find_spec("pyspark")
    folder = Path(spec.origin).resolve().parent if spec and spec.origin else Path("none")
    return hashlib.sha256(str(folder).encode()).hexdigest()[:8]


#: Name of the JVM class archive (under ``<jars dir>/jvm``) that ``loglake jars fetch`` builds.
#: The JVM ignores an archive dumped with another classpath (with one warning line, and a
#: start-up without it), so the name changes with everything on a local driver's classpath:
#: the number goes up whenever the way the classpath is built changes, the digest is the
#: accelerator's sources' (its jar's name), and the last part names the Python environment,
#: whose pyspark jars come first. Two checkouts on one machine (a clone CI runs in, say) each
#: get their own archive; with one shared name each used the other's and started without.
CLASS_ARCHIVE_NAME: Final = f"spark-classes-5-{accel.source_digest()}-{environment_key()}.jsa"

DELTA_CONF: Final[Mapping[str, str]] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

#: Spark keeps 100 compiled classes by default, in a cache whose segments evict well before
#: it is full. A run of the ingest job makes about 90 distinct classes (its own queries and
#: Delta's per commit), and with the default 15-20 of them were compiled again in every
#: micro-batch, and their hot methods again by the JVM's JIT. 1,000 keeps them all.
CODEGEN_CACHE_ENTRIES: Final = 1000

LOCAL_CONF: Final[Mapping[str, str]] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # the throughput collector: on two cores G1's collector threads cost the ingest job 20 of
    # 240 CPU-s over a 3 M-event drain, ParallelGC 6 (113 s instead of 131 s). A local
    # driver runs every task, so this is the executors' collector too.
    # FreqInlineSize: the JIT compiler inlines hot methods of up to 100 bytecodes instead of
    # 325, so it compiles less while a run warms up (its compiler threads share the two
    # cores with the tasks): a 3 M-event ingest drain took 59.7 s instead of 63.9-65.6,
    # bare Spark's 5 M drain 49.9-50.8 s instead of 51.0-53.6 (docs/benchmarks.md).
    "spark.driver.extraJavaOptions": (
        "-Duser.timezone=UTC -XX:+UseParallelGC -XX:FreqInlineSize=100"
    ),
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.autoCompact.enabled": "false",
    "spark.hadoop.fs.s3a.path.style.access": "true",
    "spark.sql.codegen.cache.maxEntries": str(CODEGEN_CACHE_ENTRIES),
}


def jars_dir() -> Path:
    """The folder holding one sub-folder of jars per classpath (spark, kafka, s3proxy)."""
    return Path(os.path.expanduser(os.environ.get(ENV_JARS_DIR, DEFAULT_JARS_DIR)))


def class_archive() -> Path | None:
    """The JVM class archive a local Spark driver starts from, or ``None`` (none, or off).

    ``loglake jars fetch`` builds ``<jars dir>/jvm/spark-classes-5-<digest>-<env>.jsa`` (a HotSpot
    application class-data-sharing archive of the classes a Spark and Delta job loads),
    so a local driver maps those classes instead of loading and verifying them at every
    start. ``$LOGLAKE_JVM_CLASS_ARCHIVE`` names another archive, or turns it off with
    ``off``. An archive that no longer matches the JVM or Spark's classpath (after an
    upgrade) is ignored by the JVM with one warning line; ``loglake jars fetch --force``
    rebuilds it. A damaged file is not ignored, which is why the archive is only ever
    installed whole, by rename (``loglake_tools.class_archive``). A JDK 17 driver given
    ``-XX:NativeMemoryTracking`` failed to map the archive and then crashed at start-up;
    set ``$LOGLAKE_JVM_CLASS_ARCHIVE`` to ``off`` for such profiling runs.
    """
    chosen = os.environ.get(ENV_CLASS_ARCHIVE, "").strip()
    if chosen.lower() in {"off", "0", "false", "no"}:
        return None
    path = Path(os.path.expanduser(chosen)) if chosen else jars_dir() / "jvm" / CLASS_ARCHIVE_NAME
    return path if path.is_file() else None


def driver_java_options(base: str, archive: Path | None) -> str:
    """``base`` Java options of a local driver plus the class archive when there is one.

    Example:
        >>> driver_java_options("-Duser.timezone=UTC", Path("/c/spark.jsa"))
        '-Duser.timezone=UTC -XX:SharedArchiveFile=/c/spark.jsa'
        >>> driver_java_options("-Duser.timezone=UTC", None)
        '-Duser.timezone=UTC'
    """
    if archive is None:
        return base
    return f"{base} -XX:SharedArchiveFile={archive}".strip()


def spark_jars() -> list[str]:
    """Jars to add to Spark's classpath: ``$LOGLAKE_SPARK_JARS`` or ``<jars dir>/spark/*.jar``.

    The latter ends with the validator accelerator's jar when it has been built
    (``loglake_core.spark.accel``).

    Raises:
        ConfigError: when no jar is found, with the command that fetches them.
    """
    listed = os.environ.get(ENV_SPARK_JARS)
    if listed:
        return [j for j in listed.split(",") if j]
    found = sorted(glob.glob(str(jars_dir() / "spark" / "*.jar")))
    if not found:
        raise ConfigError(
            f"no Spark jars in {jars_dir() / 'spark'}; run `loglake jars fetch` "
            f"(or set {ENV_JARS_DIR} to the folder that holds them)"
        )
    accelerator = accel.jar_path(jars_dir())
    if accelerator.is_file():
        found.append(str(accelerator))
    return found


def s3a_conf(endpoint: str | None) -> dict[str, str]:
    """Hadoop settings that point ``s3a://`` at an S3 API server (none for AWS itself)."""
    if not endpoint:
        return {}
    return {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": os.environ.get("AWS_REGION", "us-east-1"),
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
    }


def build_spark_session(
    app_name: str,
    *,
    master: str | None = None,
    jars: list[str] | None = None,
    s3_endpoint: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return a SparkSession with Delta, the Kafka connector and s3a configured.

    Args:
        app_name: Spark application name.
        master: Spark master; ``None`` keeps the one given by spark-submit, or ``local[2]``
            when there is none.
        jars: jars to add; ``None`` means ``spark_jars()`` for a local master and none
            when a cluster manager already provides them.
        s3_endpoint: S3 API endpoint for ``s3a://`` paths (``$LOGLAKE_S3_ENDPOINT``).
        conf: extra settings, applied last.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    submitted = _launched_by_spark_submit()
    if master or not submitted:
        master = master or "local[2]"
        builder = builder.master(master)
    settings: dict[str, str] = {**DELTA_CONF, **LOCAL_CONF}
    if jars is None and not submitted:
        jars = spark_jars()
    classpath = jar_settings(jars or [], master, submitted=submitted)
    settings.update(classpath)
    settings.update(local_fs_settings(classpath))
    settings.update(s3a_conf(s3_endpoint or os.environ.get(ENV_S3_ENDPOINT)))
    settings.update(conf or {})
    if not submitted:  # a driver JVM this process starts: give it the class archive
        key = "spark.driver.extraJavaOptions"
        settings[key] = driver_java_options(settings.get(key, ""), class_archive())
    for key, value in settings.items():
        builder = builder.config(key, value)
    if submitted:
        return builder.getOrCreate()
    with _driver_env(driver_env()):
        return builder.getOrCreate()


#: Environment of a driver JVM this process starts (a value the user set wins). glibc gives
#: every thread that allocates its own malloc arena; RocksDB, Netty and the task threads
#: left 21 arenas holding 0.77 GB in a 20 M-event ingest. Two arenas keep that native
#: memory flatter (docs/benchmarks.md); jemalloc, where installed, does better still.
DRIVER_ENV: Final[Mapping[str, str]] = {"MALLOC_ARENA_MAX": "2"}

#: ``$LOGLAKE_JEMALLOC``: the jemalloc library a local driver JVM is started with (a path),
#: or ``off``. Unset: the system's ``libjemalloc`` when there is one (``ldconfig``).
ENV_JEMALLOC: Final = "LOGLAKE_JEMALLOC"


def jemalloc_library() -> str | None:
    """The jemalloc shared library a local driver JVM preloads, or ``None``.

    A 20 M-event ingest backfill with glibc's malloc (two arenas) grew its driver's memory
    outside the Java heap by 192 MB between 5 M and 20 M events, while RocksDB, which
    bounds its own cache and memtables, churned blocks of every size through it. With
    jemalloc the same drain grew it by 48-65 MB, at the same speed (docs/benchmarks.md).
    Only Linux preloads libraries this way; elsewhere, and when no library is found, the
    driver keeps the system's malloc.

    Raises:
        ConfigError: ``$LOGLAKE_JEMALLOC`` names a file that does not exist.

    Example:
        >>> jemalloc_library()  # doctest: +SKIP
        'libjemalloc.so.2'
    """
    import sys

    chosen = os.environ.get(ENV_JEMALLOC, "").strip()
    if chosen.lower() in {"off", "0", "false", "no"} or not sys.platform.startswith("linux"):
        return None
    if chosen:
        if not Path(chosen).is_file():
            raise ConfigError(
                f"${ENV_JEMALLOC} is {chosen!r}, which is not a file: name the jemalloc "
                f"library (libjemalloc.so.2) or set it to 'off'"
            )
        return chosen
    import ctypes.util

    return ctypes.util.find_library("jemalloc")


def driver_env() -> dict[str, str]:
    """The environment a local driver JVM starts with (``DRIVER_ENV`` and jemalloc).

    Example:
        >>> driver_env()["MALLOC_ARENA_MAX"]
        '2'
    """
    env = dict(DRIVER_ENV)
    library = jemalloc_library()
    if library:
        env["LD_PRELOAD"] = library
    return env


@contextlib.contextmanager
def _driver_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (unless already set) while the driver JVM starts."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def jar_settings(jars: list[str], master: str | None, *, submitted: bool) -> dict[str, str]:
    """The setting that puts ``jars`` on Spark's classpath.

    A driver this process launches with a ``local``/``local[N]`` master runs every task
    itself, so the jars go on its JVM's classpath at launch
    (``spark.driver.extraClassPath``). As ``spark.jars`` every start would copy them
    (660 MB with the AWS SDK bundle) into a temporary folder that a killed driver leaves
    behind, and their classes could not come from the class archive; a local ETL's
    start-up went from 9-11 s to about 4 s. Executors elsewhere get them through
    ``spark.jars``.

    Example:
        >>> jar_settings(["/j/a.jar", "/j/b.jar"], "local[2]", submitted=False)
        {'spark.driver.extraClassPath': '/j/a.jar:/j/b.jar'}
        >>> jar_settings(["/j/a.jar"], "spark://h:7077", submitted=False)
        {'spark.jars': '/j/a.jar'}
    """
    if not jars:
        return {}
    in_driver = master is not None and (master == "local" or master.startswith("local["))
    if in_driver and not submitted:
        return {"spark.driver.extraClassPath": os.pathsep.join(jars)}
    return {"spark.jars": ",".join(jars)}


def local_fs_settings(classpath: Mapping[str, str]) -> dict[str, str]:
    """The project's local file system for ``file://`` paths, when its jar is in the driver.

    Without Hadoop's native library (``libhadoop``, which the project does not install),
    Hadoop's local file system sets each new file's permission by running ``chmod`` and tells
    links from files by running ``readlink``, one child process each: about 200 per
    micro-batch of the ingest job (checkpoint files, Delta commits and checksums, Parquet
    files). ``NioLocalFileSystem``
    (in the accelerator's jar) does both through ``java.nio`` and leaves the rest, renames
    included, to Hadoop; a 3 M-event drain started 7 processes instead of 1,458 and ran
    4-5 % faster (docs/benchmarks.md). Only a driver that has the jar on its own classpath
    gets it; ``conf`` can set ``spark.hadoop.fs.file.impl`` back.

    Args:
        classpath: what :func:`jar_settings` gave for the session.

    Example:
        >>> local_fs_settings({"spark.jars": "/j/a.jar"})
        {}
    """
    accelerator = accel.jar_path(jars_dir()).name
    on_driver = classpath.get("spark.driver.extraClassPath", "").split(os.pathsep)
    if not any(Path(j).name == accelerator for j in on_driver):
        return {}
    return {
        "spark.hadoop.fs.file.impl": accel.LOCAL_FS_CLASS,
        "spark.hadoop.fs.AbstractFileSystem.file.impl": f"{accel.LOCAL_FS_CLASS}$Fs",
    }


def _launched_by_spark_submit() -> bool:
    """Whether spark-submit (or a cluster) started this Python process and owns the JVM."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
