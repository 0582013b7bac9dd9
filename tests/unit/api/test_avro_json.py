"""JSON bodies against the Avro contracts: conversion, precise errors, and a JSON Schema
that says the same as the checks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import fastavro
import pytest

from riskrelay.api.avro_json import AvroJson, ContractError, Overrides
from riskrelay.api.ingest import EXAMPLES, Contracts
from riskrelay.errors import ConfigError
from riskrelay.models import FAMILY_SCHEMAS, Family
from riskrelay.schemas import parsed_schema, schema_text

NESTED = {
    "type": "record",
    "name": "Outer",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "born", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
        {
            "name": "money",
            "type": {
                "type": "record",
                "name": "Money",
                "fields": [
                    {"name": "minor", "type": "long"},
                    {"name": "code", "type": "string"},
                ],
            },
        },
        {"name": "fee", "type": ["null", "t.Money"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "rate", "type": ["null", "double"], "default": None},
        {"name": "flags", "type": {"type": "array", "items": "boolean"}, "default": []},
        {"name": "tags", "type": {"type": "map", "values": "int"}, "default": {}},
        {"name": "either", "type": ["null", "int", "string"], "default": None},
    ],
}


def convert(body: dict) -> dict:
    return AvroJson(NESTED).to_avro(body)


def errors_of(body: object, schema: dict = NESTED) -> dict[str, str]:
    with pytest.raises(ContractError) as caught:
        AvroJson(schema).to_avro(body)
    return {e.path: e.reason for e in caught.value.errors}


BASE = {"id": "x", "at": 0, "money": {"minor": 5, "code": "EUR"}, "kind": "A"}


def test_a_valid_body_becomes_the_record_fastavro_writes_with_defaults_filled_in() -> None:
    record = convert({**BASE, "at": "2026-05-01T14:00:00+02:00", "born": "1990-02-28"})
    assert record["at"] == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert record["born"] == date(1990, 2, 28)
    assert (record["fee"], record["flags"], record["tags"], record["rate"]) == (None, [], {}, None)
    fastavro.validation.validate(record, fastavro.parse_schema(NESTED), raise_errors=True)


def test_instants_are_rfc3339_with_an_offset_or_epoch_milliseconds() -> None:
    assert convert({**BASE, "at": 1_000})["at"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert convert({**BASE, "at": "2026-05-01t12:00:00.123z"})["at"].microsecond == 123_000
    assert convert({**BASE, "at": -1})["at"].year == 1969
    for bad in ("2026-05-01T12:00:00", "2026-05-01", "yesterday", "2026-13-01T00:00:00Z", 1.5):
        assert "RFC 3339" in errors_of({**BASE, "at": bad})["at"], bad
    assert "years 1 to 9999" in errors_of({**BASE, "at": 10**15})["at"]


def test_integral_numbers_are_integers_and_ranges_are_avros() -> None:
    assert convert({**BASE, "money": {"minor": 7.0, "code": "USD"}})["money"]["minor"] == 7
    assert errors_of({**BASE, "money": {"minor": 2**63, "code": "USD"}}) == {
        "money.minor": f"must be between {-(2**63)} and {2**63 - 1}"
    }
    assert errors_of({**BASE, "tags": {"a": 2**31}})["tags.a"].startswith("must be between")
    assert errors_of({**BASE, "money": {"minor": True, "code": "USD"}}) == {
        "money.minor": "must be an integer, not a boolean"
    }


def test_errors_name_every_wrong_field_by_path() -> None:
    body = {
        "id": 3,
        "money": {"minor": "5", "extra": 1},
        "kind": "C",
        "flags": [True, "no"],
        "tags": {"k": "v"},
        "either": [],
        "rate": "fast",
        "fee": None,
        "unknown": 1,
    }
    assert errors_of(body) == {
        "id": "must be a string, not an integer",
        "at": "is required",
        "money.minor": "must be an integer, not a string",
        "money.extra": "is not a field of this event",
        "money.code": "is required",
        "kind": "must be one of A, B",
        "flags[1]": "must be a boolean, not a string",
        "tags.k": "must be an integer, not a string",
        "either": "matches none of the allowed types",
        "rate": "must be a number, not a string",
        "unknown": "is not a field of this event",
    }
    assert errors_of([1]) == {"": "must be an object, not an array"}
    assert errors_of({**BASE, "money": None}) == {"money": "must be an object, not null"}


def test_overrides_omit_require_less_and_check_strings() -> None:
    over = Overrides(
        omit={"kind": "is set by the API (POST creates, PUT updates)"},
        optional=frozenset({"id"}),
        strings={"id": {"minLength": 2}},
        checks={"id": lambda v: None if len(v) >= 2 else "too short"},
    )
    contract = AvroJson(NESTED, over)
    body = {k: v for k, v in BASE.items() if k not in ("kind", "id")}
    assert "id" not in contract.to_avro(body)
    with pytest.raises(ContractError) as caught:
        contract.to_avro({**body, "id": "x", "kind": "A"})
    assert {e.path: e.reason for e in caught.value.errors} == {
        "kind": "is set by the API (POST creates, PUT updates)",
        "id": "too short",
    }
    schema = contract.json_schema()
    assert "kind" not in schema["properties"]
    assert "id" not in schema["required"]
    assert schema["properties"]["id"]["minLength"] == 2


def test_the_json_schema_mirrors_the_avro_types() -> None:
    schema = AvroJson(NESTED).json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["id", "at", "money", "kind"]
    assert props["at"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert props["born"]["anyOf"] == [{"type": "string", "format": "date"}, {"type": "null"}]
    assert props["fee"]["anyOf"][0]["properties"]["minor"]["type"] == "integer"
    assert props["kind"] == {"type": "string", "enum": ["A", "B"]}
    assert props["tags"]["additionalProperties"]["maximum"] == 2**31 - 1
    assert props["either"]["anyOf"][:2] == [
        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        {"type": "string"},
    ]


def test_unsupported_or_recursive_types_fail_at_start() -> None:
    recursive = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"], "default": None}],
    }
    with pytest.raises(ConfigError, match="recursive"):
        AvroJson(recursive).json_schema()
    raw = {"type": "record", "name": "R", "fields": [{"name": "b", "type": "bytes"}]}
    with pytest.raises(ConfigError, match="bytes"):
        AvroJson(raw).to_avro({"b": "x"})


@pytest.mark.parametrize("family", list(Family))
def test_the_input_contracts_load_and_the_documented_examples_are_accepted(
    family: Family,
) -> None:
    contracts = Contracts()
    incoming = contracts.parse(json.dumps(EXAMPLES[family]).encode(), create=True)
    assert incoming.family is family
    fastavro.validation.validate(
        incoming.record, parsed_schema(FAMILY_SCHEMAS[family]), raise_errors=True
    )
    update = {k: v for k, v in EXAMPLES[family].items() if k != "event_id"}
    same = contracts.parse(json.dumps(update).encode(), create=False, event_id="evt-x")
    assert (same.event_id, same.record["operation"]) == ("evt-x", "UPDATE")


def test_event_types_are_disjoint_across_families_so_the_family_is_inferred() -> None:
    contracts = Contracts()
    symbols = {
        family: set(AvroJson(json.loads(schema_text(name))).symbols("event_type"))
        for family, name in FAMILY_SCHEMAS.items()
    }
    for family, names in symbols.items():
        for name in names:
            assert contracts.family_of(name) is family
    assert sum(len(s) for s in symbols.values()) == len(contracts.event_types())
    assert contracts.family_of("NOPE") is None and contracts.family_of(3) is None
