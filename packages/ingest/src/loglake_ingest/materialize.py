"""Materialise a DataFrame once and cut its lineage, so later steps plan a tiny plan.

The core validator builds very large expression trees. Every action on a DataFrame
derived from it would plan them again, and a filter on top may be pushed into them; a
local checkpoint runs the plan exactly once (for a micro-batch: the de-dup operator
runs once, so its state is committed once) and hands back a DataFrame over the
computed rows. ``release`` frees the rows when the batch is done.

Example:
    >>> rows = materialize(validated)  # doctest: +SKIP
    >>> release(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

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
