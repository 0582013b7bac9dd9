"""Schema validation (42201) and identity: which submissions count as the same schema."""

from __future__ import annotations

import json

import pytest

from riskrelay.registry.errors import INVALID_SCHEMA, RegistryApiError
from riskrelay.registry.schemas import parse_schema
from tests.unit.registry.schemas import AMOUNT, ID, V1, record


def identity(text: str) -> str:
    return parse_schema(text).identity


def test_whitespace_key_order_and_name_qualification_do_not_matter() -> None:
    reordered = json.dumps(
        {
            "fields": [
                {"type": "string", "name": "id"},
                {"type": {"type": "long"}, "name": "amount"},
            ],
            "name": "test.v1.Payment",
            "type": "record",
        },
        indent=2,
    )
    assert identity(reordered) == identity(V1)


def test_defaults_docs_and_custom_properties_do_matter() -> None:
    # Confluent keeps these apart; Avro's Parsing Canonical Form would merge them.
    assert identity(record(ID, {**AMOUNT, "default": 0})) != identity(V1)
    assert identity(record(ID, {**AMOUNT, "doc": "cents"})) != identity(V1)
    assert identity(record(ID, {**AMOUNT, "x-unit": "cents"})) != identity(V1)


def test_parsed_schema_keeps_the_submitted_text() -> None:
    parsed = parse_schema(V1)
    assert parsed.text == V1
    assert parsed.schema_type == "AVRO"
    assert parsed.avro.fullname == "test.v1.Payment"


@pytest.mark.parametrize(
    ("text", "schema_type", "references", "expected"),
    [
        ('{"type": "record", "name": "A"}', "AVRO", None, "non-empty fields"),
        ('{"type": "strin"}', None, None, "Undefined type: strin"),
        ("not json", "AVRO", None, "Error parsing JSON"),
        (record({"name": "a", "type": "int", "default": "x"}), "AVRO", None, "Default value <x>"),
        ("", "AVRO", None, "Empty schema"),
        (None, "AVRO", None, "Empty schema"),
        (V1, "PROTOBUF", None, "'PROTOBUF' is not supported"),
        (V1, "AVRO", [{"name": "x", "subject": "s", "version": 1}], "references"),
    ],
)
def test_invalid_submissions_are_42201_with_the_reason(
    text: object, schema_type: object, references: object, expected: str
) -> None:
    with pytest.raises(RegistryApiError) as caught:
        parse_schema(text, schema_type, references)
    assert (caught.value.status, caught.value.error_code) == (422, INVALID_SCHEMA)
    assert expected in caught.value.message
    assert caught.value.message.startswith("Invalid schema: ")
