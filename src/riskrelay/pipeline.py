"""One input record through every stage: decode → validate/normalize → state decision →
route → deliver → emit. Stages are the pure functions of ``normalize``/``state`` and the
I/O of ``deliver``; this module only sequences them and says what goes where."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient

from riskrelay.decode.avro import WIRE_HEADER_SIZE, AvroDecoder, AvroEncoder
from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher
from riskrelay.enrich.profile_stage import EnrichmentStage
from riskrelay.errors import CredentialsError, InputError, PermanentDeliveryError
from riskrelay.kafka.collector import OutputRecord, RecordCollector
from riskrelay.kafka.messages import header_list
from riskrelay.logging import log_fields
from riskrelay.metrics import Bound, WorkerMetrics
from riskrelay.models import AvroRecord, CanonicalEvent, Envelope, Family
from riskrelay.normalize import normalize, without_secrets
from riskrelay.replay import input_position
from riskrelay.settings import TopicSettings
from riskrelay.state.identities import IdentityTable, identity_record
from riskrelay.state.snapshot import (
    Decision,
    Verdict,
    decide,
    decide_replay,
    delivery_entry,
    with_completed,
    with_pending,
)
from riskrelay.state.store import StateStore

Clock = Callable[[], datetime]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OutputTopics:
    normalized: str
    deliveries: str
    event_state: str
    identities: str
    profiles: str
    dlq: str

    @classmethod
    def from_settings(cls, topics: TopicSettings) -> OutputTopics:
        return cls(
            normalized=topics.name(topics.normalized),
            deliveries=topics.name(topics.deliveries),
            event_state=topics.name(topics.event_state),
            identities=topics.name(topics.identities),
            profiles=topics.name(topics.profiles),
            dlq=topics.name(topics.dlq),
        )

    def encoders(self, registry: SchemaRegistryClient, *topics: str) -> dict[str, AvroEncoder]:
        """An encoder for each of ``topics`` (all the outputs if none are named), its schema
        registered now: at start-up, so a refused schema stops the process before any record."""
        schemas = {
            self.normalized: "normalized",
            self.deliveries: "delivery_result",
            self.event_state: "event_state",
            self.identities: "identity",
            self.profiles: "profile",
            self.dlq: "dlq",
        }
        return {topic: AvroEncoder(registry, topic, schemas[topic]) for topic in topics or schemas}


def delivery_record(
    topic: str,
    body: AvroRecord,
    provider: str,
    endpoint: str,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    completed_at: datetime,
    attempts: list[AvroRecord] | None = None,
    response_body: str | None = None,
    response_ref: str | None = None,
) -> OutputRecord:
    """The deliveries-topic record of one provider's outcome for the event version ``body``
    (one builder, so the worker and the CPU bench write the same record)."""
    value = {
        "event_id": body["event_id"],
        "version": body["version"],
        "subject_id": body["subject_id"],
        "kind": body["kind"],
        "provider": provider,
        "endpoint": endpoint,
        "outcome": "DELIVERED" if delivered else "FAILED",
        "status_code": status_code,
        "attempts": attempts or [],
        "response_body": response_body,
        "response_ref": response_ref,
        "error": error,
        "occurred_at": body["occurred_at"],
        "completed_at": completed_at,
    }
    return OutputRecord(topic, body["source"]["partition"], body["event_id"], value)


def delivery_failure_reason(outcome: DeliveryOutcome) -> str:
    error = outcome.error
    if isinstance(error, CredentialsError):
        return "provider_unauthorized"
    if isinstance(error, PermanentDeliveryError):
        return "provider_rejected"
    return "provider_retries_exhausted"


class EventProcessor:
    def __init__(
        self,
        inputs: dict[str, tuple[Family, AvroDecoder]],
        outputs: OutputTopics,
        store: StateStore,
        identities: IdentityTable,
        dispatcher: Dispatcher,
        collector: RecordCollector,
        metrics: WorkerMetrics,
        clock: Clock = utc_now,
        enrichment: EnrichmentStage | None = None,
    ) -> None:
        self._inputs = inputs
        self._enrichment = enrichment
        self._out = outputs
        self._store = store
        self._identities = identities
        # Snapshots of versions in flight and not yet written (see flush_pending).
        self._pending: dict[tuple[int, str], AvroRecord] = {}
        self._dispatcher = dispatcher
        self._collector = collector
        self._metrics = metrics
        # Metric children bound once per label set (metrics.Bound), never per event.
        self._consumed = Bound(metrics.consumed).prime(inputs)  # 0 before the first record
        self._invalid = Bound(metrics.invalid)
        self._normalized = Bound(metrics.normalized)
        self._emitted = Bound(metrics.emitted, outputs.normalized)
        self._deliveries = Bound(metrics.deliveries)
        self._dlq = Bound(metrics.dlq)
        self._clock = clock

    async def process(self, message: Message) -> None:
        # A DLQ replay counts as the original record (riskrelay.replay).
        source, replay = input_position(message)
        self._consumed[source.topic].inc()
        family, decoder = self._inputs[source.topic]
        try:
            record = decoder.decode(message.value())
            event = normalize(family, record, source, self._clock())
        except InputError as exc:
            self._invalid[source.topic, exc.reason].inc()
            self.dead_letter(message, exc.reason, exc)
            return
        self._normalized[family, event.envelope.kind].inc()
        state = self._store.get(source.partition, event.envelope.event_id)
        decision = (
            decide(state, event.envelope)
            if replay is None
            else decide_replay(state, event.envelope, replay.providers)
        )
        if decision.rejected:
            message_text = (
                f"event {event.envelope.event_id} already exists (create without upsert)"
                if decision.verdict == "duplicate"
                else f"update of unknown event {event.envelope.event_id}"
            )
            self.dead_letter(
                message,
                decision.verdict.value,
                InputError(message_text),
                event_id=event.envelope.event_id,
                subject_id=event.envelope.subject_id,
            )
            return
        if decision.verdict is Verdict.SEEN or (
            decision.verdict is Verdict.RESUME and state is not None and state["pending"] is None
        ):
            # Applied and committed before a restart: nothing to deliver or emit again.
            self._metrics.skipped.inc()
            return
        await self._process_version(message, event, state, decision)

    async def _process_version(
        self,
        message: Message,
        event: CanonicalEvent,
        state: AvroRecord | None,
        decision: Decision,
    ) -> None:
        envelope, version = event.envelope, decision.version
        partition = envelope.source.partition
        body = {**event.body, "version": version, "operation": _operation(decision)}
        if self._enrichment is not None:
            # A replay keeps the profile signals its version got; anything else applies
            # the event to the subject's profile (synchronously: see enrich.profile_stage).
            recorded = None
            if decision.verdict is Verdict.RETRY and state is not None:
                recorded = state["current"]["data_json"]
            body = self._enrichment.apply(body, partition, recorded)
        routed = self._dispatcher.route(envelope)
        skip = decision.done_providers
        if decision.only is not None:  # a replay retries the providers that failed alone
            skip = skip | {p.name for p in routed if p.name not in decision.only}
        done = [p for p in routed if p.name in skip]
        todo = [p for p in routed if p.name not in skip]
        entries = {p.name: delivery_entry(p.name, "PENDING") for p in routed}
        if state is not None:
            previous = (state.get("pending") or state.get("current") or {}).get("deliveries", [])
            for entry in previous:
                if entry["provider"] in {p.name for p in done}:
                    entries[entry["provider"]] = entry
        now = self._clock()
        pending = with_pending(state, envelope, version, list(entries.values()), now)
        in_flight = (partition, envelope.event_id)
        self._pending[in_flight] = pending
        try:
            outcomes = await self._dispatcher.deliver(
                todo, envelope, body, version, self._identities.partition(partition)
            )
        finally:
            self._pending.pop(in_flight, None)
        for outcome in outcomes:
            self._keep_identities(envelope, outcome)
            entries[outcome.provider] = self._record_outcome(message, body, outcome)

        # Credentials an event carries for one provider call stop here.
        body = without_secrets(body)
        analytics = body if self._enrichment is None else self._enrichment.for_analytics(body)
        self._collector.send(
            OutputRecord(self._out.normalized, partition, envelope.subject_id, analytics)
        )
        self._emitted[envelope.family, envelope.kind].inc()
        completed = with_completed(
            pending,
            envelope,
            version,
            orjson.dumps(body).decode(),
            list(entries.values()),
            [],
            self._clock(),
        )
        self._put_state(partition, envelope.event_id, completed)

    def _keep_identities(self, envelope: Envelope, outcome: DeliveryOutcome) -> None:
        """Make what the provider answered usable by the next event at once, and durable
        with this event's outputs (same transaction)."""
        partition = envelope.source.partition
        for identity in outcome.learned:
            self._identities.put(partition, identity)
            self._collector.send(
                OutputRecord(
                    self._out.identities,
                    partition,
                    identity.record_key,
                    identity_record(
                        identity, envelope.subject_id, envelope.event_id, outcome.completed_at
                    ),
                )
            )

    def _record_outcome(
        self, message: Message, body: AvroRecord, outcome: DeliveryOutcome
    ) -> AvroRecord:
        result = outcome.result
        last = result.attempts[-1] if result.attempts else None
        status = last.status_code if last else None
        error_text = None if outcome.error is None else str(outcome.error)
        delivered = outcome.delivered
        self._deliveries[outcome.provider, "delivered" if delivered else "failed"].inc()
        self._collector.send(
            delivery_record(
                self._out.deliveries,
                body,
                outcome.provider,
                outcome.endpoint,
                delivered=delivered,
                status_code=status,
                error=error_text,
                completed_at=outcome.completed_at,
                attempts=[a.as_record() for a in result.attempts],
                response_body=result.response.body if result.response else None,
                response_ref=outcome.response_ref,
            )
        )
        if not delivered:
            reason = delivery_failure_reason(outcome)
            log.warning(
                "delivery of %s to %s failed for good: %s",
                body["event_id"],
                outcome.provider,
                error_text,
                extra=log_fields(
                    "delivery_failed",
                    event_id=body["event_id"],
                    kind=body["kind"],
                    provider=outcome.provider,
                    endpoint=outcome.endpoint,
                    status_code=status,
                    attempts=len(result.attempts),
                    reason=reason,
                ),
            )
            self.dead_letter(
                message,
                reason,
                outcome.error or InputError("delivery failed"),
                event_id=body["event_id"],
                subject_id=body["subject_id"],
                provider=outcome.provider,
                attempts=len(result.attempts),
            )
        return delivery_entry(
            outcome.provider,
            "DELIVERED" if delivered else "FAILED",
            attempts=len(result.attempts),
            status_code=status,
            response_ref=outcome.response_ref,
            error=error_text,
            completed_at=outcome.completed_at,
        )

    def _put_state(self, partition: int, event_id: str, state: AvroRecord) -> None:
        value = self._collector.send(
            OutputRecord(self._out.event_state, partition, event_id, state)
        )
        self._store.put_encoded(partition, event_id, value[WIRE_HEADER_SIZE:])

    def flush_pending(self) -> None:
        """Write the snapshots of versions still in flight (reads answer 423, or the old
        version, from them). Called by the checkpoint before each commit: a version that
        completes within one commit interval writes only its completed snapshot. The
        subject profiles changed since the last commit go too (enrich.profile_stage)."""
        for (partition, event_id), state in self._pending.items():
            self._collector.send(OutputRecord(self._out.event_state, partition, event_id, state))
        self._pending.clear()
        if self._enrichment is not None:
            self._enrichment.flush()

    def dead_letter(
        self,
        message: Message,
        reason: str,
        error: Exception,
        *,
        event_id: str | None = None,
        subject_id: str | None = None,
        provider: str | None = None,
        attempts: int = 0,
    ) -> None:
        """Keep the original bytes, headers and coordinates with the reason."""
        self._dlq[reason].inc()
        source, _ = input_position(message)
        log.warning(
            "dead-lettered %s (%s): %s",
            event_id or f"{source.topic}[{source.partition}]@{source.offset}",
            reason,
            error,
            extra=log_fields(
                "dlq",
                event_id=event_id,
                reason=reason,
                provider=provider,
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                error_class=type(error).__name__,
                attempts=attempts,
            ),
        )
        timestamp_type, timestamp_ms = message.timestamp()
        key = message.key()
        self._collector.send(
            OutputRecord(
                self._out.dlq,
                source.partition,
                key,
                {
                    "reason": reason,
                    "error_class": type(error).__name__,
                    "message": str(error),
                    "source_topic": source.topic,
                    "source_partition": source.partition,
                    "source_offset": source.offset,
                    "source_timestamp": (
                        datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_type else None
                    ),
                    "original_key": key,
                    "original_value": message.value(),
                    "original_headers": [{"key": k, "value": v} for k, v in header_list(message)],
                    "event_id": event_id,
                    "subject_id": subject_id,
                    "provider": provider,
                    "attempts": attempts,
                    "failed_at": self._clock(),
                },
            )
        )


def _operation(decision: Decision) -> str:
    return "CREATE" if decision.version == 1 else "UPDATE"
