"""Spark ``StructType``s of the event contract, derived from ``loglake_core.schema``.

``event_struct()`` is the typed shape of an event as the raw table stores it. Incoming JSON
is *not* parsed with it (``from_json`` with a typed schema silently turns ``"12"`` into null
or 12): ``loglake_core.spark.rules`` parses each message as VARIANT, checks the exact JSON
type of every field, and only then casts to these types.

Example:
    >>> event_struct()["tti_ms"].dataType  # doctest: +SKIP
    DoubleType()
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql.types import (
    BinaryType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from loglake_core.schema import (
    EVENT_FIELDS,
    QUARANTINE_FIELDS,
    RAW_EVENT_FIELDS,
    Field,
    FieldType,
)


def spark_type(logical: FieldType) -> DataType:
    """The Spark type of a logical field type (timestamps are UTC instants)."""
    types: dict[str, DataType] = {
        "string": StringType(),
        "timestamp": TimestampType(),
        "double": DoubleType(),
        "int": IntegerType(),
        "long": LongType(),
        "date": DateType(),
        "binary": BinaryType(),
        "map": MapType(StringType(), StringType()),
    }
    return types[logical]


def struct_of(fields: Iterable[Field]) -> StructType:
    """A StructType with one StructField per ``Field``, in order."""
    return StructType(
        [
            StructField(f.name, spark_type(f.type), nullable=f.nullable, metadata={"doc": f.doc})
            for f in fields
        ]
    )


def event_struct() -> StructType:
    """The typed event (``EVENT_FIELDS``)."""
    return struct_of(EVENT_FIELDS)


def raw_events_struct() -> StructType:
    """The raw/events Delta table (``RAW_EVENT_FIELDS``)."""
    return struct_of(RAW_EVENT_FIELDS)


def quarantine_struct() -> StructType:
    """The raw/quarantine Delta table (``QUARANTINE_FIELDS``)."""
    return struct_of(QUARANTINE_FIELDS)
