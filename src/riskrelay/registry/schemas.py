"""Parsing submitted schemas and deciding when two of them are "the same schema".

Sameness follows Confluent: the schema's full normalized JSON (whitespace, key order and
name qualification do not matter; ``doc``, ``default``, ``aliases`` and custom properties
do). Avro's *Parsing Canonical Form* is deliberately not used: it drops defaults, so a
version that only adds a default would collapse into the previous one, which Confluent
registers as a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.schema
import fastavro

from riskrelay.registry.errors import invalid_schema

AVRO = "AVRO"
SUPPORTED_TYPES: tuple[str, ...] = (AVRO,)


@dataclass(frozen=True)
class ParsedSchema:
    """A valid schema: the text as first submitted, and its identity for equality."""

    text: str
    schema_type: str
    identity: str
    avro: Any  # avro.schema.Schema; the avro package ships no type hints


def parse_schema(
    text: object, schema_type: object = AVRO, references: object = None
) -> ParsedSchema:
    """Validate a submitted schema or raise 42201 with the parser's own message.

    Both parsers run: ``avro`` gives the normalized form and the compatibility checker,
    ``fastavro`` (what the Confluent serializers use) also rejects defaults of the wrong type.
    """
    schema_type = AVRO if schema_type is None else schema_type
    if schema_type not in SUPPORTED_TYPES:
        raise invalid_schema(
            f"schemaType {schema_type!r} is not supported by the local registry (only AVRO)"
        )
    if references:
        raise invalid_schema("schema references are not supported by the local registry")
    if not isinstance(text, str) or not text.strip():
        raise invalid_schema("Empty schema")
    try:
        parsed = avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError, TypeError) as exc:
        raise invalid_schema(str(exc)) from exc
    try:
        fastavro.parse_schema(json.loads(text))
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise invalid_schema(str(exc)) from exc
    identity = json.dumps(parsed.to_json(), sort_keys=True, separators=(",", ":"))
    return ParsedSchema(text=text, schema_type=AVRO, identity=identity, avro=parsed)
