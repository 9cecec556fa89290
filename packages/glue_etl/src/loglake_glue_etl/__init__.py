"""Batch ETL: raw zone to processed metrics, on AWS Glue 6.0 or any Spark 4.1.

The Spark-dependent modules (``job``, ``transforms``, ``quality``, ``entrypoint``) are
imported on use, so ``import loglake_glue_etl`` stays light.

Example:
    >>> from loglake_glue_etl.job import run_etl  # doctest: +SKIP
"""

from __future__ import annotations

from loglake_glue_etl.config import EtlConfig
from loglake_glue_etl.errors import EtlError, InjectedFailureError, QualityGateError
from loglake_glue_etl.result import EtlResult

__version__ = "0.1.0"

__all__ = [
    "EtlConfig",
    "EtlError",
    "EtlResult",
    "InjectedFailureError",
    "QualityGateError",
    "__version__",
]
