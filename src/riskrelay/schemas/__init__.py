"""The Avro contracts in ``schemas/*.avsc``, loaded by name.

Installed wheels carry them as package data (``riskrelay/_avsc``); an editable checkout
reads the top-level ``schemas/`` folder, so there is one copy of each contract.
"""

from __future__ import annotations

import json
from datetime import datetime
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
    "profile",
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


UnionHints = tuple[tuple[str, str, type, "UnionHints"], ...]
_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
# Primitive branches worth naming: those whose value fastavro converts (a datetime to
# epoch time), once to validate it against the branch and once to write it; hinted, it
# converts once. A plain string or number is validated about as fast as a Python
# loop can name its branch, so those are left to fastavro (measured).
_CONVERTED: dict[str, type] = {"timestamp-millis": datetime, "timestamp-micros": datetime}


def _named_records(schema: Any, found: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, list):
        for branch in schema:
            _named_records(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            found.setdefault(schema["name"], schema)
            for field in schema["fields"]:
                _named_records(field["type"], found)
        elif schema.get("type") == "array":
            _named_records(schema["items"], found)
        elif schema.get("type") == "map":
            _named_records(schema["values"], found)
    return found


def _converted_branch(branch: Any) -> tuple[str, type] | None:
    """The tuple-notation name (its underlying type) and Python type of a timestamp."""
    if isinstance(branch, dict) and branch.get("type") == "long":
        python_type = _CONVERTED.get(branch.get("logicalType", ""))
        if python_type is not None:
            return "long", python_type
    return None


def union_hints(schema: Any) -> UnionHints:
    """Where a record's fields are ``["null", <record or timestamp>]`` unions,
    recursively: each field's name, the branch's name in fastavro's tuple notation, the
    Python type a value of that branch has, and for a record branch the hints inside
    that record.

    fastavro picks a union branch by validating the value against each branch in turn,
    which walks the whole nested record before writing it, at every level, and converts
    a timestamp twice. Naming the branch (fastavro's tuple notation, see
    ``with_union_hints``) skips those walks: it halves the encode time of the pipeline's
    biggest records, which are encoded several times per event. A value whose type is
    not exactly the branch's (None included) is left to fastavro's own choice (and
    errors).
    """
    named = _named_records(schema, {})

    def of(record: Any, depth: int) -> UnionHints:
        hints: list[tuple[str, str, type, UnionHints]] = []
        for field in record["fields"]:
            branches = field["type"]
            if not isinstance(branches, list) or len(branches) != 2 or branches[0] != "null":
                continue
            branch = branches[1]
            converted = _converted_branch(branch)
            if converted is not None:
                hints.append((field["name"], converted[0], converted[1], ()))
                continue
            name = branch.get("name") if isinstance(branch, dict) else branch
            target = named.get(name) if isinstance(name, str) else None
            if isinstance(name, str) and target is not None and depth < 8:
                hints.append((field["name"], name, dict, of(target, depth + 1)))
        return tuple(hints)

    return of(schema, 0)


def with_union_hints(record: dict[str, Any], hints: UnionHints) -> Any:
    """A copy of ``record`` whose union values name their branch (only the dicts on
    hinted paths are copied; ``record`` is left as it was)."""
    hinted = dict(record)
    python_type: Any  # a type; typed Any so that the check below keeps value Any
    for name, branch, python_type, inner in hints:
        value: Any = hinted.get(name)
        if type(value) is python_type:
            hinted[name] = (branch, with_union_hints(value, inner) if inner else value)
    return hinted
