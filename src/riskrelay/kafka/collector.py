"""The one path by which the worker writes to Kafka.

Records are encoded as they are produced by the pipeline and buffered; the checkpoint
writes a whole buffer inside one Kafka transaction together with the input offsets it
covers, so outputs, state snapshots and offsets commit or abort together.

Every derived record goes to the same partition number as the input it came from
(co-partitioning), so whoever owns input partition p owns all state derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskrelay.decode.avro import AvroEncoder
from riskrelay.models import AvroRecord


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    partition: int
    key: str | bytes | None
    value: AvroRecord


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    topic: str
    partition: int
    key: str | bytes | None
    value: bytes


class RecordCollector:
    def __init__(self, encoders: dict[str, AvroEncoder]) -> None:
        self._encoders = encoders
        self._buffer: list[EncodedRecord] = []

    def send(self, record: OutputRecord) -> bytes:
        """Encode and buffer ``record``; returns the encoded value (wire format)."""
        value = self._encoders[record.topic].encode(record.value)
        self._buffer.append(EncodedRecord(record.topic, record.partition, record.key, value))
        return value

    def take(self) -> list[EncodedRecord]:
        """Everything sent since the last take, in order."""
        records, self._buffer = self._buffer, []
        return records
