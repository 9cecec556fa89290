"""Build the JVM class archive that local Spark drivers start from (``loglake jars fetch``).

A HotSpot dynamic class-data-sharing archive holds the classes a JVM loaded, already
parsed and verified. This module runs a small Spark and Delta workload (write, read with
a partition filter, a window, aggregates, a cache) in a driver started with
``-XX:ArchiveClassesAtExit``; the JVM writes the archive when it exits. The archive is
written to a temporary name and renamed only after the JVM has exited cleanly, so a
half-written archive is never used. ``loglake_core.spark.session`` then adds
``-XX:SharedArchiveFile`` to every local driver (about 3 to 5 s less start-up on a
2-core machine; see docs/benchmarks.md).

Example:
    >>> build_class_archive(Path("/cache/jars/jvm/spark-classes-4-d-e.jsa"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds the training workload may take before it counts as failed.
TRAINING_TIMEOUT_S = 600
#: Archives of the same sources kept for other Python environments (the newest first).
KEEP_OTHER_ENVIRONMENTS = 2


class ClassArchiveError(RuntimeError):
    """The archive could not be built; the message says why."""


def build_class_archive(target: Path, jars_dir: Path | None = None) -> float:
    """Run the training workload in a child process and install its archive at ``target``.

    Args:
        target: the archive's path.
        jars_dir: the jars folder the child's Spark uses (``$LOGLAKE_JARS_DIR`` otherwise).

    Returns:
        Seconds it took.

    Raises:
        ClassArchiveError: the workload failed or the JVM wrote no archive.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    env = {**os.environ, "LOGLAKE_JVM_CLASS_ARCHIVE": "off"}
    if jars_dir is not None:
        env["LOGLAKE_JARS_DIR"] = str(jars_dir)
    done = subprocess.run(
        [sys.executable, "-m", "loglake_tools.class_archive", str(partial)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TRAINING_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise ClassArchiveError(
            f"the class archive training run failed (exit {done.returncode}):\n"
            + (done.stdout + done.stderr)[-3000:]
        )
    partial.replace(target)
    remove_stale_archives(target)
    return time.monotonic() - started


def _mtime(path: Path) -> float:
    """Modification time, 0 for a file another process removed meanwhile."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def remove_stale_archives(target: Path) -> list[Path]:
    """Delete the ``spark-classes*.jsa`` archives beside ``target`` that no driver can use.

    An archive of an older name was dumped with an older classpath, which no JVM can use
    any more; each holds about 180 MB. Archives of the same sources for other Python
    environments (``spark-classes-<n>-<digest>-<env>.jsa``, other checkouts) are kept, the
    ``KEEP_OTHER_ENVIRONMENTS`` newest of them: the drivers of those checkouts use them,
    while a checkout that is gone leaves its archive behind. Returns the deleted paths.
    """
    stem = target.name.removesuffix(".jsa")
    same_sources = stem.rsplit("-", 1)[0] + "-" if stem.count("-") >= 4 else None
    others = [p for p in target.parent.glob("spark-classes*.jsa") if p != target]
    kept = sorted(
        (p for p in others if same_sources and p.name.startswith(same_sources)),
        key=_mtime,
        reverse=True,
    )[:KEEP_OTHER_ENVIRONMENTS]
    stale = [p for p in others if p not in kept]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _train(archive: Path) -> None:
    """The workload: runs in the child; its driver JVM dumps the archive at exit."""
    from pyspark import SparkContext, StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    from loglake_core.metrics import PAGE_METRICS_DAILY, TTI_PERCENTILES
    from loglake_core.spark.metrics import histogram_frame
    from loglake_core.spark.session import LOCAL_CONF, build_spark_session

    options = f"{LOCAL_CONF['spark.driver.extraJavaOptions']} -XX:ArchiveClassesAtExit={archive}"
    spark = build_spark_session(
        "loglake-class-archive", conf={"spark.driver.extraJavaOptions": options}
    )
    with tempfile.TemporaryDirectory(prefix="loglake-class-archive-") as tmp:
        table = Path(tmp, "events").as_uri()
        rows = spark.range(20_000).select(
            sf.concat(sf.lit("e-"), (sf.col("id") % 15_000).cast("string")).alias("event_id"),
            sf.expr("date_add(DATE'2026-01-01', CAST(id % 3 AS INT))").alias("event_date"),
            sf.concat(sf.lit("/p"), (sf.col("id") % 7).cast("string")).alias("page"),
            sf.lit("page_view").alias("event_type"),
            (sf.rand(1) * 5000).alias("tti_ms"),
        )
        rows.write.format("delta").partitionBy("event_date").save(table)
        rows.write.format("delta").mode("append").partitionBy("event_date").save(table)
        read = spark.read.format("delta").load(table).where("event_date > DATE'2026-01-01'")
        rank = sf.row_number().over(Window.partitionBy("event_id", "event_date").orderBy("tti_ms"))
        kept = read.withColumn("_r", rank).where("_r = 1").persist(StorageLevel.MEMORY_AND_DISK)
        kept.groupBy("event_date", "page").agg(
            sf.count(sf.lit(1)), sf.count_distinct("event_id")
        ).collect()
        grain = ["event_date", "page"]
        pcts = [PAGE_METRICS_DAILY.metric(name) for name, _ in TTI_PERCENTILES]
        histogram_frame(kept, grain, PAGE_METRICS_DAILY.metric("tti_histogram"), pcts).collect()
        kept.unpersist()
        spark.stop()
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None) if gateway is not None else None
    if proc is not None:  # the JVM writes the archive as it exits: wait for it
        proc.stdin.close()
        proc.wait(timeout=TRAINING_TIMEOUT_S)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    _train(Path(sys.argv[1]))
