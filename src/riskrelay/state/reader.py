"""Reads the compacted state topic: to its end (restore, readiness), then onwards (view).

The end is found with partition-EOF events rather than high watermarks: EOF accounts
for transaction control records and does not trust a broker's watermark arithmetic.
Brokers used locally do not compact, so every historical record is applied in order and
the last one per key wins, as compaction would leave it.

Two ways to apply a record, one reading loop: ``StateTopicReader`` decodes each record
(the worker's restore), ``RawStateReader`` hands over the message undecoded (the read
API's view keeps the bytes). Both can start each partition at a given offset and report
``positions``, so a caller with a checkpoint resumes instead of replaying everything.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from riskrelay.decode.avro import AvroDecoder
from riskrelay.errors import InputError, RiskRelayError
from riskrelay.kafka.config import client_config
from riskrelay.kafka.messages import position
from riskrelay.models import AvroRecord

log = logging.getLogger(__name__)

Apply = Callable[[int, str, AvroRecord], None]
ApplyMessage = Callable[[str, Message], None]


def state_consumer(bootstrap: str) -> Consumer:
    return Consumer(
        client_config(
            bootstrap,
            **{
                # Assigned, never subscribed and never committed: the id is only required.
                "group.id": f"riskrelay-state-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # A start offset the topic does not have (deleted by retention, or the topic
                # was created again) is the caller's to handle: ``StartOffsetLost``.
                "auto.offset.reset": "error",
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 50,
                "fetch.queue.backoff.ms": 5,
                # Reading a whole topic, prefetch small: librdkafka's defaults queue up to
                # 100,000 records per partition, hundreds of MB of a state topic's snapshots,
                # and the heap keeps that size after the catch-up. Measured on 1,000,000
                # records (6 partitions, Tansu): peak RSS 358 MB -> 183 MB, 2.1 s -> 3.5 s.
                "queued.min.messages": 1000,
                "queued.max.messages.kbytes": 1024,
                "fetch.max.bytes": 1_048_576,
                "max.partition.fetch.bytes": 131_072,
            },
        )
    )


class StartOffsetLost(RiskRelayError):
    """A partition's start offset is outside what the topic holds."""

    def __init__(self, partition: int) -> None:
        super().__init__(f"start offset out of range in partition {partition}")
        self.partition = partition


class _TopicReader:
    """The reading loop; subclasses say what applying one keyed record means."""

    def __init__(
        self, consumer: Consumer, topic: str, after_batch: Callable[[], None] | None = None
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._after_batch = after_batch
        self.records_applied = 0
        self.decode_failures = 0
        self._assigned: set[int] = set()
        self._at_end: set[int] = set()  # partitions whose end was the last thing seen
        # Per partition, the offset after the last record seen: where a resumed read starts.
        self.positions: dict[int, int] = {}

    def assign(self, partitions: Iterable[int], start: Mapping[int, int] | None = None) -> None:
        """Read ``partitions`` from ``start`` (offset per partition) or from the beginning."""
        start = start or {}
        self._assigned = set(partitions)
        self._at_end.clear()
        self.positions.update({p: offset for p, offset in start.items() if offset >= 0})
        self._consumer.assign(
            [
                TopicPartition(self._topic, p, start.get(p, OFFSET_BEGINNING))
                for p in sorted(self._assigned)
            ]
        )

    def _apply_record(self, key: str, message: Message) -> None:
        raise NotImplementedError

    def _handle(self, message: Message) -> int | None:
        """Apply one message; return its partition if it is an EOF event."""
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                at = position(message)
                # The end may lie past the last record (transaction markers).
                self.positions[at.partition] = max(at.offset, self.positions.get(at.partition, 0))
                self._at_end.add(at.partition)
                return at.partition
            if error.code() == KafkaError._AUTO_OFFSET_RESET:
                partition = message.partition()
                raise StartOffsetLost(-1 if partition is None else partition)
            log.warning("state topic read error: %s", error)
            return None
        # Read directly rather than through ``position``: this runs once per record of a
        # rebuild, millions of times.
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None:
            return None
        self.positions[partition] = offset + 1
        self._at_end.discard(partition)
        key = message.key()
        if key is None:
            return None
        try:
            self._apply_record(key.decode(), message)
        except InputError as exc:
            self.decode_failures += 1
            log.error(
                "undecodable state record at %s[%d]@%d: %s", self._topic, partition, offset, exc
            )
            return None
        self.records_applied += 1
        return None

    def _batch(self, timeout_s: float = 0.2) -> list[Message]:
        return self._consumer.consume(10_000, timeout_s)

    def catch_up(self, partitions: Iterable[int], stop: threading.Event | None = None) -> None:
        """Apply every record of ``partitions`` up to their current end."""
        waiting = set(partitions)
        while waiting and not (stop and stop.is_set()):
            for message in self._batch():
                eof = self._handle(message)
                if eof is not None:
                    waiting.discard(eof)
            if self._after_batch is not None:
                self._after_batch()

    def follow(self, stop: threading.Event, idle_s: float = 0.0) -> None:
        """Keep applying new records until ``stop`` is set.

        With ``idle_s``, once every partition is at its end, reading stops for
        ``idle_s`` and starts again at ``positions``. A broker that answers an empty
        fetch at once instead of holding it for ``fetch.wait.max.ms`` (noida does) would
        otherwise keep librdkafka fetching in a loop: ~0.6 of a core here, plus ~0.35 in
        the broker, for a view with nothing new; this way ~0.05 each. Unassigned and
        assigned again rather than paused: librdkafka takes ~0.8 s to fetch again after a
        resume, ~0.01-0.06 s after an assignment (measured on noida and Tansu).
        """
        while not stop.is_set():
            for message in self._batch(0.02 if idle_s else 0.2):
                self._handle(message)
            if self._after_batch is not None:
                self._after_batch()
            if idle_s and self._at_end >= self._assigned:
                self._consumer.unassign()
                stop.wait(idle_s)
                self.assign(self._assigned, self.positions)

    def close(self) -> None:
        self._consumer.close()


class StateTopicReader(_TopicReader):
    """Decodes each record and applies it as ``apply(partition, key, record)``."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        decoder: AvroDecoder,
        apply: Apply,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(consumer, topic, after_batch)
        self._decoder = decoder
        self._apply = apply

    def _apply_record(self, key: str, message: Message) -> None:
        self._apply(position(message).partition, key, self._decoder.decode(message.value()))


class RawStateReader(_TopicReader):
    """Applies each record undecoded, as ``apply(key, message)``; ``after_batch`` runs after
    every batch (a natural point to write what was applied, with ``positions``)."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        apply: ApplyMessage,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(consumer, topic, after_batch)
        self._apply = apply

    def _apply_record(self, key: str, message: Message) -> None:
        self._apply(key, message)
