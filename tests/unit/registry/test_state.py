"""Rebuilding state from the schemas topic: last write per key wins, whatever the history."""

from __future__ import annotations

from riskrelay.registry import records
from riskrelay.registry.compatibility import CompatibilityLevel
from riskrelay.registry.records import SchemaRecord
from riskrelay.registry.state import RegistryState
from tests.unit.registry.schemas import V1, V2_WITH_DEFAULT


def replay(*log: records.LogRecord) -> RegistryState:
    state = RegistryState()
    for key, value in log:
        state.apply_log_record(key, value)
    return state


def version(
    subject: str, number: int, schema_id: int, text: str = V1, *, deleted: bool = False
) -> records.LogRecord:
    return records.encode_schema(SchemaRecord(subject, number, schema_id, text, deleted=deleted))


def test_keys_are_deterministic_bytes_in_confluent_shape() -> None:
    assert records.schema_key("s-value", 3) == (
        b'{"keytype":"SCHEMA","subject":"s-value","version":3,"magic":1}'
    )
    assert records.config_key(None) == b'{"keytype":"CONFIG","subject":null,"magic":0}'


def test_later_records_for_a_key_replace_earlier_ones() -> None:
    state = replay(
        version("a", 1, 1),
        records.encode_config("a", "FULL"),
        version("a", 1, 1, deleted=True),
        records.encode_config("a", "NONE"),
    )
    assert state.versions("a") == []
    assert [r.deleted for r in state.versions("a", deleted=True)] == [True]
    assert state.config("a") is CompatibilityLevel.NONE
    assert state.subjects() == []
    assert state.subjects(deleted=True) == ["a"]


def test_the_same_schema_in_two_subjects_has_one_id() -> None:
    state = replay(version("a", 1, 1), version("b", 1, 1), version("b", 2, 2, V2_WITH_DEFAULT))
    parsed = state.parse(V1)
    assert state.id_for(parsed) == 1
    assert [(r.subject, r.version) for r in state.usages(1)] == [("a", 1), ("b", 1)]
    assert state.max_id == 2


def test_soft_deleted_versions_keep_their_numbers_and_ids() -> None:
    state = replay(version("a", 1, 1, deleted=True))
    assert state.next_version("a") == 2
    assert state.schema_by_id(1) is not None


def test_tombstones_remove_versions_and_unused_ids() -> None:
    state = replay(
        version("a", 1, 1),
        version("b", 1, 1),
        (records.schema_key("a", 1), None),
    )
    assert state.schema_by_id(1) is not None  # still used by b
    state.apply_log_record(records.schema_key("b", 1), None)
    assert state.schema_by_id(1) is None
    assert state.id_for(state.parse(V1)) is None
    assert not state.has_subject("a")
    assert state.next_version("a") == 1


def test_id_high_watermark_survives_compaction_of_tombstoned_schemas() -> None:
    # What a compacted topic holds after "a" v1 (id 7) was hard-deleted.
    state = replay(records.encode_id_hwm(7), (records.schema_key("a", 1), None))
    assert state.max_id == 7


def test_config_tombstones_fall_back() -> None:
    state = replay(records.encode_config(None, "FULL"), records.encode_config(None, None))
    assert state.config(None) is None


def test_unreadable_and_foreign_records_are_skipped() -> None:
    state = replay(
        (b"not json", b"{}"),
        (b'{"keytype":"NOOP","magic":0}', None),
        (b'{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}', b'{"subject":"a"}'),
        version("b", 1, 4, '{"type": "nope"}'),
        (b'{"keytype":"CONFIG","subject":null,"magic":0}', b'{"compatibilityLevel":"ODD"}'),
        version("c", 1, 2),
    )
    assert state.subjects() == ["c"]
    assert state.max_id == 4  # an unparseable schema still reserves its id
    assert state.config(None) is None
