from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskrelay.models import Envelope, Family, Operation, SourcePosition
from riskrelay.state.snapshot import delivery_entry, with_completed
from riskrelay.state.store import (
    MemoryStateStore,
    RocksBytesStore,
    RocksStateStore,
    SnapshotCodec,
    StateStore,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def snapshot(event_id: str, partition: int) -> dict[str, object]:
    envelope = Envelope(
        event_id=event_id,
        subject_id="user-1",
        family=Family.LIFECYCLE,
        kind="sign_in",
        operation=Operation.CREATE,
        upsert_on_conflict=False,
        occurred_at=NOW,
        source=SourcePosition("risk.lifecycle.v1", partition, 7),
    )
    deliveries = [delivery_entry("unit21", "DELIVERED", 1, 200, event_id, None, NOW)]
    return with_completed(None, envelope, 1, '{"a": 1}', deliveries, [], NOW)


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "memory":
        return MemoryStateStore()
    return RocksStateStore(tmp_path / "rocks")


def test_put_get_round_trip_and_missing_ids(store: StateStore) -> None:
    state = snapshot("evt-1", 2)
    store.put(2, "evt-1", state)
    assert store.get(2, "evt-1") == state
    assert store.get(2, "evt-2") is None
    assert store.get(3, "evt-1") is None, "partitions must not see each other's ids"
    store.close()


def test_encoded_snapshots_are_stored_as_given(store: StateStore) -> None:
    state = snapshot("evt-9", 1)
    store.put_encoded(1, "evt-9", SnapshotCodec().encode(state))
    assert store.get(1, "evt-9") == state
    store.close()


def test_dropping_a_partition_forgets_only_its_ids(store: StateStore) -> None:
    for partition in (1, 2, 10):
        store.put(partition, "evt", snapshot("evt", partition))
    store.drop(1)
    assert store.get(1, "evt") is None
    assert store.get(2, "evt") is not None
    assert store.get(10, "evt") is not None, "dropping 1 must not drop 10"
    store.close()


def test_a_scratch_directory_is_removed_on_close() -> None:
    backend = RocksBytesStore()
    store = StateStore(backend)
    directory = backend._dir
    store.put(0, "e", snapshot("e", 0))
    store.close()
    assert not directory.exists()
