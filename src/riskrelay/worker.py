"""The worker: a consumer-group member that runs every input record through the
pipeline, with per-subject order, bounded memory and transactional outputs.

- Records of one subject run strictly in order; different subjects run concurrently
  (``processing.scheduler``). A bounded number of records is in flight; at the bound the
  assigned partitions are paused and polling goes on, so the group membership survives any
  provider slowness.
- Every ``commit_interval_s`` the checkpoint commits the buffered outputs and, per
  partition, the offset below which every record is finished, in one transaction.
- On assignment the partitions' event state is restored from the state topic before any
  of their records is processed. On revocation or shutdown, in-flight records get a bounded
  time to finish, the rest is abandoned (not committed), and what is done is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import time
import uuid
from collections.abc import Coroutine, Hashable
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from riskrelay.checkpoint import Checkpoint
from riskrelay.decode.avro import AvroDecoder, registry_client
from riskrelay.deliver.dispatcher import Dispatcher, Provider, build_provider
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.providers.coinflow import CoinflowAdapter
from riskrelay.deliver.providers.dataspike import DataspikeAdapter
from riskrelay.deliver.providers.stripe import StripeAdapter
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.enrich.profile_stage import (
    EnrichmentStage,
    ProfileStage,
    enrich_options,
    profile_limits,
)
from riskrelay.errors import ConfigError
from riskrelay.health import WorkerHealth, serve_worker_http
from riskrelay.kafka.collector import RecordCollector
from riskrelay.kafka.config import consumer_config, producer_config
from riskrelay.kafka.messages import position
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.logging import log_fields
from riskrelay.memory import MemoryReleaser
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import FAMILY_SCHEMAS, Family
from riskrelay.pipeline import EventProcessor, OutputTopics, utc_now
from riskrelay.processing.offsets import OffsetTracker
from riskrelay.processing.scheduler import SubjectScheduler
from riskrelay.routing import load_routing
from riskrelay.settings import ProviderSettings, Settings, StripeSettings
from riskrelay.state.identities import IdentityTable
from riskrelay.state.profiles import ProfileTable
from riskrelay.state.reader import StateTopicReader, state_consumer
from riskrelay.state.store import StateStore, bytes_store

log = logging.getLogger(__name__)

ADAPTERS: tuple[ProviderAdapter, ...] = (
    CoinflowAdapter(),
    Unit21Adapter(),
    DataspikeAdapter(),
    StripeAdapter(),
)
TopicPartitionKey = tuple[str, int]


def with_options(adapter: ProviderAdapter, conf: ProviderSettings) -> ProviderAdapter:
    """The adapter with its provider's own options from configuration."""
    if isinstance(adapter, StripeAdapter) and isinstance(conf, StripeSettings):
        return StripeAdapter(conf.stripe_version, adapter.payment_kinds)
    return adapter


def configured_providers(settings: Settings) -> list[Provider]:
    """Providers with a base URL and enabled, each with its own delivery lane and the
    routes of the routing file (``RISKRELAY_ROUTING_FILE``; without one, all events its
    adapter accepts). Routes that will deliver nothing are skipped, and said so here."""
    routing = load_routing(settings.routing_file)
    confs = routing.apply(settings.providers)
    for name, reason in routing.unreachable(confs, [a.name for a in ADAPTERS]).items():
        log.warning("routes to %s are skipped: %s", name, reason)
    providers = [
        build_provider(with_options(adapter, conf), conf, routing.routes)
        for adapter in ADAPTERS
        if (conf := confs.get(adapter.name)).enabled  # type: ignore[arg-type]
        and conf.base_url
    ]
    for provider in providers:
        if refused := routing.routes.refused(provider.name, provider.adapter.accepts):
            log.warning(
                "routes to %s are skipped for %s: its adapter does not take them",
                provider.name,
                ", ".join(refused),
            )
    return providers


