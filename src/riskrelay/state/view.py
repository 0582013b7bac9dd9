"""The read side's view of every event, materialized from the state topic.

A background thread applies the topic into a ``ViewStore`` (RocksDB by default: snapshot
bytes on disk, decoded per request, so millions of events cost no Python objects).
``ready`` is set once the view has caught up with the end of the topic as it was at
start, so ``/readyz`` never advertises an instance that would answer 404 for events it
simply has not read yet. The store's checkpoint (next offset per partition, written with
the records it covers) lets a restart read only what is new. A checkpoint of another
topic name, partition count or topic id (the topic was created again), or an offset the
topic no longer has, makes the view rebuild from the beginning instead.

Lag: ``lag()`` compares what the view has written with the topic's end offsets, which
``EndOffsets`` asks for on a thread of its own (see ``view_lag``).

Retention: a snapshot last updated longer ago than the state topic's ``retention.ms`` is
absent, as the topic's own deletion would make it: ``get`` answers ``None`` from the
moment it expires, and the view thread purges it (asked by ``get``, and by a periodic
sweep over the store's time index).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

import fastavro
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, Message, TopicCollection
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro.schema import to_parsing_canonical_form

from riskrelay.decode.avro import MAGIC_BYTE, WIRE_HEADER_SIZE, AvroDecoder
from riskrelay.errors import BrokerError
from riskrelay.kafka.config import client_config
from riskrelay.models import AvroRecord
from riskrelay.schemas import parsed_schema
from riskrelay.state.reader import RawStateReader, StartOffsetLost, state_consumer
from riskrelay.state.store import SnapshotCodec
from riskrelay.state.view_lag import LAG_INTERVAL_S, EndOffsets, ViewLag, records_behind
from riskrelay.state.view_store import Change, TopicIdentity, ViewStore

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000  # expired snapshots purged per pass, so a pass never holds up reads
TRIM_INTERVAL_S = 5.0
NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # the zero UUID, as a broker without ids sends it
# Caught up and nothing new: look again this much later (what a write may take to show).
FOLLOW_IDLE_S = 0.2


def release_free_heap() -> None:
    """Give the heap freed by a catch-up back to the OS. glibc keeps it otherwise: after
    reading 1,000,000 snapshots the API held ~1.2 GB resident of which ~1 GB was free
    (librdkafka's fetch buffers). A no-op where the C library has no ``malloc_trim``."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _topic_id(bootstrap: str, topic: str) -> str | None:
    """The broker's id of ``topic``, or None where it keeps none (noida answers zeros) or
    cannot say (an older broker)."""
    admin = AdminClient(client_config(bootstrap))
    try:
        futures = admin.describe_topics(TopicCollection([topic]), request_timeout=10)
        description = futures[topic].result(timeout=15)
    except Exception:  # librdkafka raises KafkaException; an unknown id is no id
        return None
    value = None if description.topic_id is None else str(description.topic_id)
    return None if value is None or value == NO_TOPIC_ID else value


class SnapshotBodies:
    """Wire-format state records → Avro bodies in the local ``event_state.avsc``.

    A record written with a schema identical to the local one (the usual case: the
    worker writes with it) is kept as its body, undecoded, so a rebuild is bound by
    reading the topic rather than by Avro. Another writer version is decoded (resolved
    to the local schema) and re-encoded.
    """

    def __init__(self, client: SchemaRegistryClient) -> None:
        self._client = client
        self._decoder = AvroDecoder(client, "event_state")
        self._codec = SnapshotCodec()
        self._local = to_parsing_canonical_form(parsed_schema("event_state"))
        self._same: dict[int, bool] = {}

    def body(self, value: bytes) -> bytes:
        if len(value) > WIRE_HEADER_SIZE and value[0] == MAGIC_BYTE:
            schema_id = int.from_bytes(value[1:WIRE_HEADER_SIZE], "big")
            same = self._same.get(schema_id)
            if same is None:
                same = self._same_as_local(schema_id)
            if same:
                return value[WIRE_HEADER_SIZE:]
        return self._codec.encode(self._decoder.decode(value))

    def _same_as_local(self, schema_id: int) -> bool:
        try:
            registered = self._client.get_schema(schema_id)
        except Exception:  # the decoder then says why, as a DecodeError or RegistryError
            return False
        text = registered.schema_str
        writer = None if text is None else fastavro.parse_schema(json.loads(text))
        same = writer is not None and to_parsing_canonical_form(writer) == self._local
        self._same[schema_id] = same
        return same


class StateView:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        bodies: SnapshotBodies,
        store: ViewStore,
        retention_ms: int | None = None,
        sweep_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        lag_interval_s: float = LAG_INTERVAL_S,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._bodies = bodies
        self._store = store
        self._codec = SnapshotCodec()
        # Kafka's convention: a negative retention keeps records forever.
        self._retention_ms = None if retention_ms is None or retention_ms < 0 else retention_ms
        self._sweep_interval_s = sweep_interval_s
        self._clock = clock
        self.ready = threading.Event()
        # Reads go to the store while this is set: once caught up, until a rebuild or stop.
        self._serving = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: RawStateReader | None = None
        self._changes: list[Change] = []
        self._written: dict[int, int] = {}
        self._purge: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._next_sweep = 0.0
        self._next_trim = time.monotonic() + TRIM_INTERVAL_S
        self._ends = EndOffsets(bootstrap, topic, lag_interval_s)
        self._newest_ms = -1  # newest record time in the batch being applied
        self._applied_ms = -1  # newest record time written to the store

    # -- reads (any thread) ------------------------------------------------------------

    def get(self, event_id: str) -> AvroRecord | None:
        if not self._serving.is_set():
            return None
        body = self._store.get(event_id)
        if body is None:
            return None
        state = self._codec.decode(body)
        if self._expired(state):
            self._purge.put(event_id)
            return None
        return state

    def __len__(self) -> int:
        return len(self._store)

    @property
    def records_applied(self) -> int:
        """Records applied since ``start`` (not those a checkpoint already covered)."""
        return 0 if self._reader is None else self._reader.records_applied

    def lag(self) -> ViewLag:
        """Records between what the view has written and the topic's end offsets (as of
        the last ListOffsets answer), and the age of the newest record it applied."""
        expected = self._ends.partitions
        ends = {p: end for p, end in self._ends.ends.items() if p < expected}
        behind = records_behind(ends, self._written, self._ends.starts)
        applied_ms = self._applied_ms
        age = None if applied_ms < 0 else max(0.0, self._clock() - applied_ms / 1000)
        return ViewLag(behind, expected, age)

    def _expired(self, state: AvroRecord) -> bool:
        if self._retention_ms is None:
            return False
        updated: datetime = state["updated_at"]
        return (self._clock() - updated.timestamp()) * 1000 > self._retention_ms

    # -- the view thread (the store's only writer) ---------------------------------------

    def _apply(self, event_id: str, message: Message) -> None:
        value = message.value()
        kind, stamp = message.timestamp()
        if kind == TIMESTAMP_NOT_AVAILABLE or stamp < 0:
            stamp = int(self._clock() * 1000)
        if stamp > self._newest_ms:
            self._newest_ms = stamp
        body = None if value is None else self._bodies.body(value)  # None: a tombstone
        self._changes.append((event_id, body, stamp))

    def _after_batch(self) -> None:
        reader = self._reader
        assert reader is not None
        if self._changes or reader.positions != self._written:
            self._store.write(self._changes, reader.positions)
            self._changes = []
            self._written = dict(reader.positions)
            self._applied_ms = self._newest_ms
        if not self.ready.is_set() and time.monotonic() >= self._next_trim:
            release_free_heap()
            self._next_trim = time.monotonic() + TRIM_INTERVAL_S
        if self._retention_ms is not None:
            self._expire(reader.positions)

    def _expire(self, positions: dict[int, int]) -> None:
        """Purge what reads found expired, and sweep the time index now and then."""
        assert self._retention_ms is not None
        candidates: set[str] = set()
        while not self._purge.empty():
            candidates.add(self._purge.get())
        now = self._clock()
        if now >= self._next_sweep:
            cutoff_ms = int(now * 1000) - self._retention_ms
            found = self._store.expired(cutoff_ms, SWEEP_BATCH)
            candidates.update(event_id for event_id, _ in found)
            # A full batch means more may be waiting: sweep again after the next batch.
            self._next_sweep = now if len(found) == SWEEP_BATCH else now + self._sweep_interval_s
        if not candidates:
            return
        changes: list[Change] = []
        for event_id in sorted(candidates):
            body = self._store.get(event_id)
            if body is None:
                continue
            try:
                state = self._codec.decode(body)
            except Exception as exc:  # fastavro raises assorted errors on corrupt bodies
                log.error("dropping the undecodable snapshot of %s: %r", event_id, exc)
                changes.append((event_id, None, 0))
                continue
            if self._expired(state):
                changes.append((event_id, None, 0))
            else:  # indexed by its record's time, but updated later: look again then
                updated_ms = int(state["updated_at"].timestamp() * 1000)
                changes.append((event_id, body, updated_ms))
        self._store.write(changes, positions)
        purged = sum(1 for _, body, _ in changes if body is None)
        if purged:
            log.info("purged %d snapshots older than the state retention", purged)

    def _topic_identity(self, consumer: Consumer) -> TopicIdentity:
        metadata = consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        if metadata.error is not None or not metadata.partitions:
            raise BrokerError(f"state topic {self._topic} does not exist: {metadata.error}")
        return TopicIdentity(
            self._topic, len(metadata.partitions), _topic_id(self._bootstrap, self._topic)
        )

    def _resume_from(self, topic: TopicIdentity) -> dict[int, int]:
        """The checkpoint's positions if it is this topic's, else an emptied store."""
        checkpoint = self._store.checkpoint()
        if checkpoint is not None and checkpoint.topic == topic:
            log.info("resuming the view from its checkpoint (%d events)", len(self._store))
            return dict(checkpoint.positions)
        was = "no checkpoint" if checkpoint is None else f"checkpoint of {checkpoint.topic}"
        log.info("building the view from the beginning of %s (%s)", topic, was)
        self._rebuild(topic)
        return {}

    def _rebuild(self, topic: TopicIdentity) -> None:
        self._changes = []
        self._written = {}
        if self._reader is not None:
            self._reader.positions.clear()
            self._reader.records_applied = 0
        self._store.reset(topic)

    def _read(self, reader: RawStateReader, partitions: range, start: dict[int, int]) -> None:
        reader.assign(partitions, start)
        began = time.monotonic()
        reader.catch_up(partitions, self._stop)
        if self._stop.is_set():
            return
        log.info(
            "view caught up: %d records applied in %.1fs, %d events",
            reader.records_applied,
            time.monotonic() - began,
            len(self._store),
        )
        release_free_heap()
        self._serving.set()
        self.ready.set()
        reader.follow(self._stop, FOLLOW_IDLE_S)

    def _run(self) -> None:
        consumer = state_consumer(self._bootstrap)
        try:
            topic = self._topic_identity(consumer)
            self._ends.watch(topic.partitions)
            start = self._resume_from(topic)
            self._reader = RawStateReader(consumer, self._topic, self._apply, self._after_batch)
            self._written = dict(start)
            while True:
                try:
                    self._read(self._reader, range(topic.partitions), start)
                    return
                except StartOffsetLost as lost:
                    # Retention deleted it, or the topic was created again (a broker
                    # without topic ids): the store may hold what the topic no longer has.
                    log.warning("%s; rebuilding the view from the beginning", lost)
                    self._serving.clear()
                    self.ready.clear()
                    topic = self._topic_identity(consumer)
                    self._ends.watch(topic.partitions)
                    self._rebuild(topic)
                    start = {}
        except Exception:
            log.exception("the state view stopped")
            raise
        finally:
            # Not ready any more: answering 503 beats answering 404 for every id.
            self._serving.clear()
            self.ready.clear()
            consumer.close()
            self._store.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-view", daemon=True)
        self._thread.start()
        self._ends.start()

    def stop(self) -> None:
        self._stop.set()
        self._ends.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
