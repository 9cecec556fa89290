"""Spark side of the contracts: schema, validation rules as columns, page normalisation.

Importing this package imports pyspark; ``loglake_core`` itself never does.
"""

from __future__ import annotations

try:
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in the lambda environment
    raise ImportError(
        "loglake_core.spark needs pyspark; install it with `pip install loglake-core[spark]`"
    ) from exc
