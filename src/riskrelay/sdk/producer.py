"""Publish input events: validate against the Avro contract (the typed models of
``riskrelay.sdk.models``), encode in the Confluent wire format through the schema registry,
key by subject so librdkafka's ``murmur2_random`` partitioner puts a subject where a Java
producer would, and optionally wait for the broker's acknowledgement.

Validation happens before anything is queued, so a bad event raises ``ValidationError``
naming the field at the call site instead of reaching the DLQ. ``worker_checks=True`` also
runs the worker's own validation (what it would dead-letter: a challenge without its
block, an amount in a currency it does not know, ...).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pydantic
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from riskrelay.decode.avro import AvroEncoder, registry_client
from riskrelay.errors import BrokerError, InputError, ValidationError
from riskrelay.kafka.config import producer_config
from riskrelay.models import FAMILY_SCHEMAS, AvroRecord, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sdk.models import FAMILY_MODELS, AvroModel, InputEvent
from riskrelay.settings import KafkaSettings, TopicSettings


@dataclass(frozen=True, slots=True)
class Published:
    """Where the broker stored an event."""

    topic: str
    partition: int
    offset: int


class Delivery:
    """The acknowledgement of one event, as it arrives."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._outcome: Published | BrokerError | None = None

    def _settle(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._outcome = BrokerError(f"event not stored: {error}")
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        self._outcome = Published(topic, partition, offset)

    def done(self) -> bool:
        return self._outcome is not None

    def result(self, timeout_s: float = 30.0) -> Published:
        """Wait for the acknowledgement (serving the producer's callbacks meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while self._outcome is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"event not acknowledged within {timeout_s}s")
            self._producer.poll(min(remaining, 0.1))
        if isinstance(self._outcome, BrokerError):
            raise self._outcome
        return self._outcome


def family_of(event: InputEvent) -> Family:
    for family, model in FAMILY_MODELS.items():
        if isinstance(event, model):
            return Family(family)
    raise TypeError(f"{type(event).__name__} is not an input event model")


def contract_error(family: Family, exc: pydantic.ValidationError) -> ValidationError:
    """One line naming each failing field (``user.email: ...; amount.currency: ...``)."""
    problems = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "event"
        problems.append(f"{path}: {error['msg']}")
    return ValidationError(f"not a valid {family.value.lower()} event: {'; '.join(problems)}")


def to_record(family: Family, event: InputEvent | Mapping[str, Any]) -> AvroRecord:
    """The Avro record of an event, checked against its family's contract."""
    if not isinstance(event, AvroModel):
        try:
            event = FAMILY_MODELS[family].model_validate(event)
        except pydantic.ValidationError as exc:
            raise contract_error(family, exc) from None
    elif not isinstance(event, FAMILY_MODELS[family]):
        raise ValidationError(f"a {type(event).__name__} is not a {family.value.lower()} event")
    record: AvroRecord = event.model_dump(by_alias=True)
    return record


class EventProducer:
    """Validates, encodes and publishes input events; one per process is plenty (it is
    thread-safe and batches)."""

    def __init__(
        self,
        bootstrap: str,
        registry_url: str,
        topics: TopicSettings,
        *,
        kafka: KafkaSettings | None = None,
        worker_checks: bool = False,
        linger_ms: int = 5,
    ) -> None:
        client = registry_client(registry_url)
        self._topics = {family: topics.family_topic(family.value) for family in Family}
        self._encoders = {
            family: AvroEncoder(client, self._topics[family], schema)
            for family, schema in FAMILY_SCHEMAS.items()
        }
        self._producer = Producer(producer_config(bootstrap, kafka, **{"linger.ms": linger_ms}))
        self._worker_checks = worker_checks
        self._errors: list[str] = []
        self.sent = 0

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(str(error))

    def encode(self, family: Family, event: InputEvent | Mapping[str, Any]) -> bytes:
        """The wire-format bytes of a valid event; ``ValidationError`` names what is not."""
        record = to_record(family, event)
        if self._worker_checks:
            at = SourcePosition(self._topics[family], 0, 0)
            try:
                normalize(family, record, at, datetime.now(UTC))
            except InputError as exc:
                raise ValidationError(f"the worker would refuse it: {exc}") from None
        try:
            return self._encoders[family].encode(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"not a valid {family.value.lower()} event: {exc}") from exc

    def publish(
        self, event: InputEvent, *, wait: bool = False, timeout_s: float = 30.0
    ) -> Delivery:
        """Validate, encode and queue a typed event, keyed by its subject; with ``wait``,
        return once the broker stored it (``Delivery.result()`` says where)."""
        family = family_of(event)
        value = self.encode(family, event)
        delivery = Delivery(self._producer)
        self._produce(self._topics[family], event.subject_id.encode(), value, delivery._settle)
        if wait:
            delivery.result(timeout_s)
        return delivery

    def send(self, family: Family, event: InputEvent | Mapping[str, Any]) -> None:
        """Queue one event given as a model or a dict of its fields (``flush`` waits for
        the acknowledgements); raises ``ValidationError`` if it breaks the contract."""
        value = self.encode(family, event)
        subject = event.subject_id if isinstance(event, AvroModel) else event["subject_id"]
        self.send_raw(self._topics[family], str(subject).encode(), value)

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Publish bytes as they are (tools and tests that need malformed records)."""
        self._produce(topic, key, value, None)

    def _produce(self, topic: str, key: bytes | None, value: bytes, settle: Any) -> None:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(error, message)
            if settle is not None:
                settle(error, message)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise BrokerError(f"cannot publish to {topic}: {exc}") from exc
        self._producer.poll(0)
        self.sent += 1

    def topic(self, family: Family) -> str:
        return self._topics[family]

    def schema_id(self, family: Family) -> int:
        return self._encoders[family].schema_id

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every acknowledgement; raise if any record was not stored."""
        if self._producer.flush(timeout_s):
            raise BrokerError(f"events not acknowledged within {timeout_s}s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise BrokerError(f"{len(errors)} events failed: {errors[0]}")

    def close(self) -> None:
        """Release the client (its connections and threads); queued events are flushed
        first. Use the producer as a context manager to also raise on unacknowledged ones."""
        self._producer.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()
