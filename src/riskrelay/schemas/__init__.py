"""The Avro contracts in ``schemas/*.avsc``, loaded by name.

Installed wheels carry them as package data (``riskrelay/_avsc``); an editable checkout
reads the top-level ``schemas/`` folder, so there is one copy of each contract.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_NAMES = (
    "lifecycle",
    "payment",
    "evaluation",
    "normalized",
    "event_state",
    "delivery_result",
    "dlq",
    "identity",
)


def _schema_dir() -> Path:
    packaged = resources.files("riskrelay") / "_avsc"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "schemas"


def schema_text(name: str) -> str:
    """The .avsc source of a contract, as registered in the schema registry."""
    return (_schema_dir() / f"{name}.avsc").read_text()


@cache
def parsed_schema(name: str) -> Any:
    """fastavro's parsed form, cached: parsing is the costly part."""
    return fastavro.parse_schema(json.loads(schema_text(name)))
