"""``riskrelay dlq list|show|replay``: read ``risk.dlq.v1`` and re-inject chosen records.

A DLQ record is named by its own coordinates, ``<partition>:<offset>`` of the DLQ topic.
Replay produces the original bytes and key back to the original topic and partition with
the ``riskrelay.replay`` headers: the worker treats the copy as the original record, so a
delivery failure retries only the providers that failed (those a record names), and a
record that never decoded is processed as new (useful once its schema is registered).
Idempotence lives in the worker's state, not here: replaying a record twice makes the
second copy find its providers delivered and do nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from riskrelay.decode.avro import AvroDecoder
from riskrelay.errors import BrokerError, ConfigError, InputError
from riskrelay.kafka.config import client_config, producer_config
from riskrelay.models import FAMILY_SCHEMAS, AvroRecord, Family, SourcePosition
from riskrelay.replay import REPLAY_HEADERS, replay_headers
from riskrelay.settings import KafkaSettings, TopicSettings

Progress = Callable[[int], None]
DlqId = tuple[int, int]

# Replaying these cannot change their outcome: the same create stays a duplicate.
NOT_REPLAYABLE = {"duplicate": "a create of an existing id stays a duplicate"}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An instant from RFC 3339 (``2026-11-21T12:00:00Z``; a bare date is midnight UTC)
    or an age (``90s``, ``15m``, ``2h``, ``3d``, ``1w``: that long before now)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time: use RFC 3339 (2026-11-21T12:00:00Z) or an age (15m, 2h, 3d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_id(text: str) -> DlqId:
    partition, _, offset = text.strip().partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise ConfigError(f"{text!r} is not a DLQ record id (<partition>:<offset>, e.g. 2:17)")
    return int(partition), int(offset)


@dataclass(frozen=True)
class DlqFilter:
    """Which DLQ records a command acts on; an empty filter takes every record."""

    reasons: frozenset[str] = frozenset()
    providers: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    event_id: str | None = None
    ids: frozenset[DlqId] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.reasons or self.providers or self.since or self.until or self.event_id or self.ids
        )

    def matches(self, entry: DlqEntry) -> bool:
        record = entry.record
        failed_at: datetime = record["failed_at"]
        return (
            (not self.ids or entry.id in self.ids)
            and (not self.reasons or record["reason"] in self.reasons)
            and (not self.providers or record["provider"] in self.providers)
            and (self.since is None or failed_at >= self.since)
            and (self.until is None or failed_at < self.until)
            and (self.event_id is None or record["event_id"] == self.event_id)
        )


@dataclass(frozen=True)
class DlqEntry:
    partition: int
    offset: int
    record: AvroRecord

    @property
    def id(self) -> DlqId:
        return self.partition, self.offset

    @property
    def label(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def source(self) -> SourcePosition:
        r = self.record
        return SourcePosition(r["source_topic"], r["source_partition"], r["source_offset"])


# -- reading -----------------------------------------------------------------------


class DlqReader:
    """Reads the whole DLQ topic once, from the beginning to the end it has now."""

    def __init__(
        self, bootstrap: str, kafka: KafkaSettings, topic: str, decoder: AvroDecoder
    ) -> None:
        self._bootstrap = bootstrap
        self._kafka = kafka
        self._topic = topic
        self._decoder = decoder
        self.undecodable = 0

    def _consumer(self) -> Consumer:
        return Consumer(
            client_config(
                self._bootstrap,
                self._kafka,
                **{
                    "group.id": "riskrelay-dlq-reader",  # never joined: partitions are assigned
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "isolation.level": "read_committed",
                },
            )
        )

    def size(self) -> int:
        """Records (offsets) in the topic now: the total a progress bar counts up to."""
        consumer = self._consumer()
        try:
            total = 0
            for partition in self._partitions(consumer):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), timeout=10
                )
                total += max(0, high - low)
            return total
        except KafkaException as exc:
            raise BrokerError(f"cannot read {self._topic}: {exc}") from exc
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[int]:
        try:
            metadata = consumer.list_topics(self._topic, timeout=10)
        except KafkaException as exc:
            raise BrokerError(f"cannot reach Kafka at {self._bootstrap}: {exc}") from exc
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise ConfigError(
                f"topic {self._topic} does not exist (riskrelay topics create makes it)"
            )
        return sorted(topic.partitions)

    def entries(self, progress: Progress | None = None) -> Iterator[DlqEntry]:
        consumer = self._consumer()
        try:
            partitions = self._partitions(consumer)
            consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
            open_partitions = set(partitions)
            while open_partitions:
                for message in consumer.consume(500, 1.0):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            open_partitions.discard(message.partition())
                            continue
                        raise BrokerError(f"cannot read {self._topic}: {error}")
                    if progress is not None:
                        progress(1)
                    entry = self._entry(message)
                    if entry is not None:
                        yield entry
        finally:
            consumer.close()

    def _entry(self, message: Message) -> DlqEntry | None:
        partition, offset = message.partition(), message.offset()
        assert partition is not None and offset is not None
        try:
            record = self._decoder.decode(message.value())
        except InputError:
            self.undecodable += 1  # not written by riskrelay: nothing to show or replay
            return None
        return DlqEntry(partition, offset, record)


def select(
    entries: Iterable[DlqEntry], chosen: DlqFilter, limit: int | None = None
) -> list[DlqEntry]:
    out = []
    for entry in entries:
        if chosen.matches(entry):
            out.append(entry)
            if limit is not None and len(out) >= limit:
                break
    return out


# -- presenting ------------------------------------------------------------------------


def _bytes_json(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"size": len(value), "base64": base64.b64encode(value).decode(), "hex": value.hex()}


def _header_json(key: str, value: bytes | None) -> dict[str, Any]:
    if value is None:
        return {"key": key, "value": None}
    try:
        return {"key": key, "value": value.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"key": key, "value": base64.b64encode(value).decode(), "encoding": "base64"}


def _plain(value: Any) -> Any:
    """A decoded record as JSON values (instants as RFC 3339, bytes as base64)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def summary_json(entry: DlqEntry) -> dict[str, Any]:
    r = entry.record
    return {
        "id": entry.label,
        "failed_at": r["failed_at"].isoformat(),
        "reason": r["reason"],
        "provider": r["provider"],
        "event_id": r["event_id"],
        "subject_id": r["subject_id"],
        "source": f"{r['source_topic']}:{r['source_partition']}:{r['source_offset']}",
        "error_class": r["error_class"],
        "message": r["message"],
        "attempts": r["attempts"],
    }


