"""Bench traffic: valid lifecycle events over a fixed set of subjects, published either
as fast as the broker takes them (a preloaded backlog) or at a fixed pace (for latency).

Events are built from a small pool of realistic templates (``dev.demo.lifecycle_event``)
with only the id, subject and time changed: building each one from scratch would make
the bench's own CPU, not the worker, the limit while preloading a large backlog.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaError, Message, Producer

from riskrelay.decode.avro import AvroEncoder, registry_client
from riskrelay.dev.demo import lifecycle_event
from riskrelay.errors import BrokerError
from riskrelay.kafka.config import producer_config
from riskrelay.models import AvroRecord

# The kinds upstreams send most; every one maps to a Unit21 action event.
KINDS = ("SIGN_IN", "SIGN_IN", "SIGN_IN", "SIGN_IN_FAILURE", "BUYER_CHALLENGE", "PROFILE_CHANGE")
TEMPLATES = 64
Progress = Callable[[int], None]


class EventSource:
    """Event number ``i`` of a phase goes to subject ``i mod subjects``, so every subject
    gets its events in order and ``subjects`` bounds the concurrency a worker can find."""

    def __init__(self, subjects: int, seed: int) -> None:
        rng = random.Random(seed)
        # Sessions start before any event the bench publishes (the contract checks it).
        epoch = datetime.now(UTC) - timedelta(hours=3)
        self._templates = [
            lifecycle_event(rng, "user-0", KINDS[i % len(KINDS)], epoch) for i in range(TEMPLATES)
        ]
        self._subjects = [f"user-{i:06d}" for i in range(subjects)]

    def event(self, tag: str, index: int, when: datetime) -> AvroRecord:
        template = self._templates[index % TEMPLATES]
        return {
            **template,
            "event_id": event_id(tag, index),
            "subject_id": self._subjects[index % len(self._subjects)],
            "occurred_at": when,
        }


def event_id(tag: str, index: int) -> str:
    return f"bench-{tag}-{index:09d}"


class Publisher:
    """One topic's producer: Avro through the registry, keyed by subject, ``acks=all``."""

    def __init__(
        self, bootstrap: str, registry_url: str, topic: str, source: EventSource, linger_ms: int
    ) -> None:
        self.topic = topic
        self._source = source
        self._encoder = AvroEncoder(registry_client(registry_url), topic, "lifecycle")
        self._producer = Producer(
            producer_config(bootstrap, **{"linger.ms": linger_ms, "log_level": 4})
        )
        self._errors: list[str] = []

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(str(error))

    def send(self, tag: str, index: int, when: datetime) -> None:
        event = self._source.event(tag, index, when)
        value = self._encoder.encode(event)
        key = event["subject_id"].encode()
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:  # the local queue is full: let librdkafka send some
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 120.0) -> None:
        if self._producer.flush(timeout_s):
            raise BrokerError(f"bench events not acknowledged within {timeout_s:.0f}s")
        if self._errors:
            raise BrokerError(f"{len(self._errors)} bench events failed: {self._errors[0]}")

    def preload(self, tag: str, count: int, progress: Progress) -> float:
        """Publish ``count`` events and wait for every ack; returns events/s achieved."""
        start = time.perf_counter()
        now = datetime.now(UTC)
        for index in range(count):
            if index % 1000 == 0:
                now = datetime.now(UTC)
                progress(index)
            self.send(tag, index, now)
        self.flush()
        progress(count)
        return count / max(time.perf_counter() - start, 1e-9)

    def paced(self, tag: str, rate: float, seconds: float, progress: Progress) -> dict[str, float]:
        """Publish ``rate`` events/s for ``seconds``; returns event id → produce time
        (``time.time()``, the clock the sandbox stamps requests with)."""
        # Warm up first: a new idempotent producer fetches metadata and a producer id
        # before its first send, which would be charged to the worker otherwise.
        self.send(f"{tag}w", 0, datetime.now(UTC))
        self.flush()
        total = max(1, round(rate * seconds))
        sent: dict[str, float] = {}
        start = time.monotonic()
        index = 0
        while index < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while index < due:
                stamp = time.time()
                self.send(tag, index, datetime.fromtimestamp(stamp, UTC))
                sent[event_id(tag, index)] = stamp
                index += 1
            progress(index)
            time.sleep(0.002)
        self.flush()
        return sent
