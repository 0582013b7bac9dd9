"""The JSON records of the schemas topic, shaped like Confluent's ``_schemas`` records.

Keys are serialized deterministically (fixed field order, compact) because log compaction
and "last write per key wins" compare key *bytes*. A ``None`` value is a tombstone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA = "SCHEMA"
CONFIG = "CONFIG"
ID_HWM = "ID_HWM"

LogRecord = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class SchemaRecord:
    """One subject version. ``deleted`` marks a soft delete (the id stays resolvable)."""

    subject: str
    version: int
    id: int
    schema: str
    schema_type: str = "AVRO"
    deleted: bool = False


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def schema_key(subject: str, version: int) -> bytes:
    return _dump({"keytype": SCHEMA, "subject": subject, "version": version, "magic": 1})


def config_key(subject: str | None) -> bytes:
    """``subject=None`` is the global config."""
    return _dump({"keytype": CONFIG, "subject": subject, "magic": 0})


def id_hwm_key() -> bytes:
    """Highest id ever assigned, written before hard deletes so compaction cannot lower it."""
    return _dump({"keytype": ID_HWM, "magic": 0})


def encode_schema(record: SchemaRecord) -> LogRecord:
    value: dict[str, Any] = {
        "subject": record.subject,
        "version": record.version,
        "id": record.id,
        "schema": record.schema,
        "deleted": record.deleted,
    }
    if record.schema_type != "AVRO":
        value["schemaType"] = record.schema_type
    return schema_key(record.subject, record.version), _dump(value)


def encode_config(subject: str | None, level: str | None) -> LogRecord:
    """``level=None`` deletes the config (tombstone)."""
    value = None if level is None else _dump({"compatibilityLevel": level})
    return config_key(subject), value


def encode_id_hwm(max_id: int) -> LogRecord:
    return id_hwm_key(), _dump({"max_id": max_id})


def decode(key: bytes, value: bytes | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Parse one record; raises ``ValueError`` for anything that is not a JSON object."""
    parsed_key = json.loads(key)
    parsed_value = None if value is None else json.loads(value)
    if not isinstance(parsed_key, dict) or not (
        parsed_value is None or isinstance(parsed_value, dict)
    ):
        raise ValueError("record key and value must be JSON objects")
    return parsed_key, parsed_value


def schema_record_from(value: dict[str, Any]) -> SchemaRecord:
    return SchemaRecord(
        subject=str(value["subject"]),
        version=int(value["version"]),
        id=int(value["id"]),
        schema=str(value["schema"]),
        schema_type=str(value.get("schemaType") or "AVRO"),
        deleted=bool(value.get("deleted", False)),
    )
