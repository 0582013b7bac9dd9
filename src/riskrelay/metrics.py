"""Every Prometheus metric the worker exports, defined in one place (docs/metrics.md
lists them with their labels and what to alert on).

Each process builds its own ``CollectorRegistry`` (no module-level state). Labels carry
bounded values only (topic, partition, family, kind, provider, endpoint, status class,
outcome, reason), never ids. Per-event code updates children bound once (``Bound``): a
bound child costs ~0.25 µs per update where ``.labels()`` costs ~1 µs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RESTORE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

CONSUMER_STATS_INTERVAL_MS = 5_000
"""How often librdkafka reports consumer statistics (per-partition lag) to the worker."""

M = TypeVar("M", Counter, Gauge, Histogram)


class Bound(dict[Hashable, M], Generic[M]):
    """The children of one labelled metric, each bound on first use and kept.

    ``bound[value]`` or ``bound[value, value]``: a plain dict lookup once the child
    exists. Keys come from bounded sets (topics, kinds, providers, reasons), so the dict
    stays as small as the metric's label cardinality. ``fixed``: leading label values
    the same for every child (e.g. the one output topic).
    """

    def __init__(self, metric: M, *fixed: str) -> None:
        super().__init__()
        self._metric: M = metric
        self._fixed = fixed

    def __missing__(self, key: Hashable) -> M:
        values = key if isinstance(key, tuple) else (key,)
        child: M = self._metric.labels(*self._fixed, *values)
        self[key] = child
        return child

    def prime(self, keys: Iterable[Hashable]) -> Bound[M]:
        """Bind ``keys`` now so their series exist, at 0, before the first update (a
        ``rate()`` over them is then 0, not empty, and alerts can say "nothing moved")."""
        for key in keys:
            self.__missing__(key)
        return self


class MeasuredStore(Protocol):
    """A local store that can say how big it is (``riskrelay.state.store`` backends)."""

    def stats(self) -> tuple[int, int | None]:
        """(records, bytes); bytes is None where the backend cannot tell."""
        ...


class _StoreSizes(Collector):
    """Sizes of the worker's local stores, read at scrape time (no worker-loop work)."""

    def __init__(self) -> None:
        self._stores: dict[str, MeasuredStore] = {}

    def watch(self, name: str, store: MeasuredStore) -> None:
        self._stores[name] = store

    def collect(self) -> Iterator[Metric]:
        records = GaugeMetricFamily(
            "riskrelay_state_store_records",
            "Records in a local state store (RocksDB: its estimate)",
            labels=["store"],
        )
        size = GaugeMetricFamily(
            "riskrelay_state_store_bytes",
            "Bytes of a local state store (RocksDB: SST files plus memtables)",
            labels=["store"],
        )
        for name, store in list(self._stores.items()):
            try:
                count, nbytes = store.stats()
            except Exception:  # a store closing during a scrape: skip it this time
                continue
            records.add_metric([name], count)
            if nbytes is not None:
                size.add_metric([name], nbytes)
        yield records
        yield size


