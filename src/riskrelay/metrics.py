"""Every Prometheus metric riskrelay exports, defined in one place.

Each process builds its own ``CollectorRegistry`` (no module-level state). Labels carry
bounded values only (topic, family, kind, provider, outcome, reason), never ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "riskrelay_events_consumed", "Input records read", ["topic"], registry=r
        )
        self.normalized = Counter(
            "riskrelay_events_normalized",
            "Events validated and normalized",
            ["family", "kind"],
            registry=r,
        )
        self.deliveries = Counter(
            "riskrelay_provider_deliveries",
            "Provider deliveries by terminal outcome",
            ["provider", "outcome"],
            registry=r,
        )
        self.requests = Counter(
            "riskrelay_provider_requests",
            "Provider HTTP attempts by status class",
            ["provider", "status_class"],
            registry=r,
        )
        self.dlq = Counter(
            "riskrelay_dlq_records", "Records sent to the DLQ", ["reason"], registry=r
        )
        self.provider_latency = Histogram(
            "riskrelay_provider_request_seconds",
            "Provider HTTP attempt latency",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end = Histogram(
            "riskrelay_end_to_end_seconds",
            "Event time to provider acknowledgement",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("riskrelay_events_in_flight", "Events being processed", registry=r)
        self.skipped = Counter(
            "riskrelay_events_skipped",
            "Input records seen again after a restart whose version was already complete",
            registry=r,
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
        self.paused_partitions = Gauge(
            "riskrelay_paused_partitions", "Partitions paused for backpressure", registry=r
        )
        self.assigned_partitions = Gauge(
            "riskrelay_assigned_partitions", "Input partitions this worker owns", registry=r
        )
        self.rebalances = Counter(
            "riskrelay_rebalances", "Partition assignments and revocations", ["kind"], registry=r
        )
        self.state_restore = Histogram(
            "riskrelay_state_restore_seconds",
            "Time to restore assigned partitions' state",
            buckets=LATENCY_BUCKETS,
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
