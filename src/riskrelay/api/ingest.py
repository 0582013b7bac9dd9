"""Ingest: a JSON body becomes the input record of its family (checked against the Avro
contract and the worker's own validation), published to that family's topic and awaited
until the broker has it (``acks=all``).

The family is not named in the body: it follows from ``event_type``, whose symbols are
disjoint across ``lifecycle.avsc``, ``payment.avsc`` and ``evaluation.avsc`` (checked when
the contracts load). The worker's normalizers run here too, so an event the worker would
dead-letter as ``invalid_field`` is a 422 instead of a 202 that never becomes readable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from riskrelay.api.avro_json import AvroJson, ContractError, FieldError, JsonSchema, Overrides
from riskrelay.decode.avro import AvroEncoder, registry_client
from riskrelay.errors import BrokerError, ConfigError, InputError
from riskrelay.kafka.config import producer_config
from riskrelay.models import FAMILY_SCHEMAS, AvroRecord, Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.normalize.common import MAX_ID_LENGTH
from riskrelay.schemas import schema_text
from riskrelay.settings import TopicSettings

log = logging.getLogger(__name__)

# Ids travel in URL paths, keys and provider payloads: no control characters, not blank.
ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_ID = re.compile(ID_PATTERN)
ID_SCHEMA: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": ID_PATTERN,
}
ID_FIELDS = ("event_id", "subject_id")


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id, or None."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if not _ID.match(value):
        return "must not be blank or contain control characters"
    return None


def _split(message: str) -> FieldError:
    """The normalizers' messages read ``path: reason``."""
    path, sep, reason = message.partition(": ")
    return FieldError(path, reason) if sep and " " not in path else FieldError("", message)


# One documented body per family (the OpenAPI examples; a unit test keeps them valid).
EXAMPLES: dict[Family, dict[str, Any]] = {
    Family.LIFECYCLE: {
        "event_id": "evt-signin-0001",
        "event_type": "SIGN_IN",
        "subject_id": "user-42",
        "occurred_at": "2026-05-01T12:00:00Z",
        "user": {"email": "ada@example.com", "country": "GB"},
        "session": {"ip_address": "203.0.113.7", "device_id": "dev-9"},
    },
    Family.PAYMENT: {
        "event_id": "evt-pay-0001",
        "event_type": "PURCHASE",
        "subject_id": "user-42",
        "occurred_at": 1777636800000,
        "payment_id": "pay-77",
        "amount": {"amount_minor": 1050, "currency": "USD"},
        "rail": "CARD",
        "card": {"bin": "424242", "last4": "4242", "country": "US"},
        "sender": {"entity_id": "user-42"},
        "billing_address": {"country": "US"},
    },
    Family.EVALUATION: {
        "event_id": "evt-dispute-0001",
        "event_type": "DISPUTE_OPENED",
        "subject_id": "user-42",
        "occurred_at": "2026-05-03T09:30:00+02:00",
        "payment_id": "pay-77",
        "dispute": {"amount": {"amount_minor": 1050, "currency": "USD"}, "reason": "FRAUDULENT"},
    },
}


@dataclass(frozen=True, slots=True)
class Incoming:
    """A checked body: its family and the input record to publish."""

    family: Family
    record: AvroRecord

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])

    @property
    def subject_id(self) -> str:
        return str(self.record["subject_id"])

    @property
    def kind(self) -> str:
        return str(self.record["event_type"]).lower()


