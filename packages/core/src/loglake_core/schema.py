"""The event contract (schema v1), defined once.

Everything else is derived from the tables in this module: the Spark ``StructType``
(``loglake_core.spark.schema``), the pyarrow schema (``loglake_core.arrow``), the
JSON Schema document (``loglake_core.jsonschema``) and both validators.

Example:
    >>> from loglake_core.schema import EVENT_FIELDS, field
    >>> field("tti_ms").required_for
    frozenset({'page_view'})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SCHEMA_VERSION: Final = 1

#: Logical types a field may have. Each derived schema maps these one to one.
FieldType = Literal["string", "timestamp", "double", "int", "long", "date", "binary", "map"]

EVENT_TYPES: Final = ("page_view", "api_request", "error", "log")
LEVELS: Final = ("debug", "info", "warn", "error", "fatal")
DEFAULT_LEVEL: Final = "info"

#: Upper bound of ``tti_ms`` (exclusive): ten minutes.
MAX_TTI_MS: Final = 600_000.0
#: Largest Kafka message value accepted, in bytes; larger ones are quarantined as ``too_large``.
MAX_MESSAGE_BYTES: Final = 64 * 1024
#: Default tolerated clock skew of producers: events more than this in the future are rejected.
DEFAULT_MAX_FUTURE_SKEW_SECONDS: Final = 300
#: Earliest accepted event time (UTC): anything before is a broken clock, not a late event.
MIN_EVENT_TIME_ISO: Final = "2000-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Field:
    """One top-level field of an event or of a lake table.

    Attributes:
        name: column name.
        type: logical type (see ``FieldType``).
        required: required for every event.
        required_for: event types for which the field is required (besides ``required``).
        max_length: longest accepted string, in characters.
        minimum: smallest accepted number (inclusive).
        maximum: largest accepted number.
        exclusive_maximum: whether ``maximum`` itself is rejected.
        choices: the accepted values of a string field.
        pattern: a regular expression a string must match in full.
        nullable: whether the stored column may hold nulls.
        doc: one line for people.
    """

    name: str
    type: FieldType
    required: bool = False
    required_for: frozenset[str] = frozenset()
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    nullable: bool = True
    doc: str = ""


#: What a producer sends: one JSON object per Kafka message, in this order.
EVENT_FIELDS: Final[tuple[Field, ...]] = (
    Field(
        "event_id",
        "string",
        required=True,
        max_length=128,
        nullable=False,
        doc="Unique id of the event; the de-duplication key.",
    ),
    Field(
        "event_time",
        "timestamp",
        required=True,
        nullable=False,
        doc="When it happened: ISO-8601 with offset, or epoch milliseconds; stored UTC.",
    ),
    Field(
        "event_type",
        "string",
        required=True,
        choices=EVENT_TYPES,
        nullable=False,
        doc="page_view, api_request, error or log.",
    ),
    Field(
        "service",
        "string",
        required=True,
        max_length=128,
        nullable=False,
        doc="The emitting application.",
    ),
    Field(
        "page_url",
        "string",
        required_for=frozenset({"page_view"}),
        max_length=2048,
        doc="URL or path of the page; normalised into `page`.",
    ),
    Field(
        "tti_ms",
        "double",
        required_for=frozenset({"page_view"}),
        minimum=0.0,
        maximum=MAX_TTI_MS,
        exclusive_maximum=True,
        doc="Time to interactive, milliseconds.",
    ),
    Field(
        "duration_ms",
        "double",
        required_for=frozenset({"api_request"}),
        minimum=0.0,
        doc="Duration of an API request, milliseconds.",
    ),
    Field("status_code", "int", minimum=100, maximum=599, doc="HTTP status code."),
    Field("level", "string", choices=LEVELS, doc="Log level; defaults to info."),
    Field("message", "string", max_length=8192, doc="Free text."),
    Field("session_id", "string", max_length=256, doc="Session of the user."),
    Field("user_id", "string", max_length=256, doc="User; may be pseudonymised at ingest."),
    Field("user_agent", "string", max_length=1024, doc="Browser or client user agent."),
    Field("app_version", "string", max_length=128, doc="Version of the emitting application."),
    Field("country", "string", pattern="[A-Z]{2}", doc="ISO-3166 alpha-2 country code."),
    Field("attributes", "map", doc="Free-form string attributes."),
)

#: Columns the ingest job adds to every valid event, in this order.
INGEST_FIELDS: Final[tuple[Field, ...]] = (
    Field("page", "string", doc="Normalised path template of page_url, e.g. /product/{id}."),
    Field("_rescued", "string", doc="Unknown top-level fields as a JSON object string."),
    Field("event_date", "date", nullable=False, doc="UTC date of event_time; partition column."),
    Field("ingest_time", "timestamp", nullable=False, doc="When ingest wrote the row."),
    Field("kafka_topic", "string", nullable=False, doc="Source topic."),
    Field("kafka_partition", "int", nullable=False, doc="Source partition."),
    Field("kafka_offset", "long", nullable=False, doc="Source offset."),
    Field("schema_version", "int", nullable=False, doc="Event schema version."),
)

#: The raw/events Delta table: the event fields then the ingest fields.
RAW_EVENT_FIELDS: Final[tuple[Field, ...]] = EVENT_FIELDS + INGEST_FIELDS

#: The raw/quarantine Delta table: every rejected Kafka record, replayable.
QUARANTINE_FIELDS: Final[tuple[Field, ...]] = (
    Field("raw_value", "binary", doc="The Kafka message value, byte for byte."),
    Field("kafka_topic", "string", nullable=False, doc="Source topic."),
    Field("kafka_partition", "int", nullable=False, doc="Source partition."),
    Field("kafka_offset", "long", nullable=False, doc="Source offset."),
    Field("kafka_timestamp", "timestamp", doc="Kafka record timestamp."),
    Field("reason_code", "string", nullable=False, doc="Stable reason code (see reasons.py)."),
    Field("reason_field", "string", doc="The field at fault, when there is one."),
    Field("reason_message", "string", nullable=False, doc="What was wrong and how to fix it."),
    Field("validator_version", "string", nullable=False, doc="Version of the rules applied."),
    Field("ingest_time", "timestamp", nullable=False, doc="When ingest quarantined it."),
    Field("ingest_date", "date", nullable=False, doc="UTC date of ingest_time; partition."),
)

EVENT_FIELD_NAMES: Final = frozenset(f.name for f in EVENT_FIELDS)


def field(name: str) -> Field:
    """Return the event field called ``name``.

    Raises:
        KeyError: if no event field has that name.
    """
    for f in RAW_EVENT_FIELDS:
        if f.name == name:
            return f
    raise KeyError(f"no event field named {name!r}; known: {', '.join(sorted(EVENT_FIELD_NAMES))}")