def transactional_id(settings: Settings) -> str:
    """Stable across restarts when the member is static, so a restarted worker fences
    its own zombie; otherwise unique (fencing then rests on the group generation)."""
    worker = settings.worker
    if worker.transactional_id:
        return worker.transactional_id
    member = worker.instance_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    return f"{settings.topics.prefix}{worker.group_id}-{member}"


def require_connections(settings: Settings) -> tuple[str, str]:
    if not settings.kafka.bootstrap or not settings.registry.url:
        raise ConfigError(
            "the worker needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
        )
    return settings.kafka.bootstrap, settings.registry.url


class Worker:
    def __init__(
        self,
        settings: Settings,
        providers: list[Provider],
        metrics: WorkerMetrics,
        health: WorkerHealth | None = None,
    ) -> None:
        self.health = health or WorkerHealth()
        self._memory = MemoryReleaser()
        self._bootstrap, registry_url = require_connections(settings)
        self._settings = settings
        self._metrics = metrics
        topics = settings.topics
        self._outputs = OutputTopics.from_settings(topics)
        registry = registry_client(registry_url, settings.registry)
        self._inputs = {
            topics.family_topic(family.value): (
                family,
                AvroDecoder(registry, FAMILY_SCHEMAS[family]),
            )
            for family in Family
        }
        self._state_decoder = AvroDecoder(registry, "event_state")
        ensure_topics(self._bootstrap, topic_specs(settings), settings.kafka.replication_factor)
        out = self._outputs
        self._collector = RecordCollector(out.encoders(registry))
        self._identity_decoder = AvroDecoder(registry, "identity")
        self._profile_decoder = AvroDecoder(registry, "profile")
        self._store = StateStore(bytes_store(settings.worker.state_store))
        self._identities = IdentityTable(
            bytes_store(settings.worker.state_store, prefix="riskrelay-identities-")
        )
        self._profiles = ProfileTable(
            bytes_store(settings.worker.state_store, prefix="riskrelay-profiles-"),
            settings.enrich.profile_cache,
        )
        enrichment = (
            EnrichmentStage(
                enrich_options(settings.enrich),
                ProfileStage(
                    self._profiles,
                    profile_limits(settings.enrich),
                    self._collector,
                    out.profiles,
                    utc_now,
                ),
            )
            if settings.enrich.enabled
            else None
        )
        metrics.watch_store("event_state", self._store)
        metrics.watch_store("identities", self._identities)
        self._dispatcher = Dispatcher(providers, metrics)
        self.processor = EventProcessor(
            self._inputs,
            out,
            self._store,
            self._identities,
            self._dispatcher,
            self._collector,
            metrics,
            enrichment=enrichment,
        )
        worker = settings.worker
        static = {"group.instance.id": worker.instance_id} if worker.instance_id else {}
        self._consumer = Consumer(
            consumer_config(
                self._bootstrap,
                worker.group_id,
                settings.kafka,
                **static,
                **metrics.consumer_config(),  # lag per partition from librdkafka's statistics
            )
        )
        self._producer = Producer(
            producer_config(
                self._bootstrap, settings.kafka, **{"transactional.id": transactional_id(settings)}
            )
        )
        self._tracker = OffsetTracker()
        self._owned: set[TopicPartitionKey] = set()
        self._scheduler = SubjectScheduler(self.processor.process, self._finished)
        self._group_metadata: object = None
        self._checkpoint = Checkpoint(
            self._producer,
            lambda: self._group_metadata,
            self._collector,
            self._tracker,
            metrics,
            owned=self._owned.__contains__,
            before_commit=self.processor.flush_pending,
        )
        self._paused = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- records -------------------------------------------------------------------

    def _subject(self, message: Message) -> Hashable:
        if self._settings.worker.ordering == "partition":
            return (message.topic(), message.partition())
        # A subject's events are ordered within each input topic: Kafka gives no order
        # across topics, so a subject's payment and evaluation chains run side by side
        # (an evaluation awaiting its payment's identity must not block that payment).
        key = message.key()
        if key is None:
            return (message.topic(), message.partition(), message.offset())
        return (message.topic(), key)

    def _accept(self, message: Message) -> None:
        at = position(message)
        if (at.topic, at.partition) not in self._owned:
            return  # fetched before a revocation; the new owner reads it
        self._tracker.progress(at.topic, at.partition).started(at.offset)
        self._scheduler.submit(self._subject(message), message)

    def _finished(self, message: Message) -> None:
        at = position(message)
        if (at.topic, at.partition) in self._owned:
            self._tracker.progress(at.topic, at.partition).finished(at.offset)
            self._checkpoint.finished()

    # -- backpressure ----------------------------------------------------------------

    def _apply_backpressure(self) -> int:
        """Pause at the in-flight bound, resume below half of it; return free capacity.
        Finished events count until their transaction commits (``Checkpoint.uncommitted``)."""
        limit = self._settings.worker.max_in_flight
        in_flight, uncommitted = self._scheduler.accepted, self._checkpoint.uncommitted
        self._metrics.in_flight.set(in_flight)
        self._metrics.uncommitted.set(uncommitted)
        accepted = in_flight + uncommitted
        assignment = self._consumer.assignment()
        if not self._paused and accepted >= limit and assignment:
            self._consumer.pause(assignment)
            self._paused = True
            self._metrics.paused_partitions.set(len(assignment))
        elif self._paused and accepted <= limit // 2:
            if assignment:
                self._consumer.resume(assignment)
            self._paused = False
            self._metrics.paused_partitions.set(0)
        return max(0, limit - accepted)

    # -- rebalance (called by librdkafka inside consume(), on the polling thread) ----

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Restore the assigned partitions' event state before processing any record."""
        self._metrics.rebalances.labels("assign").inc()
        # The group generation changes only here. Taken now, inside the callback: the
        # client serializes calls on a consumer, so asking from the committing thread
        # would wait for the poll in progress, which may be waiting for that commit.
        self._group_metadata = consumer.consumer_group_metadata()
        numbers = sorted({tp.partition for tp in partitions})
        self._metrics.restore_started()
        self.health.restore_started()
        start = time.perf_counter()
        restored = 0
        for topic, decoder, apply in (
            (self._outputs.event_state, self._state_decoder, self._store.put),
            (self._outputs.identities, self._identity_decoder, self._identities.apply),
            (self._outputs.profiles, self._profile_decoder, self._profiles.apply),
        ):
            reader = StateTopicReader(state_consumer(self._bootstrap), topic, decoder, apply)
            try:
                reader.assign(numbers)
                reader.catch_up(numbers)
            finally:
                reader.close()
            restored += reader.records_applied
        elapsed = time.perf_counter() - start
        self._metrics.restore_finished(elapsed)
        self.health.restore_finished()
        self._owned.update((tp.topic, tp.partition) for tp in partitions)
        self._metrics.assigned_partitions.set(len(self._owned))
        self._paused = False
        log.info(
            "assigned %s; restored %d state, identity and profile records in %.2fs",
            [f"{tp.topic}[{tp.partition}]" for tp in partitions],
            restored,
            elapsed,
            extra=log_fields(
                "rebalance",
                kind="assign",
                partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions],
                restored_records=restored,
                restore_seconds=round(elapsed, 3),
            ),
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoke").inc()
        self._run_on_loop(self._release(partitions, commit=True))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("lost").inc()
        self._run_on_loop(self._release(partitions, commit=False))

    def _run_on_loop(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _release(self, partitions: list[TopicPartition], commit: bool) -> None:
        """Let in-flight records finish for a bounded time, abandon the rest, commit
        what is done, then forget the partitions' state."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        revoked = set(keys)
        timeout = self._settings.worker.revoke_timeout_s
        if not await self._scheduler.wait_idle(timeout):
            abandoned = await self._scheduler.cancel(
                keep=lambda m: (m.topic(), m.partition()) not in revoked
            )
            log.warning("abandoned %d in-flight records on revocation (not committed)", abandoned)
        if commit:
            await self._checkpoint.commit(self._settings.worker.revoke_commit_timeout_s)
        self._owned.difference_update(keys)
        self._metrics.assigned_partitions.set(len(self._owned))
        self._tracker.drop(keys)
        for number in {p for _, p in keys}:
            if not any(p == number for _, p in self._owned):
                self._store.drop(number)
                self._identities.drop(number)
                self._profiles.drop(number)
        released = [f"{t}[{p}]" for t, p in keys]
        kind = "revoke" if commit else "lost"
        log.info(
            "released %s", released, extra=log_fields("rebalance", kind=kind, partitions=released)
        )

    # -- the loops -------------------------------------------------------------------

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        interval = self._settings.worker.commit_interval_s
        released = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            await self._checkpoint.commit()
            if time.monotonic() - released >= RELEASE_MEMORY_EVERY_S:
                self._memory.release()  # see riskrelay.memory
                released = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        worker = self._settings.worker
        await asyncio.to_thread(self._checkpoint.init)
        self._consumer.subscribe(
            list(self._inputs),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        stop_commits = asyncio.Event()
        committer = asyncio.create_task(self._commit_loop(stop_commits))
        try:
            while not stop.is_set():
                if self._scheduler.failure is not None:
                    raise self._scheduler.failure
                if committer.done():
                    committer.result()  # a failed transaction stops the worker
                capacity = self._apply_backpressure()
                batch = await asyncio.to_thread(
                    self._consumer.consume,
                    max(1, min(worker.batch_size, capacity)),
                    worker.poll_timeout_s,
                )
                self.health.polled()
                for message in batch:
                    error = message.error()
                    if error is None:
                        self._accept(message)
                    else:
                        log.warning("consumer error: %s", error)
                await asyncio.sleep(0)  # let the new records' tasks start
        finally:
            await self._shutdown(committer, stop_commits)

    async def _shutdown(self, committer: asyncio.Task[None], stop_commits: asyncio.Event) -> None:
        failed = committer.done() and committer.exception() is not None
        if not failed:
            if not await self._scheduler.wait_idle(self._settings.worker.shutdown_timeout_s):
                abandoned = await self._scheduler.cancel(keep=lambda m: False)
                log.warning("abandoned %d in-flight records at shutdown", abandoned)
            stop_commits.set()
            await committer
            await self._checkpoint.commit()
        else:
            await self._scheduler.cancel(keep=lambda m: False)
        await self._dispatcher.close()
        # close() runs the revoke callback, which needs this loop: run it off the loop.
        await asyncio.to_thread(self._consumer.close)
        await asyncio.to_thread(self._producer.flush, 10)
        self._store.close()
        self._identities.close()
        self._profiles.close()


RELEASE_MEMORY_EVERY_S = 5.0


def tune_garbage_collector() -> None:
    """Measured: with the default thresholds a third of the worker's CPU went to full
    collections that freed nothing (every event allocates many short-lived dicts, which
    reference counting frees anyway). Everything built at start-up is frozen out of
    collection, and collections run far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1_000)


async def _serve(settings: Settings, providers: list[Provider]) -> None:
    metrics = WorkerMetrics()
    health = WorkerHealth()
    server, thread = serve_worker_http(
        settings.worker.metrics_host, settings.worker.metrics_port, metrics.registry, health
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        worker = await asyncio.to_thread(Worker, settings, providers, metrics, health)
        tune_garbage_collector()
        log.info("worker started (group %s)", settings.worker.group_id)
        await worker.run(stop)
    finally:
        server.shutdown()
        thread.join(timeout=5)


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; leaves the group cleanly. Configuration is checked
    first, so a mistake is one line, not a half-started worker."""
    require_connections(settings)
    providers = configured_providers(settings)
    if not providers:
        log.warning("no provider configured: events are normalized but delivered nowhere")
    MemoryReleaser().limit_arenas()  # before any thread starts (riskrelay.memory)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(settings, providers))
    else:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(_serve(settings, providers))
