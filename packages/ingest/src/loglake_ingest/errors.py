"""Errors of loglake_ingest. Each message names what went wrong and how to fix it."""

from __future__ import annotations

from loglake_core.errors import ConfigError, LoglakeError

__all__ = [
    "ConfigError",
    "DataLossError",
    "IngestError",
    "QueryFailedError",
    "ReconciliationError",
]


class IngestError(LoglakeError):
    """Base of every error the ingest job raises on purpose."""


class ReconciliationError(IngestError):
    """A batch's counters do not add up: records read != written + quarantined + duplicates."""


class DataLossError(IngestError):
    """Kafka no longer holds offsets the query still has to read (retention, topic recreated)."""


class QueryFailedError(IngestError):
    """The streaming query stopped with an error that is not one of the above."""
