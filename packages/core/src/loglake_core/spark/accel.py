"""The JVM accelerator of the Spark validator: the common, valid event in one pass.

``jvm/AcceptFlatEvent.java`` reads a message's bytes once and returns the typed event
fields, the normalised page and ``_rescued`` when the message is a flat, strict JSON object
that passes every rule, and null otherwise. Unknown fields are accepted when they are plain
(a printable ASCII key and string value without escapes), the kind a producer adds ahead of
the contract; any other unknown field goes to the Spark rules. It never rejects: a null row goes
through the Spark expression validator (``loglake_core.spark.rules``), which decides and
words every rejection. Its rules are not written in Java: :func:`contract_json` hands it
``EVENT_FIELDS``, the validator settings and the page patterns, so the contract stays
defined once.

The jar is built from the sources shipped in this package (``jvm/*.java``, ``javac`` against
pyspark's own jars) by ``loglake jars fetch``, named after the sources' digest so that a changed
source never meets an old jar. A local session puts it on the driver's classpath; on a cluster,
pass it with ``--jars``. Without it the validator gives the same results, only slower. The same
jar carries ``jvm/DeclinedRules.java``, which runs the Spark rules for the rows the
accelerator declines (``loglake_core.spark.rules``), the local driver's file system
(``jvm/NioLocalFileSystem.java``, ``loglake_core.spark.session``) and the ingest de-dup's
state store provider (``jvm/FilteredRocksDBStateStoreProvider.java``,
``loglake_ingest.job.choose_state_provider``).

Example:
    >>> name = register(spark, contract_json(DEFAULT_VALIDATION_CONFIG, 4096))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loglake_core import pages
from loglake_core.errors import ConfigError
from loglake_core.schema import EVENT_FIELDS
from loglake_core.spark.pages import java_full_match
from loglake_core.timeparse import MICROS_PER_SECOND
from loglake_core.validate import MIN_EVENT_MICROS, ValidationConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

logger = logging.getLogger(__name__)

CLASS_NAME: Final = "dev.loglake.accel.AcceptFlatEvent"
#: The Java sources' folder, a package resource (also inside a zipped wheel given to --py-files).
SOURCES: Final = resources.files("loglake_core.spark").joinpath("jvm")
#: The local file system without a child process per file (``loglake_core.spark.session``).
LOCAL_FS_CLASS: Final = "dev.loglake.fs.NioLocalFileSystem"
#: Sub-folder of the jars folder that holds the accelerator's jar.
JAR_FOLDER: Final = "loglake"
#: Spark applications whose JVM lacks the class (said once, then not tried again).
_MISSING: set[str] = set()


def _sources() -> list[Any]:
    """The ``.java`` resources under ``jvm/``, by name (none when the folder is absent)."""
    try:
        found = [s for s in SOURCES.iterdir() if s.name.endswith(".java")]
    except OSError:
        return []
    return sorted(found, key=lambda s: s.name)


def source_digest() -> str:
    """First 12 hex digits of the SHA-256 of the Java sources (``none`` when there are none)."""
    sources = _sources()
    if not sources:
        return "none"
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def jar_path(jars_dir: Path) -> Path:
    """Where the jar of the current source lives under ``jars_dir``."""
    return jars_dir / JAR_FOLDER / f"loglake-accel-{source_digest()}.jar"


def build_jar(jars_dir: Path) -> Path:
    """Compile the sources against pyspark's jars into ``jar_path(jars_dir)`` (atomic).

    Older jars of other sources in the folder are removed.

    Raises:
        ConfigError: no ``javac`` (a JDK 17 is needed) or the compiler failed.
    """
    import pyspark

    target = jar_path(jars_dir)
    javac = shutil.which("javac")
    if javac is None:
        raise ConfigError(
            "`javac` is not on PATH; install a JDK 17 to build the validator's accelerator "
            "(the validator works without it, slower)"
        )
    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loglake-accel-") as tmp:
        out, src = Path(tmp) / "classes", Path(tmp) / "src"
        src.mkdir()
        files = []
        for source in _sources():  # copied out: the resources may sit inside a zip
            files.append(str(src / source.name))
            (src / source.name).write_bytes(source.read_bytes())
        if not files:
            raise ConfigError(f"no Java sources in {SOURCES}; reinstall loglake-core")
        cmd = [javac, "--release", "17", "-nowarn", "-cp", classpath, "-d", str(out), *files]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-3000:]
            names = ", ".join(Path(f).name for f in files)
            raise ConfigError(f"javac failed on {names}:\n{output}")
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for path in sorted(out.rglob("*.class")):
                jar.write(path, path.relative_to(out).as_posix())
        os.replace(partial, target)
    for old in target.parent.glob("loglake-accel-*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def contract_json(config: ValidationConfig, max_bytes: int) -> str:
    """The contract as the Java class reads it: ``EVENT_FIELDS`` and the settings."""
    fields: list[dict[str, Any]] = []
    for f in EVENT_FIELDS:
        fields.append(
            {
                "name": f.name,
                "type": f.type,
                "required": f.required,
                "required_for": sorted(f.required_for),
                "max_length": f.max_length,
                "minimum": f.minimum,
                "maximum": f.maximum,
                "exclusive_maximum": f.exclusive_maximum,
                "choices": list(f.choices) if f.choices is not None else None,
                "pattern": java_full_match(f.pattern) if f.pattern is not None else None,
            }
        )
    return json.dumps(
        {
            "fields": fields,
            "max_bytes": min(max_bytes, config.max_message_bytes),
            "naive_as_utc": config.naive_timestamps_as_utc,
            "min_event_micros": MIN_EVENT_MICROS,
            "max_future_skew_micros": config.max_future_skew_seconds * MICROS_PER_SECOND,
            "pages": {
                "query_fragment": pages.QUERY_FRAGMENT_PATTERN,
                "trim_chars": pages.TRIM_CHARS,
                "authority": pages.AUTHORITY_PATTERN,
                "id_segment": pages.ID_SEGMENT_PATTERN,
                "placeholder": pages.ID_PLACEHOLDER,
            },
        },
        sort_keys=True,
    )


def result_schema() -> StructType:
    """What the Java class returns: the event fields, page, _rescued.

    ``event_time`` in µs; a string field as its UTF-8 bytes (checked well-formed), which
    the validator casts to a string without decoding or encoding it again.
    """
    from pyspark.sql.types import BinaryType, LongType, StringType, StructField, StructType

    from loglake_core.spark.schema import spark_type

    special = {"timestamp": LongType(), "string": BinaryType()}
    return StructType(
        [
            *(StructField(f.name, special.get(f.type) or spark_type(f.type)) for f in EVENT_FIELDS),
            StructField("page", StringType()),
            StructField("_rescued", StringType()),
        ]
    )


def register(spark: SparkSession, contract: str) -> str | None:
    """Register the accelerator for ``contract``; its SQL function name, or ``None``.

    ``None`` when the class is not on the JVM's classpath (the validator then runs
    without it; said once per Spark application). Registered once per session and contract.
    """
    name = "loglake_accept_" + hashlib.sha256(contract.encode()).hexdigest()[:12]
    app = spark.sparkContext.applicationId
    if app in _MISSING:
        return None
    from py4j.protocol import Py4JError

    jvm: Any = spark.sparkContext._jvm
    jsession: Any = spark._jsparkSession
    if jsession.catalog().functionExists(name):
        return name
    try:
        udf = jvm.dev.loglake.accel.AcceptFlatEvent(contract)
        jtype = jsession.parseDataType(result_schema().json())
        jsession.udf().register(name, udf, jtype)
    except (Py4JError, TypeError) as exc:
        logger.warning(
            "the validator's JVM accelerator (%s) is not on Spark's classpath; validating "
            "with Spark expressions only, which is slower (run `loglake jars fetch`, or pass "
            "its jar with --jars): %s",
            CLASS_NAME,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        _MISSING.add(app)
        return None
    return name
