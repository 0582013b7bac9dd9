"""Avro schemas the registry tests register: a record and its evolutions."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import Schema


def record(*fields: dict[str, Any], name: str = "Payment", namespace: str = "test.v1") -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": namespace, "fields": list(fields)}
    )


ID = {"name": "id", "type": "string"}
AMOUNT = {"name": "amount", "type": "long"}
CURRENCY_DEFAULT = {"name": "currency", "type": "string", "default": "USD"}
CURRENCY_REQUIRED = {"name": "currency", "type": "string"}

V1 = record(ID, AMOUNT)
V2_WITH_DEFAULT = record(ID, AMOUNT, CURRENCY_DEFAULT)
V2_REQUIRED = record(ID, AMOUNT, CURRENCY_REQUIRED)


def avro(text: str) -> Schema:
    return Schema(text, "AVRO")