def partition_lags(stats: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """Lag of each partition the consumer is assigned, from librdkafka's statistics.

    Records after the worker's read position up to the partition's end (the last stable
    offset: the worker reads committed data only). The read position is the offset after
    the last record handed to the worker; before the first one, the committed offset; on
    a group's first start, the log start. librdkafka's own ``consumer_lag`` is not used:
    it counts from offsets the consumer itself committed, and the worker commits its
    offsets through the producer's transactions, which the consumer never sees.
    """
    lags: dict[tuple[str, int], int] = {}
    for topic, topic_stats in (stats.get("topics") or {}).items():
        for p in (topic_stats.get("partitions") or {}).values():
            partition = int(p.get("partition", -1))
            if partition < 0 or not p.get("desired"):
                continue
            end = _valid(p.get("ls_offset")) if "ls_offset" in p else None
            if end is None:
                end = _valid(p.get("hi_offset"))
            if end is None:
                continue
            position = _valid(p.get("stored_offset"))
            if position is None:
                position = _valid(p.get("committed_offset"))
            if position is None:
                position = _valid(p.get("lo_offset"))
            if position is None:
                continue
            lags[topic, partition] = max(0, end - position)
    return lags


def _valid(offset: Any) -> int | None:
    """librdkafka reports unknown offsets as negative sentinels (-1, -1001)."""
    return offset if isinstance(offset, int) and offset >= 0 else None


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        # -- records in and out ------------------------------------------------------
        self.consumed = Counter(
            "riskrelay_events_consumed", "Input records read", ["topic"], registry=r
        )
        self.invalid = Counter(
            "riskrelay_events_invalid",
            "Input records that could not be decoded or failed validation, by DLQ reason",
            ["topic", "reason"],
            registry=r,
        )
        self.normalized = Counter(
            "riskrelay_events_normalized",
            "Events validated and normalized",
            ["family", "kind"],
            registry=r,
        )
        self.emitted = Counter(
            "riskrelay_events_emitted",
            "Normalized events handed to the output transaction",
            ["topic", "family", "kind"],
            registry=r,
        )
        self.skipped = Counter(
            "riskrelay_events_skipped",
            "Input records seen again after a restart whose version was already complete",
            registry=r,
        )
        self.dlq = Counter(
            "riskrelay_dlq_records", "Records sent to the DLQ", ["reason"], registry=r
        )
        self.in_flight = Gauge("riskrelay_events_in_flight", "Events being processed", registry=r)
        self.uncommitted = Gauge(
            "riskrelay_events_uncommitted",
            "Events processed whose outputs wait for the next transaction",
            registry=r,
        )
        # -- providers ---------------------------------------------------------------
        self.deliveries = Counter(
            "riskrelay_provider_deliveries",
            "Provider deliveries by terminal outcome (delivered, failed)",
            ["provider", "outcome"],
            registry=r,
        )
        self.requests = Counter(
            "riskrelay_provider_requests",
            "Provider HTTP attempts by endpoint (method and path template) and status class "
            "(1xx..5xx; network: no HTTP answer)",
            ["provider", "endpoint", "status_class"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "riskrelay_provider_request_seconds",
            "Provider HTTP attempt latency",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_batch_size = Histogram(
            "riskrelay_provider_batch_events",
            "Events per provider HTTP request (1 unless the provider takes batches)",
            ["provider"],
            buckets=(1, 2, 5, 10, 25, 50, 100, 250),
            registry=r,
        )
        self.end_to_end = Histogram(
            "riskrelay_end_to_end_seconds",
            "Event time (occurred_at) to provider acknowledgement",
            ["provider"],
            buckets=END_TO_END_BUCKETS,
            registry=r,
        )
        # Per-provider delivery policy (riskrelay.deliver.lane binds these once per provider).
        self.provider_retries = Counter(
            "riskrelay_provider_retries",
            "Provider attempts retried after a transient failure",
            ["provider"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "riskrelay_provider_breaker_state",
            "Provider circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["provider"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "riskrelay_provider_breaker_transitions",
            "Provider circuit breaker transitions, by the state entered",
            ["provider", "state"],
            registry=r,
        )
        self.auth_failures = Counter(
            "riskrelay_provider_auth_failures",
            "Provider answers 401/403: our credentials were refused",
            ["provider"],
            registry=r,
        )
        self.credentials_invalid = Gauge(
            "riskrelay_provider_credentials_invalid",
            "1 while the provider refuses our credentials (deliveries wait, alert on it)",
            ["provider"],
            registry=r,
        )
        self.breaker_waiting = Gauge(
            "riskrelay_provider_breaker_waiting",
            "Deliveries waiting for the provider's breaker to let them through",
            ["provider"],
            registry=r,
        )
        # -- Kafka: consumer group, lag, transactions ----------------------------------
        self.paused_partitions = Gauge(
            "riskrelay_paused_partitions", "Partitions paused for backpressure", registry=r
        )
        self.assigned_partitions = Gauge(
            "riskrelay_assigned_partitions", "Input partitions this worker owns", registry=r
        )
        self.consumer_lag = Gauge(
            "riskrelay_consumer_lag_records",
            "Records in an assigned input partition after the worker's read position "
            "(librdkafka statistics, every few seconds)",
            ["topic", "partition"],
            registry=r,
        )
        self.rebalances = Counter(
            "riskrelay_rebalances", "Partition assignments and revocations", ["kind"], registry=r
        )
        self.commit_seconds = Histogram(
            "riskrelay_commit_seconds",
            "Checkpoint latency: outputs and offsets in one transaction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.transaction_aborts = Counter(
            "riskrelay_transaction_aborts", "Transactions that failed and were aborted", registry=r
        )
        self.offset_commit_deferrals = Counter(
            "riskrelay_offset_commit_deferrals",
            "Checkpoints whose offsets could not be added (outputs committed alone)",
            registry=r,
        )
        # -- local state -------------------------------------------------------------------
        self.state_restore = Histogram(
            "riskrelay_state_restore_seconds",
            "Time to restore assigned partitions' state",
            buckets=RESTORE_BUCKETS,
            registry=r,
        )
        self.state_restore_started = Gauge(
            "riskrelay_state_restore_started_timestamp_seconds",
            "When the restore under way started (0: none is running)",
            registry=r,
        )
        self._stores = _StoreSizes()
        r.register(self._stores)
        self._lag_children: dict[tuple[str, int], Gauge] = {}

    # -- hooks the worker wires ------------------------------------------------------------

    def watch_store(self, name: str, store: MeasuredStore) -> None:
        """Export ``store``'s size as ``riskrelay_state_store_{records,bytes}{store=name}``."""
        self._stores.watch(name, store)

    def restore_started(self, clock: Callable[[], float] = time.time) -> None:
        self.state_restore_started.set(clock())

    def restore_finished(self, seconds: float) -> None:
        self.state_restore.observe(seconds)
        self.state_restore_started.set(0)

    def consumer_stats(self, stats_json: str) -> None:
        """librdkafka's ``stats_cb``: set each assigned partition's lag, and drop the
        partitions no longer assigned (their lag is now another worker's to report)."""
        try:
            lags = partition_lags(json.loads(stats_json))
        except (ValueError, TypeError, AttributeError):
            log.warning("unreadable consumer statistics; lag not updated")
            return
        children = self._lag_children
        for key in [k for k in children if k not in lags]:
            del children[key]
            self.consumer_lag.remove(key[0], str(key[1]))
        for key, lag in lags.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self.consumer_lag.labels(key[0], str(key[1]))
            child.set(lag)

    def consumer_config(self) -> dict[str, Any]:
        """librdkafka settings that make the consumer report its statistics here."""
        return {
            "statistics.interval.ms": CONSUMER_STATS_INTERVAL_MS,
            "stats_cb": self.consumer_stats,
        }
