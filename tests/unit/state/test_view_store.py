"""The read API's view store, on every backend: snapshots by id, the time index a
retention sweep walks, and the checkpoint written with the records it covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskrelay.errors import ConfigError
from riskrelay.state.view_store import (
    Checkpoint,
    MemoryViewStore,
    RocksViewStore,
    TopicIdentity,
    ViewStore,
    view_store,
)

TOPIC = TopicIdentity("risk.event-state.v1", 3, "AaH/ei3IceKG2Nvq/t3foQ")


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ViewStore:
    backend = view_store(request.param, tmp_path / "view")
    backend.reset(TOPIC)
    return backend


def test_put_get_delete_and_count(store: ViewStore) -> None:
    store.write([("evt-1", b"one", 1_000), ("evt-2", b"two", 2_000)], {0: 2})
    assert store.get("evt-1") == b"one"
    assert store.get("evt-2") == b"two"
    assert store.get("evt-3") is None
    assert len(store) == 2

    store.write([("evt-1", b"one again", 3_000), ("evt-2", None, 0), ("evt-9", None, 0)], {})
    assert store.get("evt-1") == b"one again"
    assert store.get("evt-2") is None
    assert len(store) == 1, "a rewrite is not a new event; removing a missing id is nothing"
    store.close()


def test_an_id_written_twice_in_one_batch_counts_once(store: ViewStore) -> None:
    store.write([("e", b"1", 1), ("e", b"2", 2), ("f", b"1", 1), ("f", None, 0)], {})
    assert store.get("e") == b"2"
    assert store.get("f") is None
    assert len(store) == 1
    assert store.expired(10, 100) == [("e", 2)], "only the last write of e is indexed"
    store.close()


def test_expired_walks_the_time_index_in_order_up_to_the_cutoff(store: ViewStore) -> None:
    store.write([("late", b"x", 5_000), ("early", b"x", 1_000), ("middle", b"x", 3_000)], {})
    assert store.expired(3_000, 100) == [("early", 1_000), ("middle", 3_000)]
    assert store.expired(10_000, 2) == [("early", 1_000), ("middle", 3_000)]
    assert store.expired(999, 100) == []

    # Rewritten later: the old time must not bring it back into a sweep.
    store.write([("early", b"y", 9_000)], {})
    assert store.expired(5_000, 100) == [("middle", 3_000), ("late", 5_000)]
    store.write([("middle", None, 0)], {})
    assert store.expired(5_000, 100) == [("late", 5_000)]
    store.close()


def test_the_checkpoint_moves_with_each_write(store: ViewStore) -> None:
    assert store.checkpoint() == Checkpoint(TOPIC, {}, 0)
    store.write([("a", b"1", 1)], {0: 5, 1: 3})
    store.write([("b", b"1", 1)], {1: 8})
    assert store.checkpoint() == Checkpoint(TOPIC, {0: 5, 1: 8}, 2)
    other = TopicIdentity("other-topic", 6)
    store.reset(other)
    assert store.checkpoint() == Checkpoint(other, {}, 0)
    assert store.get("a") is None
    assert len(store) == 0
    store.close()


def test_rocksdb_keeps_events_and_checkpoint_across_a_reopen(tmp_path: Path) -> None:
    first = RocksViewStore(tmp_path)
    assert first.checkpoint() is None, "a new directory has nothing to resume from"
    first.reset(TOPIC)
    first.write([("a", b"body-a", 1_000), ("b", b"body-b", 2_000)], {0: 1, 2: 7})
    first.close()

    second = RocksViewStore(tmp_path)
    assert second.checkpoint() == Checkpoint(TOPIC, {0: 1, 2: 7}, 2)
    assert second.get("a") == b"body-a"
    assert len(second) == 2
    assert second.expired(1_500, 10) == [("a", 1_000)]
    second.write([("c", b"body-c", 3_000)], {1: 4})
    second.close()

    third = RocksViewStore(tmp_path)
    assert third.checkpoint() == Checkpoint(TOPIC, {0: 1, 1: 4, 2: 7}, 3)
    third.close()


def test_rocksdb_reset_deletes_only_its_own_database(tmp_path: Path) -> None:
    neighbour = tmp_path / "keep.txt"
    neighbour.write_text("not the view's")
    store = RocksViewStore(tmp_path)
    store.reset(TOPIC)
    store.write([("a", b"1", 1)], {0: 1})
    store.reset(TOPIC)
    assert store.get("a") is None
    assert neighbour.read_text() == "not the view's"
    store.close()


def test_rocksdb_refuses_a_directory_another_process_holds(tmp_path: Path) -> None:
    store = RocksViewStore(tmp_path)
    with pytest.raises(ConfigError, match="RISKRELAY_API_VIEW_DIR"):
        RocksViewStore(tmp_path)
    store.close()


@pytest.mark.parametrize("kind", ["memory", "rocksdb"])
def test_writing_before_choosing_a_topic_is_a_bug(kind: str, tmp_path: Path) -> None:
    store = view_store(kind, tmp_path)
    assert isinstance(store, MemoryViewStore if kind == "memory" else RocksViewStore)
    with pytest.raises(RuntimeError):
        store.write([("a", b"1", 1)], {})
    store.close()
