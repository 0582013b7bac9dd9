"""The state topic an API bench reads: ``events`` snapshots as the worker writes them.

Every snapshot is a real one (normalized demo events, ``with_completed``/``with_pending``,
Avro through the registry) of about the worker's size. Encoding a million of them with
fastavro would take the bench longer than the view takes to read them, so a pool of
templates is encoded once and each record gets its own id spliced in: ``event_id`` is the
schema's first field and every bench id has the same length, so the bytes after it are
the template's, unchanged.

Ids say what the API must answer, so the load generator can check every response:
``bench-api-<9 digits>`` below ``events`` exists (423 when ``index % 10 == LOCKED``,
else 200, with an update pending when ``index % 10 == UPDATING``); ``bench-none-…`` ids
were never written (404).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, Message, Producer

from riskrelay.decode.avro import WIRE_HEADER_SIZE, AvroEncoder, registry_client
from riskrelay.dev.demo import lifecycle_event
from riskrelay.errors import BrokerError
from riskrelay.kafka.config import producer_config
from riskrelay.models import AvroRecord, Envelope, Family, Operation, SourcePosition
from riskrelay.normalize.dispatch import normalize
from riskrelay.state.snapshot import delivery_entry, with_completed, with_pending

TEMPLATES = 60  # a multiple of 10 (the answer kinds) and of len(KINDS)
LOCKED = 9  # index % 10: first version in flight (423)
UPDATING = 8  # index % 10: version 1 served while version 2 is in flight
KINDS = ("SIGN_IN", "SIGN_IN", "SIGN_UP", "SIGN_IN_FAILURE", "BUYER_CHALLENGE", "PROFILE_CHANGE")
_ID_WIDTH = 9
Progress = Callable[[int], None]


def event_id(index: int) -> str:
    return f"bench-api-{index:0{_ID_WIDTH}d}"


def unknown_id(index: int) -> str:
    return f"bench-none-{index:0{_ID_WIDTH}d}"


def expected_status(index: int) -> int:
    return 423 if index % 10 == LOCKED else 200


def _snapshot(rng: random.Random, index: int, now: datetime) -> AvroRecord:
    subject = f"user-{index:06d}"
    event = lifecycle_event(rng, subject, KINDS[index % len(KINDS)], now)
    event["event_id"] = event_id(index)
    source = SourcePosition("risk.lifecycle.v1", index % 6, index)
    canonical = normalize(Family.LIFECYCLE, event, source, now)
    body = {**canonical.body, "version": 1, "operation": "CREATE"}
    envelope = Envelope(
        event_id=event_id(index),
        subject_id=subject,
        family=Family.LIFECYCLE,
        kind=canonical.envelope.kind,
        operation=Operation.CREATE,
        upsert_on_conflict=False,
        occurred_at=now,
        source=source,
    )
    delivered = [delivery_entry("unit21", "DELIVERED", 1, 200, f"u21-{index}", None, now)]
    if index % 10 == LOCKED:
        return with_pending(None, envelope, 1, [delivery_entry("unit21", "PENDING")], now)
    state = with_completed(None, envelope, 1, orjson.dumps(body).decode(), delivered, [], now)
    if index % 10 == UPDATING:
        return with_pending(state, envelope, 2, [delivery_entry("unit21", "PENDING")], now)
    return state


class SnapshotTemplates:
    """Wire-format snapshots for any bench index, from ``TEMPLATES`` encoded ones."""

    def __init__(self, registry_url: str, topic: str, seed: int = 7) -> None:
        encoder = AvroEncoder(registry_client(registry_url), topic, "event_state")
        rng = random.Random(seed)
        now = datetime.now(UTC)
        # Template i serves every index with the same index % TEMPLATES; TEMPLATES is a
        # multiple of 10, so it also has that index's kind of answer.
        self._parts: list[tuple[bytes, bytes]] = []
        for index in range(TEMPLATES):
            value = encoder.encode(_snapshot(rng, index, now))
            placeholder = event_id(index).encode()
            # Header, then the id's length (one zig-zag varint byte), then the id.
            start = WIRE_HEADER_SIZE + 1
            if value[start : start + len(placeholder)] != placeholder:
                raise AssertionError("event_id is no longer the first field of event_state")
            self._parts.append((value[:start], value[start + len(placeholder) :]))

    def value(self, index: int) -> bytes:
        head, tail = self._parts[index % TEMPLATES]
        return head + event_id(index).encode() + tail


def publish_snapshots(
    bootstrap: str, registry_url: str, topic: str, events: int, progress: Progress
) -> float:
    """Write ``events`` snapshots to ``topic`` and wait for every ack; returns records/s."""
    templates = SnapshotTemplates(registry_url, topic)
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 50, "log_level": 4}))
    errors: list[str] = []

    def done(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(str(error))

    start = time.perf_counter()
    for index in range(events):
        key = event_id(index).encode()
        value = templates.value(index)
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=done)
                break
            except BufferError:  # the local queue is full: let librdkafka send some
                producer.poll(0.05)
        if index % 10_000 == 0:
            producer.poll(0)
            progress(index)
    if producer.flush(300):
        raise BrokerError("bench snapshots not acknowledged within 300 s")
    if errors:
        raise BrokerError(f"{len(errors)} bench snapshots failed: {errors[0]}")
    progress(events)
    return events / max(time.perf_counter() - start, 1e-9)
