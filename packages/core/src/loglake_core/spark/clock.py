"""The query's "now" (in a stream: the micro-batch's time) with generated code that stays the same.

Spark puts the time of a query into its generated code as a literal: a batch query's
``current_timestamp()`` is folded into one, and a streaming query's micro-batch time
(``CurrentBatchTimestamp``) writes its value into the code. Each micro-batch then compiled
new classes for every stage that uses "now", and the JVM compiled their hot methods again
(about 2.5 s of C2 time for the validator's stage alone, twice per batch after a
deoptimisation): a third of the ingest job's CPU went to the JIT compiler.

:func:`batch_now` wraps the time in a one-element ``transform``. Higher-order functions are
evaluated through the expression object, which the generated code holds by reference, so
the code no longer contains the time, while the value is the same instant. It costs one
small interpreted evaluation per row; evaluate it once per row (a column of its own) where
several expressions need it.

Example:
    >>> df.select(batch_now().alias("ingest_time"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column


def batch_now() -> Column:
    """``current_timestamp()``, kept out of the generated code (see the module)."""
    from pyspark.sql import functions as F  # noqa: N812

    return F.transform(F.array(F.lit(0)), lambda _: F.current_timestamp())[0]
