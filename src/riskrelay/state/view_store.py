"""Where the read API keeps its view of every event: snapshot bytes by event id.

The values are Avro bodies in ``event_state.avsc`` (no wire-format header), as the
worker's ``StateStore`` keeps them, decoded only when a request asks for one. Next to
them each backend keeps:

- the time of each snapshot (its state record's timestamp), indexed by time, so a
  retention sweep visits only what has expired;
- a checkpoint: which topic (name, partition count, topic id) the view was built from,
  the offset to resume from in each partition, and the number of events. It is written in the same
  batch as the records it covers, so after a crash it never claims more than is stored.

``RocksViewStore`` (default) is RocksDB through ``rocksdict``: millions of events on disk
with flat memory, and a restart resumes from the checkpoint. ``MemoryViewStore`` is a
dict, for tests and small setups; it starts empty, so its view is rebuilt on restart.
Every write comes from one thread (the view's); reads may come from any.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
import rocksdict

from riskrelay.errors import ConfigError

MEMTABLE_BYTES = 8 * 1024 * 1024
"""Twice the worker's (``state.store``): the API has one store to rebuild fast, the worker
three within its memory budget."""

# One write: (event id, snapshot body or None to remove it, its time in epoch ms).
Change = tuple[str, bytes | None, int]

_CHECKPOINT = b"checkpoint"
_TIMES = "times"  # event id -> 8-byte big-endian ms
_EXPIRY = "expiry"  # 8-byte ms + event id -> b"" (ordered by time)
_META = "meta"


@dataclass(frozen=True, slots=True)
class TopicIdentity:
    """Which topic a view was built from. ``topic_id`` is the broker's id of the topic
    (None where the broker has none): a topic deleted and created again has a new one."""

    name: str
    partitions: int
    topic_id: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What the stored view covers; ``positions`` are the next offsets to read."""

    topic: TopicIdentity
    positions: dict[int, int] = field(default_factory=dict)
    events: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "topic": self.topic.name,
                "partitions": self.topic.partitions,
                "topic_id": self.topic.topic_id,
                "positions": {str(p): o for p, o in self.positions.items()},
                "events": self.events,
            }
        )

    def moved(self, positions: Mapping[int, int], events: int) -> Checkpoint:
        return Checkpoint(self.topic, {**self.positions, **positions}, events)

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        raw = orjson.loads(data)
        return cls(
            TopicIdentity(raw["topic"], int(raw["partitions"]), raw.get("topic_id")),
            {int(p): int(o) for p, o in raw["positions"].items()},
            int(raw["events"]),
        )


