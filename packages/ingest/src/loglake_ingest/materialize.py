"""Compute a DataFrame once, so later steps neither run its plan again nor plan it again.

The core validator builds very large expression trees. Every action on a DataFrame
derived from it would plan them again, and a filter on top may be pushed into them;
for a micro-batch, a second run of the plan would also run the de-dup operator (and
commit its state) twice. Two ways to compute it once:

* :func:`materialize`: a local checkpoint hands back a DataFrame over the computed rows
  (Spark's block store); ``release`` frees them.
* :func:`shuffled_once`: the repartition a write needs anyway, kept as a DataFrame over
  the shuffle's output; ``release_shuffle`` deletes its files. The ingest writer's way.

Example:
    >>> rows = materialize(validated)  # doctest: +SKIP
    >>> release(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

logger = logging.getLogger(__name__)


def materialize(df: DataFrame) -> DataFrame:
    """Compute ``df`` once (memory, spilling to disk) and return it without its lineage."""
    from pyspark import StorageLevel

    return df.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)


def release(df: DataFrame) -> None:
    """Drop the blocks of a DataFrame made by :func:`materialize` (best effort)."""
    try:
        df._jdf.logicalPlan().rdd().unpersist(False)
    except Exception:  # Spark-internal accessor; the context cleaner frees it later anyway
        logger.debug("could not release a materialised batch", exc_info=True)


def shuffled_once(df: DataFrame, partitions: int, key: Column) -> DataFrame:
    """``df`` repartitioned by ``key``, as a DataFrame over that one shuffle's output.

    The first action runs the plan up to the shuffle (for a micro-batch: the de-dup
    operator, so its state is committed once) and writes the shuffle files; every later
    action on the result reads those files instead of running the plan again. Unlike
    :func:`materialize` nothing is copied into Spark's block store: the repartition a
    write needs anyway is the copy. ``release_shuffle`` deletes the files.

    Where Spark's internal ``internalCreateDataFrame`` is missing (another Spark), the
    repartitioned rows are materialised instead: the same results, one copy more.
    """
    from pyspark.sql import DataFrame as PyDataFrame

    shuffled = df.repartition(partitions, key)
    session = shuffled.sparkSession
    jdf = shuffled._jdf
    try:
        rows = jdf.queryExecution().toRdd()
        jframe = session._jsparkSession.internalCreateDataFrame(rows, jdf.schema(), False)
    except Exception as exc:  # Spark-internal API missing or moved
        logger.warning("the batch is materialised instead (internalCreateDataFrame: %s)", exc)
        return materialize(shuffled)
    return PyDataFrame(jframe, session)


def release_shuffle(df: DataFrame) -> None:
    """Delete the shuffle files behind a DataFrame made by :func:`shuffled_once`.

    Spark deletes them anyway once the JVM has collected the shuffle's objects; a
    stream that runs for hours should not wait for that. Best effort.
    """
    try:
        shuffle = _first_shuffle(df._jdf.queryExecution().analyzed().rdd())
        cleaner = df.sparkSession._jsc.sc().cleaner()
        if shuffle is not None and cleaner.isDefined():
            cleaner.get().doCleanupShuffle(shuffle, False)
    except Exception:  # not a DataFrame over an RDD, or Spark-internal API moved
        logger.debug("could not release a batch's shuffle", exc_info=True)


def _first_shuffle(rdd: Any, depth: int = 8) -> int | None:
    """The id of the nearest shuffle that ``rdd`` reads (through narrow dependencies)."""
    for _ in range(depth):
        dependencies = rdd.dependencies()
        if dependencies.isEmpty():
            return None
        dependency = dependencies.head()
        if dependency.getClass().getSimpleName() == "ShuffleDependency":
            return int(dependency.shuffleId())
        rdd = dependency.rdd()
    return None
