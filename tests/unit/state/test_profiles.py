"""The profile table's write-back cache: what reaches the store and the changelog, when."""

from __future__ import annotations

from riskrelay.models import AvroRecord
from riskrelay.state.profiles import ProfileTable
from riskrelay.state.store import MemoryBytesStore


def profile(subject: str, n: int) -> AvroRecord:
    return {"subject_id": subject, "n": n, "devices": [f"dev-{n}"], "applied_signals": [b"[]"]}


class Changelog:
    def __init__(self) -> None:
        self.records: list[tuple[int, str, AvroRecord]] = []

    def write(self, partition: int, subject_id: str, record: AvroRecord) -> None:
        self.records.append((partition, subject_id, record))


def test_a_flush_writes_each_changed_profile_once_with_its_latest_version() -> None:
    table = ProfileTable(MemoryBytesStore(), cache_size=10)
    log = Changelog()
    table.put(0, "a", profile("a", 1))
    table.put(0, "a", profile("a", 2))
    table.put(1, "b", profile("b", 1))
    assert table.get(0, "a") == profile("a", 2)
    assert table.flush(log.write) == 2
    assert log.records == [(0, "a", profile("a", 2)), (1, "b", profile("b", 1))]
    assert table.flush(log.write) == 0  # nothing changed since


def test_profiles_reach_the_store_when_they_leave_the_cache() -> None:
    store = MemoryBytesStore()
    table = ProfileTable(store, cache_size=2)
    for n, subject in enumerate(("a", "b", "c")):
        table.put(0, subject, profile(subject, n))
    assert store.size() == 1  # "a" was evicted, and stored
    table.flush(Changelog().write)
    # Read back from the store (decoded again), the same profile.
    assert table.get(0, "a") == profile("a", 0)
    assert table.get(0, "b") == profile("b", 1)


def test_a_cache_of_none_stores_every_put_and_still_flushes_each() -> None:
    store = MemoryBytesStore()
    table = ProfileTable(store, cache_size=0)
    log = Changelog()
    table.put(0, "a", profile("a", 1))
    assert store.size() == 1
    assert table.get(0, "a") == profile("a", 1)
    assert table.flush(log.write) == 1


def test_drop_forgets_a_partition_and_its_unflushed_changes() -> None:
    store = MemoryBytesStore()
    table = ProfileTable(store, cache_size=10)
    log = Changelog()
    table.put(0, "a", profile("a", 1))
    table.put(1, "b", profile("b", 1))
    table.drop(0)
    assert table.get(0, "a") is None
    assert table.flush(log.write) == 1
    assert log.records == [(1, "b", profile("b", 1))]


def test_a_restored_record_replaces_what_the_cache_held() -> None:
    table = ProfileTable(MemoryBytesStore(), cache_size=10)
    table.put(0, "a", profile("a", 1))
    table.flush(Changelog().write)
    table.apply(0, "a", profile("a", 7))
    assert table.get(0, "a") == profile("a", 7)
    assert table.get(0, "missing") is None