class ViewStore(Protocol):
    def get(self, event_id: str) -> bytes | None: ...

    def write(self, changes: Sequence[Change], positions: Mapping[int, int]) -> None:
        """Apply ``changes`` in order and move the checkpoint to ``positions``, atomically."""

    def expired(self, cutoff_ms: int, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` (event id, time ms), oldest first, with a time at or before
        ``cutoff_ms``."""

    def checkpoint(self) -> Checkpoint | None: ...

    def reset(self, topic: TopicIdentity) -> None:
        """Forget every event: the view is rebuilt from the beginning of ``topic``."""

    def __len__(self) -> int: ...

    def close(self) -> None: ...


_STAMP = struct.Struct(">Q")


def _ms(value: int) -> bytes:
    return _STAMP.pack(max(value, 0))


class MemoryViewStore:
    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}
        self._times: dict[str, int] = {}
        self._checkpoint: Checkpoint | None = None

    def get(self, event_id: str) -> bytes | None:
        return self._bodies.get(event_id)

    def write(self, changes: Sequence[Change], positions: Mapping[int, int]) -> None:
        if self._checkpoint is None:
            raise RuntimeError("reset() the view store before writing to it")
        for event_id, body, time_ms in changes:
            if body is None:
                self._bodies.pop(event_id, None)
                self._times.pop(event_id, None)
            else:
                self._bodies[event_id] = body
                self._times[event_id] = time_ms
        self._checkpoint = self._checkpoint.moved(positions, len(self._bodies))

    def expired(self, cutoff_ms: int, limit: int) -> list[tuple[str, int]]:
        # A scan: this backend is for views small enough to hold as Python objects.
        found = sorted((ms, event_id) for event_id, ms in self._times.items() if ms <= cutoff_ms)
        return [(event_id, ms) for ms, event_id in found[:limit]]

    def checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    def reset(self, topic: TopicIdentity) -> None:
        self._bodies.clear()
        self._times.clear()
        self._checkpoint = Checkpoint(topic)

    def __len__(self) -> int:
        return len(self._bodies)

    def close(self) -> None:
        self._bodies.clear()
        self._times.clear()


class RocksViewStore:
    """Snapshots in the default column family under their event id (UTF-8), in
    ``<directory>/view`` (the only path it ever deletes, on ``reset``)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory / "view"
        self._open()

    def _open(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        options = _options(bloom=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        # Every write is a batch that covers several column families; with the WAL off,
        # flushing them together is what keeps a checkpoint and its records in step.
        options.set_atomic_flush(True)
        options.set_db_write_buffer_size(MEMTABLE_BYTES * 2)
        families = {_TIMES: _options(bloom=True), _EXPIRY: _options(), _META: _options()}
        try:
            self._db = rocksdict.Rdict(str(self._dir), options=options, column_families=families)
        except Exception as exc:  # rocksdict raises a bare Exception (e.g. the lock is held)
            raise ConfigError(
                f"cannot open the API view store in {self._dir} (RISKRELAY_API_VIEW_DIR: one "
                f"directory per API process): {exc}"
            ) from exc
        # No write-ahead log: the topic is the log. A crash loses what was applied since the
        # last flush, checkpoint included, so a restart reads that part of the topic again.
        self._write_options = rocksdict.WriteOptions()
        # A property at run time, whatever rocksdict's stub says.
        self._write_options.disable_wal = True  # type: ignore[method-assign,assignment]
        self._times = self._db.get_column_family(_TIMES)
        self._expiry = self._db.get_column_family(_EXPIRY)
        self._meta = self._db.get_column_family(_META)
        stored = self._meta.get(_CHECKPOINT)
        self._checkpoint = None if stored is None else Checkpoint.decode(bytes(stored))
        self._events = 0 if self._checkpoint is None else self._checkpoint.events

    def get(self, event_id: str) -> bytes | None:
        value = self._db.get(event_id.encode())
        return None if value is None else bytes(value)

    def write(self, changes: Sequence[Change], positions: Mapping[int, int]) -> None:
        if self._checkpoint is None:
            raise RuntimeError("reset() the view store before writing to it")
        times = self._db.get_column_family_handle(_TIMES)
        expiry = self._db.get_column_family_handle(_EXPIRY)
        batch = rocksdict.WriteBatch(raw_mode=True)
        events = self._events
        keys = [event_id.encode() for event_id, _, _ in changes]
        # The stored times of all ids at once (one call), then those written in this batch.
        stored = cast(list[bytes | None], self._times.get(cast(list[Any], keys))) if keys else []
        written: dict[bytes, bytes | None] = {}
        for key, before, (_, body, time_ms) in zip(keys, stored, changes, strict=True):
            old = written.get(key, before)
            if old is not None:
                batch.delete(old + key, expiry)
            if body is None:
                if old is not None:
                    events -= 1
                    batch.delete(key)
                    batch.delete(key, times)
                written[key] = None
                continue
            if old is None:
                events += 1
            stamp = _ms(time_ms)
            batch.put(key, body)
            batch.put(key, stamp, times)
            batch.put(stamp + key, b"", expiry)
            written[key] = stamp
        checkpoint = self._checkpoint.moved(positions, events)
        batch.put(_CHECKPOINT, checkpoint.encode(), self._db.get_column_family_handle(_META))
        self._db.write(batch, self._write_options)
        self._checkpoint = checkpoint
        self._events = events

    def expired(self, cutoff_ms: int, limit: int) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for key in self._expiry.keys(from_key=b""):
            entry = bytes(key)  # type: ignore[arg-type]  # raw mode: always bytes
            stamp = int.from_bytes(entry[:8], "big")
            if stamp > cutoff_ms or len(found) >= limit:
                break
            found.append((entry[8:].decode(), stamp))
        return found

    def checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    def reset(self, topic: TopicIdentity) -> None:
        """Delete the database and start a new one (a range delete would leave
        tombstones for every later read to skip)."""
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        self._open()
        checkpoint = Checkpoint(topic)
        self._meta[_CHECKPOINT] = checkpoint.encode()
        self._checkpoint = checkpoint

    def __len__(self) -> int:
        return self._events

    def close(self) -> None:
        for family in (self._times, self._expiry, self._meta):
            family.close()
        self._db.close()


def _options(bloom: bool = False) -> rocksdict.Options:
    options = rocksdict.Options(raw_mode=True)
    # Memtables capped, as in the worker's stores: the process keeps its memory for serving.
    options.set_write_buffer_size(MEMTABLE_BYTES)
    options.set_max_write_buffer_number(2)
    if bloom:  # point lookups of ids that are not there (404s, new ids) skip the files
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
    return options


def view_store(kind: str, directory: Path) -> ViewStore:
    """The backend ``RISKRELAY_API_VIEW_STORE`` names (``rocksdb`` or ``memory``)."""
    return RocksViewStore(directory) if kind == "rocksdb" else MemoryViewStore()