class OriginalDecoder:
    """Decodes an original input record with its family's reader schema, if it can."""

    def __init__(self, decoders: dict[str, AvroDecoder]) -> None:
        self._decoders = decoders

    @classmethod
    def for_topics(cls, registry: Any, topics: TopicSettings) -> OriginalDecoder:
        return cls(
            {
                topics.family_topic(family.value): AvroDecoder(registry, FAMILY_SCHEMAS[family])
                for family in Family
            }
        )

    def decode(self, topic: str, value: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
        decoder = self._decoders.get(topic)
        if decoder is None:
            return None, f"{topic} is not an input topic"
        try:
            return decoder.decode(value), None
        except InputError as exc:
            text = str(exc)  # a schema resolution error quotes both schemas whole
            return None, f"{exc.reason}: {text[:300]}{'…' if len(text) > 300 else ''}"


def detail_json(entry: DlqEntry, originals: OriginalDecoder) -> dict[str, Any]:
    """Everything about one DLQ record, the original bytes decoded where possible."""
    r = entry.record
    decoded, why_not = originals.decode(r["source_topic"], r["original_value"])
    return {
        **summary_json(entry),
        "source_topic": r["source_topic"],
        "source_partition": r["source_partition"],
        "source_offset": r["source_offset"],
        "source_timestamp": r["source_timestamp"].isoformat() if r["source_timestamp"] else None,
        "original_key": _bytes_json(r["original_key"]),
        "original_value": _bytes_json(r["original_value"]),
        "original_headers": [_header_json(h["key"], h["value"]) for h in r["original_headers"]],
        "decoded": _plain(decoded),
        "not_decodable": why_not,
    }


# -- replaying -------------------------------------------------------------------------


@dataclass
class ReplayItem:
    """One original record to re-inject (several DLQ records of one input merge here)."""

    source: SourcePosition
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes | None]]
    providers: frozenset[str] | None
    dlq_ids: list[str] = field(default_factory=list)

    def wire_headers(self) -> list[tuple[str, str | bytes | None]]:
        kept: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in self.headers if k not in REPLAY_HEADERS
        ]
        return [*kept, *replay_headers(self.source, self.providers)]


@dataclass
class ReplayPlan:
    items: list[ReplayItem]
    skipped: list[tuple[str, str]]  # (DLQ id, why)


def plan_replay(entries: Iterable[DlqEntry], inputs: Iterable[str]) -> ReplayPlan:
    """What to produce for the chosen DLQ records: one copy per original record, in
    source order, naming the providers to retry (all of them once any record of that
    input is not a provider failure)."""
    input_topics = set(inputs)
    items: dict[SourcePosition, ReplayItem] = {}
    skipped: list[tuple[str, str]] = []
    for entry in entries:
        r = entry.record
        if r["reason"] in NOT_REPLAYABLE:
            skipped.append((entry.label, NOT_REPLAYABLE[r["reason"]]))
            continue
        if r["original_value"] is None:
            skipped.append((entry.label, "no original bytes"))
            continue
        if r["source_topic"] not in input_topics:
            skipped.append((entry.label, f"{r['source_topic']} is not an input topic"))
            continue
        provider: str | None = r["provider"]
        named = frozenset({provider}) if provider else None
        item = items.get(entry.source)
        if item is None:
            headers = [(h["key"], h["value"]) for h in r["original_headers"]]
            item = ReplayItem(entry.source, r["original_key"], r["original_value"], headers, named)
            items[entry.source] = item
        elif item.providers is not None:
            item.providers = None if named is None else item.providers | named
        item.dlq_ids.append(entry.label)
    ordered = sorted(
        items.values(), key=lambda i: (i.source.topic, i.source.partition, i.source.offset)
    )
    return ReplayPlan(ordered, skipped)


def produce_replay(
    bootstrap: str, kafka: KafkaSettings, items: list[ReplayItem], progress: Progress | None = None
) -> int:
    """Produce every item and wait for each acknowledgement; the count stored."""
    producer = Producer(producer_config(bootstrap, kafka, **{"linger.ms": 5}))
    errors: list[str] = []
    stored = 0

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal stored
        if error is not None:
            errors.append(str(error))
            return
        stored += 1
        if progress is not None:
            progress(1)

    for item in items:
        while True:
            try:
                producer.produce(
                    item.source.topic,
                    value=item.value,
                    key=item.key,
                    partition=item.source.partition,
                    headers=item.wire_headers(),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
            except KafkaException as exc:
                raise BrokerError(f"cannot replay to {item.source.topic}: {exc}") from exc
        producer.poll(0)
    if producer.flush(30):
        raise BrokerError("replayed records not acknowledged within 30s")
    if errors:
        raise BrokerError(f"{len(errors)} replayed records failed: {errors[0]}")
    return stored
