"""Contracts shared by every loglake package.

The public API below is pure Python: importing ``loglake_core`` never imports pyspark
(``loglake_core.spark`` holds the Spark column builders) nor pyarrow
(``loglake_core.arrow`` imports it when a schema is built).

Example:
    >>> import loglake_core
    >>> loglake_core.normalize_page("/Product/42?x=1")
    '/product/{id}'
"""

from __future__ import annotations

from loglake_core.config import PipelineConfig, resolve
from loglake_core.errors import ConfigError, ContractError, LoglakeError
from loglake_core.jsonschema import event_json_schema
from loglake_core.layout import LakeLayout
from loglake_core.pages import normalize_page
from loglake_core.reasons import VALIDATOR_VERSION, Reason
from loglake_core.schema import (
    EVENT_FIELDS,
    EVENT_TYPES,
    INGEST_FIELDS,
    LEVELS,
    QUARANTINE_FIELDS,
    RAW_EVENT_FIELDS,
    SCHEMA_VERSION,
    Field,
)
from loglake_core.validate import Rejection, ValidationConfig, ValidEvent, validate

__version__ = "0.1.0"

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "INGEST_FIELDS",
    "LEVELS",
    "QUARANTINE_FIELDS",
    "RAW_EVENT_FIELDS",
    "SCHEMA_VERSION",
    "VALIDATOR_VERSION",
    "ConfigError",
    "ContractError",
    "Field",
    "LakeLayout",
    "LoglakeError",
    "PipelineConfig",
    "Reason",
    "Rejection",
    "ValidEvent",
    "ValidationConfig",
    "__version__",
    "event_json_schema",
    "normalize_page",
    "resolve",
    "validate",
]
