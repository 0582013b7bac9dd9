"""Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body).

The registry conversation goes through ``confluent_kafka``'s standard
``SchemaRegistryClient``, so any Confluent-API registry works. The framing itself is done
here rather than with ``AvroDeserializer`` because the worker must tell *why* a record is
unreadable (wrong magic byte, unknown schema id, corrupt body): each is a distinct DLQ
reason. Writer schemas are parsed once per id and cached.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from riskrelay.errors import DecodeError, RegistryError
from riskrelay.kafka.config import registry_client_config
from riskrelay.schemas import parsed_schema, schema_text
from riskrelay.schemas.writers import record_writer
from riskrelay.settings import RegistrySettings

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
WIRE_HEADER_SIZE = _HEADER.size


def subject_for(topic: str) -> str:
    """TopicNameStrategy, the Confluent default: one value schema per topic."""
    return f"{topic}-value"


def registry_client(url: str, registry: RegistrySettings | None = None) -> SchemaRegistryClient:
    """With the registry's basic auth and TLS settings (``registry`` or the environment's)."""
    return SchemaRegistryClient(registry_client_config(url, registry))


class AvroEncoder:
    """Encodes dicts for one topic with one registered schema (registered once, at start),
    the body by the contract's writer (``schemas.writers.record_writer``)."""

    def __init__(self, client: SchemaRegistryClient, topic: str, schema_name: str) -> None:
        self._write = record_writer(schema_name)
        try:
            self.schema_id: int = client.register_schema(
                subject_for(topic), Schema(schema_text(schema_name), "AVRO")
            )
        except SchemaRegistryError as exc:
            raise RegistryError(
                f"registry refused schema {schema_name} for {topic}: {exc.error_message}"
            ) from exc
        except Exception as exc:  # network errors surface as httpx exceptions
            raise RegistryError(f"schema registry unreachable: {exc}") from exc
        self._header = _HEADER.pack(MAGIC_BYTE, self.schema_id)

    def encode(self, record: dict[str, Any]) -> bytes:
        return self._header + self._write(record)


class AvroDecoder:
    """Decodes wire-format records into the reader schema ``schema_name`` (schema evolution:
    any registered writer version compatible with it is resolved by fastavro)."""

    def __init__(self, client: SchemaRegistryClient, schema_name: str) -> None:
        self._client = client
        self._reader = parsed_schema(schema_name)
        self._writers: dict[int, Any] = {}
        self._resolve: dict[int, Any] = {}

    def _writer(self, schema_id: int) -> Any:
        writer = self._writers.get(schema_id)
        if writer is None:
            try:
                registered = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise DecodeError(
                        f"schema id {schema_id} is not in the registry", reason="unknown_schema"
                    ) from exc
                raise RegistryError(f"schema registry error: {exc.error_message}") from exc
            except Exception as exc:
                raise RegistryError(f"schema registry unreachable: {exc}") from exc
            if registered.schema_type not in (None, "AVRO"):
                raise DecodeError(
                    f"schema id {schema_id} is {registered.schema_type}, not AVRO",
                    reason="unknown_schema",
                )
            if registered.schema_str is None:
                raise DecodeError(
                    f"schema id {schema_id} has no schema text", reason="unknown_schema"
                )
            writer = fastavro.parse_schema(json.loads(registered.schema_str))
            self._writers[schema_id] = writer
            # Resolution against an identical reader schema only costs time.
            self._resolve[schema_id] = None if writer == self._reader else self._reader
        return writer

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data is None or len(data) < _HEADER.size:
            raise DecodeError("record is empty or shorter than the 5-byte wire-format header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise DecodeError(f"wrong magic byte {magic} (expected 0: Confluent wire format)")
        writer = self._writer(schema_id)
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(body, writer, self._resolve[schema_id])
        except Exception as exc:  # fastavro raises assorted errors on corrupt bodies
            raise DecodeError(
                f"Avro body does not decode with schema id {schema_id}: {type(exc).__name__}: {exc}"
            ) from exc
        if body.tell() != len(data):
            raise DecodeError(
                f"{len(data) - body.tell()} trailing bytes after the Avro body "
                f"(schema id {schema_id})"
            )
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} is not a record schema")
        return record
