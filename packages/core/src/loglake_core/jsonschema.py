"""A JSON Schema (draft 2020-12) document of the event a producer sends.

Derived from ``loglake_core.schema.EVENT_FIELDS``; publish it to producers or a schema
registry. It describes what the validator accepts except rules JSON Schema cannot state:
real calendar dates, the future-skew window, the 2000-01-01 floor, duplicate keys,
nesting depth and message size (see docs/event-contract.md).

Example:
    >>> doc = event_json_schema()
    >>> doc["required"]
    ['event_id', 'event_time', 'event_type', 'service']
"""

from __future__ import annotations

from typing import Any, Final

from loglake_core.schema import EVENT_FIELDS, EVENT_TYPES, SCHEMA_VERSION, Field
from loglake_core.timeparse import ISO_PATTERN

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID: Final = f"https://loglake.dev/schemas/event/v{SCHEMA_VERSION}.json"
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def field_json_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field (optional fields also accept null)."""
    spec: dict[str, Any]
    if f.type == "string":
        spec = {"type": "string"}
        if f.max_length is not None:
            spec["maxLength"] = f.max_length
        if f.choices is not None:
            spec["enum"] = list(f.choices)
        if f.pattern is not None:
            spec["pattern"] = f"^(?:{f.pattern})$"
    elif f.type in ("double", "int"):
        spec = {"type": "number" if f.type == "double" else "integer"}
        if f.minimum is not None:
            spec["minimum"] = f.minimum
        if f.maximum is not None:
            spec["exclusiveMaximum" if f.exclusive_maximum else "maximum"] = f.maximum
    elif f.type == "timestamp":
        spec = {
            "anyOf": [
                {"type": "string", "pattern": f"^{ISO_PATTERN}$", "format": "date-time"},
                {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
            ]
        }
    elif f.type == "map":
        spec = {"type": "object", "additionalProperties": {"type": "string"}}
    else:  # pragma: no cover - EVENT_FIELDS use only the types above
        raise AssertionError(f"event field {f.name} has unsupported type {f.type}")
    if f.doc:
        spec["description"] = f.doc
    if not f.required:
        spec = {"anyOf": [spec, {"type": "null"}]} if "anyOf" in spec else _nullable(spec)
    return spec


def _nullable(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    out["type"] = [spec["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def event_json_schema() -> dict[str, Any]:
    """The event contract as a JSON Schema draft 2020-12 document.

    Unknown properties are allowed (ingest keeps them in ``_rescued``).
    """
    conditional = []
    for event_type in EVENT_TYPES:
        needed = [f.name for f in EVENT_FIELDS if event_type in f.required_for]
        if needed:
            conditional.append(
                {
                    "if": {
                        "properties": {"event_type": {"const": event_type}},
                        "required": ["event_type"],
                    },
                    "then": {
                        "required": needed,
                        "properties": {n: {"not": {"type": "null"}} for n in needed},
                    },
                }
            )
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": f"loglake event v{SCHEMA_VERSION}",
        "type": "object",
        "properties": {f.name: field_json_schema(f) for f in EVENT_FIELDS},
        "required": [f.name for f in EVENT_FIELDS if f.required],
        "additionalProperties": True,
        "allOf": conditional,
    }
