"""Publish input events: validate against the Avro contract, encode in the Confluent wire
format through the schema registry, key by subject (murmur2, as Java producers do)."""

from __future__ import annotations

from types import TracebackType

from confluent_kafka import KafkaError, Message, Producer

from riskrelay.decode.avro import AvroEncoder, registry_client
from riskrelay.errors import BrokerError, ValidationError
from riskrelay.kafka.config import producer_config
from riskrelay.models import FAMILY_SCHEMAS, AvroRecord, Family
from riskrelay.settings import TopicSettings


class EventProducer:
    def __init__(self, bootstrap: str, registry_url: str, topics: TopicSettings) -> None:
        client = registry_client(registry_url)
        self._topics = {family: topics.family_topic(family.value) for family in Family}
        self._encoders = {
            family: AvroEncoder(client, self._topics[family], schema)
            for family, schema in FAMILY_SCHEMAS.items()
        }
        self._producer = Producer(producer_config(bootstrap, **{"linger.ms": 5}))
        self._errors: list[str] = []
        self.sent = 0

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(str(error))

    def send(self, family: Family, event: AvroRecord) -> None:
        """Queue one event; raises ``ValidationError`` if it breaks the contract."""
        try:
            value = self._encoders[family].encode(event)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"not a valid {family.value.lower()} event: {exc}") from exc
        self.send_raw(self._topics[family], event["subject_id"].encode(), value)

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Publish bytes as they are (tools and tests that need malformed records)."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
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

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
