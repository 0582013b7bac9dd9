"""Compatibility levels against Avro's reader/writer rules, without HTTP or Kafka."""

from __future__ import annotations

import avro.schema
import pytest

from riskrelay.registry.compatibility import (
    CompatibilityLevel,
    PreviousVersion,
    check_compatibility,
    parse_level,
)
from riskrelay.registry.errors import INVALID_COMPATIBILITY_LEVEL, RegistryApiError
from tests.unit.registry.schemas import (
    AMOUNT,
    CURRENCY_DEFAULT,
    CURRENCY_REQUIRED,
    ID,
    V1,
    V2_REQUIRED,
    V2_WITH_DEFAULT,
    record,
)

Level = CompatibilityLevel


def previous(*texts: str) -> list[PreviousVersion]:
    return [PreviousVersion(n, avro.schema.parse(t)) for n, t in enumerate(texts, start=1)]


def check(level: Level, new: str, *old: str) -> list[str]:
    return check_compatibility(level, avro.schema.parse(new), previous(*old))


def test_backward_accepts_a_new_field_with_default() -> None:
    assert check(Level.BACKWARD, V2_WITH_DEFAULT, V1) == []


def test_backward_rejects_a_new_required_field_naming_it() -> None:
    messages = check(Level.BACKWARD, V2_REQUIRED, V1)
    assert messages == [
        "version 1 (BACKWARD): READER_FIELD_MISSING_DEFAULT_VALUE at '/fields/2': the field "
        "'currency' in the new schema has no default value and is missing in the old schema"
    ]


def test_forward_checks_that_the_old_schema_reads_new_data() -> None:
    # Removing a field the old reader needs (no default there) breaks FORWARD only.
    assert check(Level.BACKWARD, record(ID), record(ID, AMOUNT)) == []
    messages = check(Level.FORWARD, record(ID), record(ID, AMOUNT))
    assert len(messages) == 1
    assert "'amount' in the old schema has no default value" in messages[0]


def test_full_needs_both_directions() -> None:
    assert check(Level.FULL, V2_WITH_DEFAULT, V1) == []
    assert check(Level.FULL, V2_REQUIRED, V1) != []
    assert check(Level.FULL, record(ID), record(ID, AMOUNT)) != []


def test_type_change_is_reported_with_both_types() -> None:
    messages = check(Level.BACKWARD, record(ID, {"name": "amount", "type": "string"}), V1)
    assert len(messages) == 1
    assert "TYPE_MISMATCH at '/fields/1/type'" in messages[0]
    assert "reader type: string not compatible with writer type: long" in messages[0]


def test_int_to_long_promotion_is_backward_compatible() -> None:
    old = record(ID, {"name": "amount", "type": "int"})
    assert check(Level.BACKWARD, V1, old) == []
    assert check(Level.FORWARD, V1, old) != []


def test_transitive_levels_check_every_version_plain_ones_only_the_latest() -> None:
    v1, v2, v3 = record(ID), record(ID, CURRENCY_DEFAULT), record(ID, CURRENCY_REQUIRED)
    assert check(Level.BACKWARD, v3, v1, v2) == []
    messages = check(Level.BACKWARD_TRANSITIVE, v3, v1, v2)
    assert len(messages) == 1
    assert messages[0].startswith("version 1 (BACKWARD_TRANSITIVE): READER_FIELD_MISSING")


def test_none_and_first_version_are_always_compatible() -> None:
    assert check(Level.NONE, record(ID, {"name": "id2", "type": "int"}), V1) == []
    assert check(Level.FULL_TRANSITIVE, V2_REQUIRED) == []


def test_record_rename_is_a_name_mismatch() -> None:
    messages = check(Level.BACKWARD, record(ID, AMOUNT, name="Other"), V1)
    assert len(messages) == 1
    assert "NAME_MISMATCH" in messages[0]


@pytest.mark.parametrize("text", ["backward", "FULL_TRANSITIVE", "None"])
def test_levels_parse_case_insensitively(text: str) -> None:
    assert parse_level(text).value == text.upper()


@pytest.mark.parametrize("value", ["SIDEWAYS", "", None, 3])
def test_unknown_levels_are_42203(value: object) -> None:
    with pytest.raises(RegistryApiError) as caught:
        parse_level(value)
    assert (caught.value.status, caught.value.error_code) == (422, INVALID_COMPATIBILITY_LEVEL)


def test_several_findings_are_listed_together() -> None:
    messages = check(Level.BACKWARD, record(ID, AMOUNT, CURRENCY_REQUIRED, name="Other"), V1)
    assert len(messages) == 1
    assert messages[0].startswith(
        "version 1 (BACKWARD): 2 incompatibilities "
        "(NAME_MISMATCH, READER_FIELD_MISSING_DEFAULT_VALUE) reading old data with the new schema"
    )
    assert "'currency'" in messages[0]
    assert "'expected: test.v1.Payment'" in messages[0]
