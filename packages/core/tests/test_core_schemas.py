"""The Spark, pyarrow and JSON Schema views of the contract agree field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loglake_core.jsonschema import event_json_schema
from loglake_core.schema import EVENT_FIELDS, QUARANTINE_FIELDS, RAW_EVENT_FIELDS

ARROW_TYPES = {
    "string": "string",
    "timestamp": "timestamp[us, tz=UTC]",
    "double": "double",
    "int": "int32",
    "long": "int64",
    "date": "date32[day]",
    "binary": "binary",
    "map": "map<string, string>",
}
SPARK_TYPES = {
    "string": "string",
    "timestamp": "timestamp",
    "double": "double",
    "int": "int",
    "long": "bigint",
    "date": "date",
    "binary": "binary",
    "map": "map<string,string>",
}
JSON_TYPES = {
    "string": {"string"},
    "timestamp": {"string", "integer"},
    "double": {"number"},
    "int": {"integer"},
    "map": {"object"},
}


def _json_types(spec: dict[str, Any]) -> set[str]:
    if "anyOf" in spec:
        return set().union(*(_json_types(s) for s in spec["anyOf"]))
    kind = spec["type"]
    return set(kind) if isinstance(kind, list) else {kind}


@pytest.mark.spark  # needs the full environment (pyarrow), which the spark tier has
def test_arrow_schemas_follow_the_contract() -> None:
    from loglake_core.arrow import event_schema, quarantine_schema, raw_events_schema

    for schema, fields in (
        (event_schema(), EVENT_FIELDS),
        (raw_events_schema(), RAW_EVENT_FIELDS),
        (quarantine_schema(), QUARANTINE_FIELDS),
    ):
        assert schema.names == [f.name for f in fields]
        for f in fields:
            arrow_field = schema.field(f.name)
            assert str(arrow_field.type) == ARROW_TYPES[f.type], f.name
            assert arrow_field.nullable == f.nullable, f.name


@pytest.mark.unit
def test_json_schema_follows_the_contract() -> None:
    doc = event_json_schema()
    json.dumps(doc)  # serialisable
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(doc["properties"]) == [f.name for f in EVENT_FIELDS]
    assert doc["required"] == [f.name for f in EVENT_FIELDS if f.required]
    for f in EVENT_FIELDS:
        types = _json_types(doc["properties"][f.name])
        assert types - {"null"} == JSON_TYPES[f.type], f.name
        # nullable in storage <=> optional for producers <=> null accepted
        assert ("null" in types) == f.nullable == (not f.required), f.name


@pytest.mark.spark  # needs the full environment (jsonschema), which the spark tier has
def test_json_schema_accepts_and_rejects_like_the_validator() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(event_json_schema())
    validator.check_schema(event_json_schema())
    good = {
        "event_id": "e",
        "event_time": "2024-06-01T10:00:00Z",
        "event_type": "page_view",
        "service": "s",
        "page_url": "/a",
        "tti_ms": 1.5,
        "country": None,
        "extra": 1,
    }
    assert validator.is_valid(good)
    assert validator.is_valid({**good, "event_time": 1717236000000})
    for bad in (
        {**good, "tti_ms": "12"},
        {**good, "tti_ms": 600_000},
        {**good, "status_code": 200.5},
        {**good, "event_type": "click"},
        {**good, "country": "de"},
        {**good, "attributes": {"a": 1}},
        {k: v for k, v in good.items() if k != "tti_ms"},
        {k: v for k, v in good.items() if k != "event_id"},
    ):
        assert not validator.is_valid(bad), bad


@pytest.mark.spark
def test_spark_structs_agree_with_arrow_and_json_schema() -> None:
    from loglake_core.arrow import event_schema
    from loglake_core.spark.schema import event_struct, quarantine_struct, raw_events_struct

    for struct, fields in (
        (event_struct(), EVENT_FIELDS),
        (raw_events_struct(), RAW_EVENT_FIELDS),
        (quarantine_struct(), QUARANTINE_FIELDS),
    ):
        assert struct.fieldNames() == [f.name for f in fields]
        for f in fields:
            spark_field = struct[f.name]
            assert spark_field.dataType.simpleString() == SPARK_TYPES[f.type], f.name
            assert spark_field.nullable == f.nullable, f.name
    arrow = event_schema()
    doc = event_json_schema()
    for spark_field in event_struct().fields:
        arrow_field = arrow.field(spark_field.name)
        json_types = _json_types(doc["properties"][spark_field.name])
        assert spark_field.nullable == arrow_field.nullable == ("null" in json_types)
