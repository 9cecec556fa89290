"""Compute a DataFrame once, so later steps neither run its plan again nor plan it again.

The core validator builds very large expression trees. Every action on a DataFrame
derived from it would plan them again, and a filter on top may be pushed into them;
for a micro-batch, a second run of the plan would also run the de-dup operator (and
commit its state) twice. Two ways to compute it once:

* :func:`materialize`: a local checkpoint hands back a DataFrame over the computed rows
  (Spark's block store); ``release`` frees them.
* :func:`shuffled_once`: the repartition a write needs anyway, kept as a DataFrame over
  the shuffle's output; ``release_shuffle`` deletes its files. The ingest writer's way.
  :func:`split_partitions` reads the same shuffle files again, only the partitions a
  write needs, its largest ones spread over several tasks.

Example:
    >>> rows = materialize(validated)  # doctest: +SKIP
    >>> release(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
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


def map_ranges(maps: int, pieces: int) -> list[tuple[int, int]]:
    """``range(maps)`` cut into at least ``pieces`` contiguous ``[start, end)`` ranges.

    The count is raised to the next divisor of ``maps`` (at most ``maps``), so that every
    range holds as many map tasks: 4 map tasks in 3 pieces would give one piece half the
    rows, in 4 each gets a quarter.
    """
    count = max(1, min(pieces, maps))
    while maps % count:
        count += 1
    return [(i * maps // count, (i + 1) * maps // count) for i in range(count)]


def split_partitions(
    df: DataFrame, pieces: Mapping[int, int], only: Collection[int] | None = None
) -> DataFrame:
    """``df`` (made by :func:`shuffled_once`) read again, partition ``p`` by ``pieces[p]`` tasks.

    Each piece reads partition ``p``'s blocks from a contiguous range of the shuffle's map
    tasks (what Spark's adaptive execution does with a skewed partition), so its rows are
    spread over several tasks without another shuffle; with balanced map tasks each piece
    holds about ``1 / pieces[p]`` of them, and never more pieces than map tasks. The other
    partitions are read whole, in order, so the result's partitions are the pieces in
    partition order. Nothing is computed again: the shuffle's files are read.

    ``only`` names the partitions to read (default: all); the others' blocks are not
    fetched, so a write that needs one partition's rows does not read the whole batch.

    Returns ``df`` itself when there is nothing to split or leave out, or when Spark's
    internal classes are not what this expects (another Spark: all the rows, in fewer
    tasks; callers filter the rows they need).
    """
    from pyspark.sql import DataFrame as PyDataFrame

    wanted = {p: k for p, k in pieces.items() if k > 1}
    if not wanted and only is None:
        return df
    session = df.sparkSession
    try:
        shuffled = _shuffled_rdd(df._jdf.queryExecution().analyzed().rdd())
        if shuffled is None:
            return df
        dependency = shuffled.dependencies().head()
        maps = int(dependency.rdd().getNumPartitions())
        jvm = session._jvm
        execution = jvm.org.apache.spark.sql.execution
        specs = []
        partitions = range(int(dependency.partitioner().numPartitions()))
        for p in partitions if only is None else sorted(set(only) & set(partitions)):
            if wanted.get(p, 1) > 1 and maps > 1:
                specs += [
                    execution.PartialReducerPartitionSpec(p, start, end, 0)
                    for start, end in map_ranges(maps, wanted[p])
                ]
            else:
                specs.append(execution.CoalescedPartitionSpec(p, p + 1, jvm.scala.Option.empty()))
        array = session.sparkContext._gateway.new_array(execution.ShufflePartitionSpec, len(specs))
        for i, spec in enumerate(specs):
            array[i] = spec
        reporter = jvm.org.apache.spark.sql.execution.metric.SQLShuffleReadMetricsReporter
        metrics = reporter.createShuffleReadMetrics(session._jsc.sc())
        rows = execution.ShuffledRowRDD(dependency, metrics, array)
        jframe = session._jsparkSession.internalCreateDataFrame(rows, df._jdf.schema(), False)
    except Exception as exc:  # Spark-internal classes missing or changed
        logger.warning("the batch is read whole, a partition per task (%s)", exc)
        return df
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


def _shuffled_rdd(rdd: Any, depth: int = 8) -> Any:
    """The nearest RDD that reads a shuffle, through narrow dependencies from ``rdd``."""
    for _ in range(depth):
        dependencies = rdd.dependencies()
        if dependencies.isEmpty():
            return None
        dependency = dependencies.head()
        if dependency.getClass().getSimpleName() == "ShuffleDependency":
            return rdd
        rdd = dependency.rdd()
    return None


def _first_shuffle(rdd: Any) -> int | None:
    """The id of the nearest shuffle that ``rdd`` reads (through narrow dependencies)."""
    shuffled = _shuffled_rdd(rdd)
    return None if shuffled is None else int(shuffled.dependencies().head().shuffleId())
