"""Compatibility levels and checks, delegated to Apache Avro's reader/writer checker.

BACKWARD: the new schema (reader) reads data written with the previous one (writer).
FORWARD: the previous schema reads data written with the new one. FULL: both.
``*_TRANSITIVE``: against every earlier version instead of only the latest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from riskrelay.registry.errors import invalid_compatibility_level


class CompatibilityLevel(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


DEFAULT_LEVEL = CompatibilityLevel.BACKWARD


def parse_level(value: object) -> CompatibilityLevel:
    """Case-insensitive, as Confluent accepts ``backward`` as well as ``BACKWARD``."""
    if isinstance(value, str):
        try:
            return CompatibilityLevel(value.upper())
        except ValueError:
            pass
    raise invalid_compatibility_level(value)


@dataclass(frozen=True)
class PreviousVersion:
    version: int
    schema: Any  # avro.schema.Schema


_DESCRIPTIONS = {
    "reader_field_missing_default_value": (
        "the field {detail} in the {reader} schema has no default value "
        "and is missing in the {writer} schema"
    ),
    "type_mismatch": "a type in the {reader} schema does not match the {writer} schema ({detail})",
    "name_mismatch": "the name of a type changed from the {writer} schema ({detail})",
    "missing_enum_symbols": (
        "the {reader} schema lacks enum symbols {detail} of the {writer} schema"
    ),
    "missing_union_branch": (
        "the {reader} schema lacks a union branch of the {writer} schema ({detail})"
    ),
    "fixed_size_mismatch": "a fixed type changed size ({detail})",
}


def _check_pair(reader: Any, writer: Any, reader_role: str, writer_role: str) -> str | None:
    """One reader/writer check: ``None`` if compatible, else what breaks and where.

    Avro merges several findings into unordered sets of messages and paths, so only a
    single finding gets a sentence; several are listed together.
    """
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return None
    detail = ", ".join(repr(m) for m in sorted(result.messages))
    paths = ", ".join(repr(p) for p in sorted(result.locations))
    kinds = [kind.value for kind in result.incompatibilities]
    if len(kinds) == 1:
        text = _DESCRIPTIONS.get(kinds[0], "{detail}").format(
            detail=detail, reader=reader_role, writer=writer_role
        )
        return f"{kinds[0].upper()} at {paths}: {text}"
    names = ", ".join(k.upper() for k in sorted(set(kinds)))
    return (
        f"{len(kinds)} incompatibilities ({names}) reading {writer_role} data with the "
        f"{reader_role} schema, at {paths}: {detail}"
    )


def check_compatibility(
    level: CompatibilityLevel,
    new_schema: Any,
    previous: Sequence[PreviousVersion],
    *,
    all_given: bool = False,
) -> list[str]:
    """Messages explaining every incompatibility; empty means compatible.

    ``previous`` is oldest first. Non-transitive levels look at the last one only, unless
    ``all_given`` (the caller already chose the versions, e.g. one named version).
    """
    if level is CompatibilityLevel.NONE or not previous:
        return []
    targets = previous if (level.transitive or all_given) else previous[-1:]
    messages: list[str] = []
    for old in targets:
        found = [
            _check_pair(new_schema, old.schema, "new", "old") if level.checks_backward else None,
            _check_pair(old.schema, new_schema, "old", "new") if level.checks_forward else None,
        ]
        messages += [f"version {old.version} ({level.value}): {m}" for m in found if m]
    return messages
