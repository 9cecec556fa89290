"""pyarrow schemas of the event contract, derived from ``loglake_core.schema``.

pyarrow is optional (``pip install loglake-core[arrow]``) and imported only when a schema
is built, so importing this module costs nothing.

Example:
    >>> event_schema().field("event_time").type  # doctest: +SKIP
    TimestampType(timestamp[us, tz=UTC])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loglake_core.errors import ConfigError
from loglake_core.schema import EVENT_FIELDS, QUARANTINE_FIELDS, RAW_EVENT_FIELDS, Field


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:  # pragma: no cover - pyarrow is in every dev environment
        raise ConfigError(
            "pyarrow is not installed; install it with `pip install loglake-core[arrow]`"
        ) from exc
    return pyarrow


def arrow_type(logical: str) -> Any:
    """The pyarrow type of a logical field type."""
    pa = _pyarrow()
    types = {
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "double": pa.float64(),
        "int": pa.int32(),
        "long": pa.int64(),
        "date": pa.date32(),
        "binary": pa.binary(),
        "map": pa.map_(pa.string(), pa.string()),
    }
    return types[logical]


def schema_of(fields: Iterable[Field]) -> Any:
    """A ``pyarrow.Schema`` with one field per ``Field`` (doc kept as field metadata)."""
    pa = _pyarrow()
    return pa.schema(
        [
            pa.field(f.name, arrow_type(f.type), nullable=f.nullable, metadata={"doc": f.doc})
            for f in fields
        ]
    )


def event_schema() -> Any:
    """The typed event (``EVENT_FIELDS``)."""
    return schema_of(EVENT_FIELDS)


def raw_events_schema() -> Any:
    """The raw/events table (``RAW_EVENT_FIELDS``)."""
    return schema_of(RAW_EVENT_FIELDS)


def quarantine_schema() -> Any:
    """The raw/quarantine table (``QUARANTINE_FIELDS``)."""
    return schema_of(QUARANTINE_FIELDS)
