"""The wire-format encoder: header, then each contract's writer's bytes, which are
fastavro's; decoded back, the record."""

from __future__ import annotations

import struct
from typing import Any

from confluent_kafka.schema_registry import Schema

from riskrelay.decode.avro import AvroDecoder, AvroEncoder
from riskrelay.dev.demo import demo_stream
from riskrelay.enrich.profile import ProfileLimits, updated
from riskrelay.models import SourcePosition
from riskrelay.normalize import normalize
from tests.fixtures.avro import avro_bytes
from tests.fixtures.enrichment import WHEN, memory_enrichment


class Registry:
    """The two calls the encoder and decoder make, in memory."""

    def __init__(self) -> None:
        self.schemas: dict[int, Schema] = {}

    def register_schema(self, subject: str, schema: Schema) -> int:
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = schema
        return schema_id

    def get_schema(self, schema_id: int) -> Schema:
        return self.schemas[schema_id]


def enriched_events() -> list[dict[str, Any]]:
    stage = memory_enrichment()
    return [
        stage.apply(
            {
                **normalize(family, record, SourcePosition("t", 0, i), WHEN).body,
                "version": 1,
                "operation": "CREATE",
            },
            0,
        )
        for i, (family, record) in enumerate(demo_stream(48, seed=4))
    ]


def test_normalized_events_are_the_header_then_fastavros_bytes() -> None:
    registry = Registry()
    encoder = AvroEncoder(registry, "risk.normalized.v1", "normalized")  # type: ignore[arg-type]
    decoder = AvroDecoder(registry, "normalized")  # type: ignore[arg-type]
    for event in enriched_events():
        data = encoder.encode(event)
        assert data[:5] == struct.pack(">bI", 0, encoder.schema_id)
        assert data[5:] == avro_bytes("normalized", event)
        assert decoder.decode(data)["profile"] == event["profile"]


def test_profiles_are_the_header_then_fastavros_bytes() -> None:
    encoder = AvroEncoder(Registry(), "risk.profiles.v1", "profile")  # type: ignore[arg-type]
    profile = None
    for event in enriched_events()[:8]:
        profile = updated(profile, event, ProfileLimits(), now_ms=1)
        assert encoder.encode(profile)[5:] == avro_bytes("profile", profile)
