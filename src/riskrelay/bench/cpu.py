"""The worker's CPU pipeline alone, with the enrichment stage on and off in one run.

No network while measuring: each event is decoded (wire format, writer schemas fetched
from the registry once, before the clock starts), normalized, given its state decision,
enriched (stateless enrichers, then the subject profile over an in-memory table with its
changelog record encoded), mapped by every adapter its default routes name
(``build_request``, the JSON or form body rendered), and its outputs encoded: one delivery
result per provider, the analytics copy for the normalized topic and the completed state
snapshot. That is the work the worker's event loop does per event besides waiting for
providers and Kafka, in the order ``pipeline.EventProcessor`` does it.

The traffic is ``dev.demo.demo_stream``: all three families, every kind, eight events per
subject. Rates are events per second of this thread's CPU time (``time.thread_time``), so
other processes on the machine do not count; each mode runs ``rounds`` times,
alternating, and the best round counts (the least disturbed one). The stateless
enrichers' caches are warm after the first round, as they are in a worker that has run
for a while; the profile table starts empty every round.
"""

from __future__ import annotations

import gc
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient
from rich.progress import Progress
from rich.table import Table

from riskrelay.bench.report import _round
from riskrelay.bench.stack import BenchStack
from riskrelay.decode.avro import WIRE_HEADER_SIZE, AvroDecoder, AvroEncoder, registry_client
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.request import ProviderRequest
from riskrelay.dev.demo import demo_stream
from riskrelay.enrich.profile_stage import (
    EnrichmentStage,
    ProfileStage,
    enrich_options,
    profile_limits,
)
from riskrelay.errors import DeliveryError
from riskrelay.kafka.collector import OutputRecord, RecordCollector
from riskrelay.models import FAMILY_SCHEMAS, AvroRecord, Family, SourcePosition
from riskrelay.normalize import normalize, without_secrets
from riskrelay.pipeline import OutputTopics, delivery_record, utc_now
from riskrelay.routing import DEFAULT_ROUTES, family_kinds, probe_envelope
from riskrelay.settings import EnrichSettings, TopicSettings
from riskrelay.state.identities import IdentityLookup
from riskrelay.state.profiles import ProfileTable
from riskrelay.state.snapshot import Verdict, decide, delivery_entry, with_completed, with_pending
from riskrelay.state.store import MemoryBytesStore, StateStore

CPU_METHOD = (
    "events / CPU seconds of one thread: decode -> normalize -> state decision -> "
    "[enrich] -> every routed adapter's request -> encode the outputs (changed profiles "
    "every {commit:,} events, as at a commit); no network; best of {rounds} alternating "
    "rounds of {events:,} demo events"
)
PARTITIONS = 6
COMMIT_EVERY = 500
"""Events between two commits (what the checkpoint flushes then: changed profiles). The
worker commits every 0.2 s, which at the rates measured here is more events than this."""
# An id any adapter takes where it needs one of ours mapped (a Dataspike applicant must
# be a UUID).
KNOWN_ID = "6f1c2a3e-8b4d-4c5e-9f60-718293a4b5c6"


class BenchIdentities:
    """Every identity known except those ``missing``: each adapter makes its main call
    (a payment creates its Stripe evaluation, an evaluation reports to it)."""

    def __init__(self, missing: frozenset[str] = frozenset()) -> None:
        self._missing = missing

    def get(self, table: str, key: str) -> str | None:
        return None if table in self._missing else KNOWN_ID


_ALL_KNOWN = BenchIdentities()
_NEW_PAYMENT = BenchIdentities(frozenset({"stripe.evaluation"}))
_NEW_INTERVENTION = BenchIdentities(frozenset({"stripe.intervention"}))


def _identities(family: Family, kind: str) -> IdentityLookup:
    if family is Family.PAYMENT:
        return _NEW_PAYMENT
    if kind == "user_intervention_raised":
        return _NEW_INTERVENTION
    return _ALL_KNOWN


