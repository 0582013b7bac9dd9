"""The worker: consume input partitions, run each record through the pipeline, emit,
commit.

Ordering is per subject: within a batch, records of one subject (the Kafka key) run
strictly in order while different subjects run concurrently. Offsets are committed only
after every output of the batch is acknowledged (at-least-once; a record seen again after
a crash is recognised by the state snapshot and only its unfinished deliveries rerun).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import defaultdict
from collections.abc import Sequence

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from riskrelay.decode.avro import AvroDecoder, AvroEncoder, registry_client
from riskrelay.deliver.dispatcher import Dispatcher, Provider
from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.deliver.retry import RetryPolicy
from riskrelay.errors import ConfigError
from riskrelay.kafka.collector import RecordCollector
from riskrelay.kafka.config import consumer_config, producer_config
from riskrelay.kafka.messages import position
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import Family
from riskrelay.pipeline import EventProcessor, OutputTopics
from riskrelay.settings import Settings
from riskrelay.state.reader import StateTopicReader, state_consumer
from riskrelay.state.store import PartitionedStateStore

log = logging.getLogger(__name__)

ADAPTERS: tuple[ProviderAdapter, ...] = (Unit21Adapter(),)
FAMILY_SCHEMAS = {
    Family.LIFECYCLE: "lifecycle",
    Family.PAYMENT: "payment",
    Family.EVALUATION: "evaluation",
}


def configured_providers(settings: Settings) -> list[Provider]:
    """Providers with a base URL and enabled, bound to their HTTP client."""
    providers = []
    for adapter in ADAPTERS:
        conf = settings.providers.get(adapter.name)  # type: ignore[arg-type]
        if not conf.enabled or not conf.base_url:
            continue
        if conf.api_key is None:
            raise ConfigError(f"RISKRELAY_{adapter.name.upper()}_API_KEY is not set")
        http = ProviderHttp(
            conf.base_url, adapter.auth_headers(conf.api_key.get_secret_value()), conf.timeout_s
        )
        providers.append(Provider(adapter, http, RetryPolicy()))
    return providers


def group_by_subject(messages: Sequence[Message]) -> list[list[Message]]:
    """Records of one subject keep their order; a record without key is its own group."""
    groups: dict[bytes, list[Message]] = defaultdict(list)
    alone: list[list[Message]] = []
    for message in messages:
        key = message.key()
        if key is None:
            alone.append([message])
        else:
            groups[key].append(message)
    return [*groups.values(), *alone]


def commit_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """The next offset to read per partition after this batch."""
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        at = position(message)
        tp = (at.topic, at.partition)
        last[tp] = max(last.get(tp, -1), at.offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def require_connections(settings: Settings) -> tuple[str, str]:
    if not settings.kafka.bootstrap or not settings.registry.url:
        raise ConfigError(
            "the worker needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
        )
    return settings.kafka.bootstrap, settings.registry.url


class Worker:
    def __init__(
        self, settings: Settings, providers: list[Provider], metrics: WorkerMetrics
    ) -> None:
        self._bootstrap, registry_url = require_connections(settings)
        self._settings = settings
        self._metrics = metrics
        topics = settings.topics
        self._outputs = OutputTopics.from_settings(topics)
        registry = registry_client(registry_url)
        self._inputs = {
            topics.name(getattr(topics, family.value.lower())): (
                family,
                AvroDecoder(registry, FAMILY_SCHEMAS[family]),
            )
            for family in Family
        }
        self._state_decoder = AvroDecoder(registry, "event_state")
        ensure_topics(self._bootstrap, topic_specs(settings), settings.kafka.replication_factor)
        encoders = {
            self._outputs.normalized: AvroEncoder(registry, self._outputs.normalized, "normalized"),
            self._outputs.deliveries: AvroEncoder(
                registry, self._outputs.deliveries, "delivery_result"
            ),
            self._outputs.event_state: AvroEncoder(
                registry, self._outputs.event_state, "event_state"
            ),
            self._outputs.dlq: AvroEncoder(registry, self._outputs.dlq, "dlq"),
        }
        self._producer = Producer(producer_config(self._bootstrap))
        self._collector = RecordCollector(self._producer, encoders)
        self._store = PartitionedStateStore()
        self._dispatcher = Dispatcher(providers, metrics)
        self.processor = EventProcessor(
            self._inputs, self._outputs, self._store, self._dispatcher, self._collector, metrics
        )
        worker = settings.worker
        overrides = {"group.instance.id": worker.instance_id} if worker.instance_id else {}
        self._consumer = Consumer(
            consumer_config(self._bootstrap, worker.group_id, settings.kafka, **overrides)
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Restore the assigned partitions' event state before processing any record."""
        numbers = sorted({tp.partition for tp in partitions})
        start = time.perf_counter()
        reader = StateTopicReader(
            state_consumer(self._bootstrap),
            self._outputs.event_state,
            self._state_decoder,
            self._store.put,
        )
        try:
            reader.assign(numbers)
            reader.catch_up(numbers)
        finally:
            reader.close()
        elapsed = time.perf_counter() - start
        self._metrics.state_restore.observe(elapsed)
        log.info(
            "assigned partitions %s; restored %d state records in %.2fs",
            numbers,
            reader.records_applied,
            elapsed,
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Batches finish before the next poll, so nothing is in flight here.
        for number in {tp.partition for tp in partitions}:
            self._store.drop(number)
        log.info("revoked partitions %s", sorted({tp.partition for tp in partitions}))

    async def _process_batch(self, messages: list[Message]) -> None:
        async def in_order(group: list[Message]) -> None:
            for message in group:
                await self.processor.process(message)

        self._metrics.in_flight.set(len(messages))
        await asyncio.gather(*(in_order(group) for group in group_by_subject(messages)))
        self._metrics.in_flight.set(0)

    async def run(self, stop: asyncio.Event) -> None:
        worker = self._settings.worker
        self._consumer.subscribe(
            list(self._inputs), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not stop.is_set():
                batch = await asyncio.to_thread(
                    self._consumer.consume, worker.batch_size, worker.poll_timeout_s
                )
                messages = [m for m in batch if m.error() is None]
                for m in batch:
                    if m.error() is not None:
                        log.warning("consumer error: %s", m.error())
                if not messages:
                    continue
                await self._process_batch(messages)
                await asyncio.to_thread(self._collector.flush)
                self._consumer.commit(offsets=commit_offsets(messages), asynchronous=False)
        finally:
            await self._dispatcher.close()
            await asyncio.to_thread(self._collector.flush)
            self._consumer.close()


async def _serve(settings: Settings, providers: list[Provider]) -> None:
    metrics = WorkerMetrics()
    server, thread = start_http_server(
        settings.worker.metrics_port, addr=settings.worker.metrics_host, registry=metrics.registry
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        worker = await asyncio.to_thread(Worker, settings, providers, metrics)
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
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(settings, providers))
    else:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(_serve(settings, providers))
