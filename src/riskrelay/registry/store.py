"""Durable storage: a single-partition compacted Kafka topic, like Confluent's ``_schemas``.

The topic is the only source of truth. On start the whole partition is read back (every
historical record, since a broker may not have compacted yet); every change is produced
with ``acks=all`` and its delivery report awaited before the HTTP answer, so restarting the
registry loses nothing. All calls here block: callers run them off the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where the typed stub declares it

from riskrelay.kafka.config import base_config, producer_config
from riskrelay.registry.errors import StoreError
from riskrelay.registry.records import LogRecord

log = logging.getLogger(__name__)


class SchemaLog(Protocol):
    """Where the registry's records live; Kafka in production, a list in unit tests."""

    def open(self) -> list[LogRecord]:
        """Prepare for writing and return every stored record, oldest first."""
        ...

    def replay(self) -> list[LogRecord]:
        """Every stored record again (to resynchronize after a failed write)."""
        ...

    def write(self, batch: Sequence[LogRecord]) -> None:
        """Append durably; return only once every record is acknowledged."""
        ...

    def close(self) -> None: ...


class KafkaSchemaLog:
    """The schemas topic: created if missing (1 partition, ``cleanup.policy=compact``)."""

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 15.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Producer | None = None

    def open(self) -> list[LogRecord]:
        self._ensure_topic()
        # acks=all: acknowledged means on every in-sync replica. No idempotence: a retried
        # duplicate is harmless (last write per key wins) and skipping the producer-id
        # handshake saves ~0.5 s on the first write; one request in flight keeps order.
        self._producer = Producer(
            producer_config(
                self.bootstrap,
                **{
                    "acks": "all",
                    "linger.ms": 0,
                    "enable.idempotence": False,
                    "max.in.flight.requests.per.connection": 1,
                    "message.timeout.ms": int(self.timeout_s * 1000),
                },
            )
        )
        try:
            # Fetch the topic's metadata now: otherwise the first write waits ~1s for it.
            self._producer.list_topics(self.topic, timeout=self.timeout_s)
        except KafkaException as exc:
            raise StoreError(f"cannot reach schemas topic {self.topic!r}: {exc}") from exc
        return self.replay()

    def _ensure_topic(self) -> None:
        admin = AdminClient(base_config(self.bootstrap))
        try:
            existing = admin.list_topics(timeout=self.timeout_s).topics.get(self.topic)
            if existing is None:
                self._create_topic(admin)
                return
        except KafkaException as exc:
            raise StoreError(
                f"cannot prepare schemas topic {self.topic!r} on {self.bootstrap}: {exc}"
            ) from exc
        if len(existing.partitions) != 1:
            raise StoreError(
                f"schemas topic {self.topic!r} has {len(existing.partitions)} partitions; it "
                "needs exactly 1 so that records keep their order"
            )

    def _create_topic(self, admin: AdminClient) -> None:
        new = NewTopic(self.topic, num_partitions=1, config={"cleanup.policy": "compact"})
        future = admin.create_topics([new], operation_timeout=self.timeout_s)[self.topic]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            log.info("schemas topic %r was created concurrently", self.topic)

    def replay(self) -> list[LogRecord]:
        """Read partition 0 from its start to the high watermark seen when replay began."""
        consumer = Consumer(
            {
                **base_config(self.bootstrap),
                "group.id": f"riskrelay-registry-replay-{self.topic}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, 0), timeout=self.timeout_s
            )
            if high <= low:
                return []
            consumer.assign([TopicPartition(self.topic, 0, low)])
            return self._read_until(consumer, high)
        except KafkaException as exc:
            raise StoreError(f"cannot read schemas topic {self.topic!r}: {exc}") from exc
        finally:
            consumer.close()

    def _read_until(self, consumer: Consumer, high: int) -> list[LogRecord]:
        found: list[LogRecord] = []
        deadline = time.monotonic() + self.timeout_s
        while True:
            msg = consumer.poll(0.2)
            if msg is None:
                # Offsets may have gaps (compaction, control records): trust the position.
                position = consumer.position([TopicPartition(self.topic, 0)])[0].offset
                if position >= high:
                    return found
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"replay of {self.topic!r} stalled at offset {position} of {high}",
                        timeout=True,
                    )
                continue
            if msg.error() is not None:
                raise StoreError(f"cannot read schemas topic {self.topic!r}: {msg.error()}")
            deadline = time.monotonic() + self.timeout_s
            key = msg.key()
            if key is not None:
                found.append((key, msg.value()))
            offset = msg.offset()
            if offset is not None and offset >= high - 1:
                return found

    def write(self, batch: Sequence[LogRecord]) -> None:
        if self._producer is None:
            raise StoreError("schemas log is not open")
        reports: list[KafkaError | None] = []

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            reports.append(err)

        try:
            for key, value in batch:
                self._producer.produce(
                    self.topic, key=key, value=value, partition=0, on_delivery=on_delivery
                )
        except (KafkaException, BufferError) as exc:
            raise StoreError(f"cannot write to {self.topic!r}: {exc}") from exc
        # librdkafka reports every message within message.timeout.ms; the margin covers that.
        if self._producer.flush(self.timeout_s + 5.0) > 0:
            raise StoreError(f"no delivery report from {self.topic!r}", timeout=True)
        errors = [err for err in reports if err is not None]
        if errors:
            timed_out = errors[0].code() == KafkaError._MSG_TIMED_OUT
            raise StoreError(f"write to {self.topic!r} failed: {errors[0]}", timeout=timed_out)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self.timeout_s)
            producer.close()