@dataclass(frozen=True, slots=True)
class CpuResult:
    events: int
    rounds: int
    plain_events_per_s: float
    enriched_events_per_s: float

    @property
    def ratio(self) -> float:
        plain = self.plain_events_per_s
        return self.enriched_events_per_s / plain if plain > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "cpu_events_per_s_enriched": _round(self.enriched_events_per_s),
            "cpu_events_per_s_plain": _round(self.plain_events_per_s),
            "cpu_enriched_ratio": _round(self.ratio, 3),
            "cpu_events": self.events,
            "cpu_method": CPU_METHOD.format(
                rounds=self.rounds, events=self.events, commit=COMMIT_EVERY
            ),
        }


class CpuPipeline:
    """The worker's per-event CPU work, sequenced as ``EventProcessor`` does it."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        adapters: tuple[ProviderAdapter, ...],
        enrich: EnrichSettings | None,
        prefix: str,
    ) -> None:
        topics = TopicSettings(prefix=prefix)
        self.topics = topics
        self._out = OutputTopics.from_settings(topics)
        self._decoders = {
            topics.family_topic(family.value): (family, AvroDecoder(registry, schema))
            for family, schema in FAMILY_SCHEMAS.items()
        }
        out = self._out
        # No identities are learned and nothing is dead-lettered here.
        self._collector = RecordCollector(
            out.encoders(registry, out.normalized, out.deliveries, out.event_state, out.profiles)
        )
        self._routes = {
            (family, kind): tuple(
                adapter
                for adapter in adapters
                if DEFAULT_ROUTES.sends(adapter.name, family, kind)
                and adapter.accepts(probe_envelope(family, kind))
            )
            for family in Family
            for kind in family_kinds(family)
        }
        self._enrich = enrich
        self._store = StateStore(MemoryBytesStore())
        self._enrichment: EnrichmentStage | None = None
        self._uncommitted = 0
        self.reset()

    def reset(self) -> None:
        """Empty state and profiles: every round sees new events and new subjects."""
        self._store = StateStore(MemoryBytesStore())
        self._uncommitted = 0
        if self._enrich is None:
            self._enrichment = None
            return
        profiles = ProfileStage(
            ProfileTable(MemoryBytesStore()),
            profile_limits(self._enrich),
            self._collector,
            self._out.profiles,
            utc_now,
        )
        self._enrichment = EnrichmentStage(enrich_options(self._enrich), profiles)

    def process(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        family, decoder = self._decoders[topic]
        now = utc_now()
        record = decoder.decode(value)
        event = normalize(family, record, SourcePosition(topic, partition, offset), now)
        envelope = event.envelope
        state = self._store.get(partition, envelope.event_id)
        decision = decide(state, envelope)
        if decision.rejected or decision.verdict is Verdict.SEEN:
            return
        version = decision.version
        operation = "CREATE" if version == 1 else "UPDATE"
        body = {**event.body, "version": version, "operation": operation}
        if self._enrichment is not None:
            body = self._enrichment.apply(body, partition)
        routed = self._routes[family, envelope.kind]
        entries = [delivery_entry(a.name, "PENDING") for a in routed]
        pending = with_pending(state, envelope, version, entries, now)
        identities = _identities(family, envelope.kind)
        deliveries = [self._deliver(adapter, body, version, identities, now) for adapter in routed]
        body = without_secrets(body)
        analytics = body if self._enrichment is None else self._enrichment.for_analytics(body)
        collector = self._collector
        collector.send(
            OutputRecord(self._out.normalized, partition, envelope.subject_id, analytics)
        )
        completed = with_completed(
            pending, envelope, version, orjson.dumps(body).decode(), deliveries, [], now
        )
        value = collector.send(
            OutputRecord(self._out.event_state, partition, envelope.event_id, completed)
        )
        self._store.put_encoded(partition, envelope.event_id, value[WIRE_HEADER_SIZE:])
        self._uncommitted += 1
        if self._uncommitted >= COMMIT_EVERY:
            self.commit()
        collector.take()

    def commit(self) -> None:
        """What the checkpoint adds to a commit besides finished events' outputs."""
        self._uncommitted = 0
        if self._enrichment is not None:
            self._enrichment.flush()
        self._collector.take()

    def _deliver(
        self,
        adapter: ProviderAdapter,
        body: AvroRecord,
        version: int,
        identities: IdentityLookup,
        now: datetime,
    ) -> AvroRecord:
        """Map and render the request, then record a delivery as the worker would."""
        error = None
        try:
            request = adapter.build_request(body, version, identities)
        except DeliveryError as exc:
            error = str(exc)
        else:
            if isinstance(request, ProviderRequest):
                if request.json is not None:
                    orjson.dumps(request.json)
                elif request.form is not None:
                    urlencode(request.form)
        self._collector.send(
            delivery_record(
                self._out.deliveries,
                body,
                adapter.name,
                "POST /bench",
                delivered=not error,
                status_code=None if error else 200,
                error=error,
                completed_at=now,
            )
        )
        outcome = "FAILED" if error else "DELIVERED"
        return delivery_entry(adapter.name, outcome, attempts=1, completed_at=now)


