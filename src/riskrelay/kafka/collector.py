"""The one path by which the worker writes to Kafka.

Every derived record goes to the same partition number as the input it came from
(co-partitioning), so whoever owns input partition p owns all state derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from riskrelay.decode.avro import AvroEncoder
from riskrelay.errors import BrokerError
from riskrelay.models import AvroRecord


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    partition: int
    key: str | bytes | None
    value: AvroRecord


class RecordCollector:
    def __init__(self, producer: Producer, encoders: dict[str, AvroEncoder]) -> None:
        self._producer = producer
        self._encoders = encoders
        self._errors: list[str] = []

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}[{message.partition()}]: {error}")

    def send(self, record: OutputRecord) -> None:
        value = self._encoders[record.topic].encode(record.value)
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=value,
                    key=record.key,
                    partition=record.partition,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports to make room.
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every record sent so far is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise BrokerError(f"{remaining} output records not acknowledged in {timeout_s}s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise BrokerError(f"output records failed: {'; '.join(errors[:5])}")