class Contracts:
    """The three input contracts as HTTP bodies: POST (create) and PUT (update) forms."""

    def __init__(self) -> None:
        strings = {name: ID_SCHEMA for name in ID_FIELDS}
        checks = {name: id_problem for name in ID_FIELDS}
        operation = "is set by the API (POST creates, PUT updates)"
        create = Overrides(omit={"operation": operation}, strings=strings, checks=checks)
        update = Overrides(
            omit={"operation": operation, "upsert_on_conflict": "is for POST only"},
            optional=frozenset({"event_id"}),
            strings=strings,
            checks=checks,
        )
        self._create: dict[Family, AvroJson] = {}
        self._update: dict[Family, AvroJson] = {}
        self._family_of: dict[str, Family] = {}
        for family, name in FAMILY_SCHEMAS.items():
            schema = json.loads(schema_text(name))
            self._create[family] = AvroJson(schema, create)
            self._update[family] = AvroJson(schema, update)
            for symbol in self._create[family].symbols("event_type"):
                other = self._family_of.setdefault(symbol, family)
                if other is not family:
                    raise ConfigError(
                        f"event_type {symbol} is in both {other.value} and {family.value}: "
                        "the ingest API cannot tell their bodies apart"
                    )

    def family_of(self, event_type: Any) -> Family | None:
        return self._family_of.get(event_type) if isinstance(event_type, str) else None

    def event_types(self) -> list[str]:
        return list(self._family_of)

    def body_schema(self, create: bool) -> JsonSchema:
        forms = self._create if create else self._update
        return {"oneOf": [forms[f].json_schema() for f in Family]}

    def body_examples(self, create: bool) -> dict[str, JsonSchema]:
        """OpenAPI ``examples`` of a request body, one per family."""
        out = {}
        for family, example in EXAMPLES.items():
            body = (
                dict(example) if create else {k: v for k, v in example.items() if k != "event_id"}
            )
            out[family.value.lower()] = {
                "summary": f"a {family.value.lower()} event",
                "value": body,
            }
        return out

    def parse(
        self, body: bytes, *, create: bool, event_id: str | None = None, now: datetime | None = None
    ) -> Incoming:
        """The checked record for a request body; ``ContractError`` says what is wrong.

        ``event_id`` is the PUT path's id: the body may leave it out or repeat it."""
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(f"the body is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ContractError([FieldError("", "must be a JSON object (an event)")])
        family = self.family_of(value.get("event_type"))
        if family is None:
            reason = "is required" if "event_type" not in value else "is not a known event type"
            raise ContractError(
                [FieldError("event_type", f"{reason}; one of {', '.join(self.event_types())}")]
            )
        if event_id is not None:
            if value.get("event_id", event_id) != event_id:
                raise ContractError([FieldError("event_id", "must match the id in the path")])
            value["event_id"] = event_id
        contract = self._create[family] if create else self._update[family]
        record = contract.to_avro(value)
        record["operation"] = Operation.CREATE.value if create else Operation.UPDATE.value
        record.setdefault("upsert_on_conflict", False)
        incoming = Incoming(family, record)
        check_like_the_worker(incoming, now or datetime.now(UTC))
        return incoming


class MalformedBody(ValueError):
    """Not JSON at all (400), as opposed to JSON that breaks the contract (422)."""


def check_like_the_worker(incoming: Incoming, now: datetime) -> None:
    """Run the worker's validation so the API refuses what the worker would dead-letter."""
    try:
        normalize(incoming.family, incoming.record, SourcePosition("api", 0, 0), now)
    except InputError as exc:
        raise ContractError([_split(str(exc))]) from None
    except Exception as exc:  # a normalizer bug must not turn bad input into a 500
        log.error("validation failed unexpectedly on an ingest request: %s", type(exc).__name__)
        raise ContractError(
            [FieldError("", f"the event cannot be validated ({type(exc).__name__})")]
        ) from None


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    partition: int
    offset: int


class Publisher(Protocol):
    """Where accepted events go; ``publish`` returns once the broker stored the record."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    async def publish(self, incoming: Incoming) -> Delivery: ...


class PublishUnavailable(Exception):
    """The event is not known to be stored: the client should retry (503)."""


class KafkaPublisher:
    """Input records onto the family topics, as the SDK's ``EventProducer`` writes them
    (Confluent wire format, key = subject, murmur2_random, idempotent, ``acks=all``), but
    one delivery report per request and a bounded delivery time, which a request needs
    and the batch-oriented SDK producer does not offer.
    """

    def __init__(
        self, bootstrap: str, registry_url: str, topics: TopicSettings, timeout_s: float
    ) -> None:
        client = registry_client(registry_url)
        self._topics = {family: topics.family_topic(family.value) for family in Family}
        self._encoders = {
            family: AvroEncoder(client, self._topics[family], schema)
            for family, schema in FAMILY_SCHEMAS.items()
        }
        self._timeout_s = timeout_s
        timeout_ms = max(1, int(timeout_s * 1000))
        self._producer = Producer(
            producer_config(
                bootstrap,
                **{
                    "linger.ms": 2,
                    "delivery.timeout.ms": timeout_ms,
                    "request.timeout.ms": min(timeout_ms, 30_000),
                },
            )
        )
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def start(self) -> None:
        self._poller = threading.Thread(target=self._poll, name="ingest-producer", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        remaining = self._producer.flush(self._timeout_s)
        if remaining:
            log.error("%d ingest records not acknowledged at shutdown", remaining)

    async def publish(self, incoming: Incoming) -> Delivery:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Delivery] = loop.create_future()

        def settle(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                outcome: Delivery | Exception = PublishUnavailable(f"not stored: {error.str()}")
            else:
                outcome = Delivery(
                    message.topic() or "", message.partition() or 0, message.offset() or 0
                )
            loop.call_soon_threadsafe(_resolve, done, outcome)

        value = self._encoders[incoming.family].encode(incoming.record)
        try:
            self._producer.produce(
                self._topics[incoming.family],
                value=value,
                key=incoming.subject_id.encode(),
                on_delivery=settle,
            )
        except BufferError:
            raise PublishUnavailable("the producer queue is full") from None
        except KafkaException as exc:
            raise PublishUnavailable(f"not queued: {exc}") from None
        try:
            # librdkafka gives up at delivery.timeout.ms; the margin covers its report.
            return await asyncio.wait_for(asyncio.shield(done), self._timeout_s + 5)
        except TimeoutError:
            raise PublishUnavailable("no delivery report in time") from None


def _resolve(future: asyncio.Future[Delivery], outcome: Delivery | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def kafka_publisher(
    bootstrap: str | None, registry_url: str | None, topics: TopicSettings, timeout_s: float
) -> KafkaPublisher:
    if not bootstrap or not registry_url:
        raise ConfigError(
            "the API needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
        )
    try:
        return KafkaPublisher(bootstrap, registry_url, topics, timeout_s)
    except KafkaException as exc:
        raise BrokerError(f"ingest producer: {exc}") from exc