Message = tuple[str, int, int, bytes]


def bench_messages(
    pipeline: CpuPipeline, registry: SchemaRegistryClient, count: int
) -> list[Message]:
    """``count`` demo events in the wire format, keyed to partitions by subject."""
    encoders = {
        family: AvroEncoder(registry, pipeline.topics.family_topic(family.value), schema)
        for family, schema in FAMILY_SCHEMAS.items()
    }
    offsets = [0] * PARTITIONS
    messages = []
    for family, event in demo_stream(count, seed=11):
        partition = zlib.crc32(event["subject_id"].encode()) % PARTITIONS
        topic = pipeline.topics.family_topic(family.value)
        messages.append((topic, partition, offsets[partition], encoders[family].encode(event)))
        offsets[partition] += 1
    return messages


def _timed(pipeline: CpuPipeline, messages: list[Message]) -> float:
    pipeline.reset()
    start = time.thread_time()
    for topic, partition, offset, value in messages:
        pipeline.process(topic, partition, offset, value)
    pipeline.commit()
    return time.thread_time() - start


def measure_cpu(
    registry: SchemaRegistryClient,
    adapters: tuple[ProviderAdapter, ...],
    events: int,
    rounds: int = 3,
    enrich: EnrichSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> CpuResult:
    """Plain and enriched rates over the same ``events`` demo events, ``rounds`` each."""
    prefix = f"bench-cpu-{uuid.uuid4().hex[:8]}."
    settings = enrich or EnrichSettings(enabled=True)
    plain = CpuPipeline(registry, adapters, None, prefix)
    enriched = CpuPipeline(registry, adapters, settings, prefix)
    messages = bench_messages(plain, registry, events)
    warmup = messages[: min(len(messages), 200)]
    _timed(plain, warmup)  # writer schemas fetched, once, off the clock
    _timed(enriched, warmup)
    best = {"plain": 0.0, "enriched": 0.0}
    thresholds = gc.get_threshold()
    gc.collect()
    # As the worker runs (worker.tune_garbage_collector): rare collections.
    gc.set_threshold(100_000, 50, 1_000)
    try:
        done = 0
        for _ in range(rounds):
            for name, pipeline in (("plain", plain), ("enriched", enriched)):
                seconds = _timed(pipeline, messages)
                best[name] = max(best[name], len(messages) / max(seconds, 1e-9))
                done += 1
                if progress is not None:
                    progress(done)
    finally:
        gc.set_threshold(*thresholds)
    return CpuResult(len(messages), rounds, best["plain"], best["enriched"])


def cpu_phase(stack: BenchStack, progress: Progress) -> CpuResult:
    """The CPU measurement of a ``riskrelay bench worker`` run, against the run's
    registry, with the worker's adapters."""
    from riskrelay.worker import ADAPTERS

    options = stack.options
    rounds = 5
    task = progress.add_task(
        f"CPU pipeline: {options.cpu_events:,} events, enrichment on and off", total=2 * rounds
    )
    return measure_cpu(
        registry_client(stack.registry_url),
        ADAPTERS,
        options.cpu_events,
        rounds,
        progress=lambda done: progress.update(task, completed=done),
    )


def cpu_table(result: dict[str, Any]) -> Table:
    table = Table(title="riskrelay CPU pipeline (no network)")
    table.add_column("")
    table.add_column("events/s", justify="right")
    table.add_row("enrichment on", f"{result['cpu_events_per_s_enriched']:,.1f}")
    table.add_row("enrichment off", f"{result['cpu_events_per_s_plain']:,.1f}")
    table.add_row("ratio on / off", f"{result['cpu_enriched_ratio']:.2f}")
    table.caption = result["cpu_method"]
    return table
