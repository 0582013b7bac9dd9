"""Reads the compacted state topic: to its end (restore, readiness), then onwards (view).

The end is found with partition-EOF events rather than high watermarks: EOF accounts
for transaction control records and does not trust a broker's watermark arithmetic.
Brokers used locally do not compact, so every historical record is applied in order and
the last one per key wins, as compaction would leave it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from riskrelay.decode.avro import AvroDecoder
from riskrelay.errors import InputError
from riskrelay.kafka.messages import position
from riskrelay.models import AvroRecord

log = logging.getLogger(__name__)

Apply = Callable[[int, str, AvroRecord], None]


def state_consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            # Assigned, never subscribed and never committed: the id is only required.
            "group.id": f"riskrelay-state-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 50,
            "fetch.queue.backoff.ms": 5,
        }
    )


class StateTopicReader:
    def __init__(self, consumer: Consumer, topic: str, decoder: AvroDecoder, apply: Apply) -> None:
        self._consumer = consumer
        self._topic = topic
        self._decoder = decoder
        self._apply = apply
        self.records_applied = 0
        self.decode_failures = 0

    def assign(self, partitions: Iterable[int]) -> None:
        self._consumer.assign(
            [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions]
        )

    def _handle(self, message: Message) -> int | None:
        """Apply one message; return its partition if it is an EOF event."""
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return position(message).partition
            log.warning("state topic read error: %s", error)
            return None
        key = message.key()
        if key is None:
            return None
        try:
            state = self._decoder.decode(message.value())
        except InputError as exc:
            self.decode_failures += 1
            log.error("undecodable state record at %s: %s", message.offset(), exc)
            return None
        self._apply(position(message).partition, key.decode(), state)
        self.records_applied += 1
        return None

    def catch_up(self, partitions: Iterable[int], stop: threading.Event | None = None) -> None:
        """Apply every record of ``partitions`` up to their current end."""
        waiting = set(partitions)
        while waiting and not (stop and stop.is_set()):
            for message in self._consumer.consume(10_000, 0.2):
                eof = self._handle(message)
                if eof is not None:
                    waiting.discard(eof)

    def follow(self, stop: threading.Event) -> None:
        """Keep applying new records until ``stop`` is set."""
        while not stop.is_set():
            for message in self._consumer.consume(10_000, 0.2):
                self._handle(message)

    def close(self) -> None:
        self._consumer.close()
