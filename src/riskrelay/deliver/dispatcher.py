"""Fan-out of one event version to its routed providers, each independently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.retry import CallResult, RetryPolicy, call_with_retry
from riskrelay.errors import DeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Envelope


@dataclass(frozen=True, slots=True)
class Provider:
    """An adapter bound to its HTTP client and delivery policy."""

    adapter: ProviderAdapter
    http: ProviderHttp
    retry: RetryPolicy

    @property
    def name(self) -> str:
        return self.adapter.name


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    provider: str
    endpoint: str
    result: CallResult
    response_ref: str | None
    completed_at: datetime

    @property
    def delivered(self) -> bool:
        return self.result.error is None

    @property
    def error(self) -> DeliveryError | None:
        return self.result.error


class Dispatcher:
    def __init__(self, providers: list[Provider], metrics: WorkerMetrics) -> None:
        self.providers = providers
        self._metrics = metrics

    def route(self, envelope: Envelope) -> list[Provider]:
        return [p for p in self.providers if p.adapter.accepts(envelope)]

    async def _deliver_one(
        self, provider: Provider, envelope: Envelope, body: AvroRecord, version: int
    ) -> DeliveryOutcome:
        request = provider.adapter.build_request(body, version)
        result = await call_with_retry(provider.http, request, provider.retry)
        completed_at = datetime.now(UTC)
        latency = self._metrics.provider_latency.labels(provider.name)
        for attempt in result.attempts:
            status = f"{attempt.status_code // 100}xx" if attempt.status_code else "network"
            self._metrics.requests.labels(provider.name, status).inc()
            latency.observe(attempt.duration_ms / 1000)
        ref = None
        if result.response is not None:
            ref = provider.adapter.response_ref(result.response)
            self._metrics.end_to_end.labels(provider.name).observe(
                (completed_at - envelope.occurred_at).total_seconds()
            )
        return DeliveryOutcome(provider.name, request.endpoint, result, ref, completed_at)

    async def deliver(
        self, providers: list[Provider], envelope: Envelope, body: AvroRecord, version: int
    ) -> list[DeliveryOutcome]:
        return list(
            await asyncio.gather(
                *(self._deliver_one(p, envelope, body, version) for p in providers)
            )
        )

    async def close(self) -> None:
        for provider in self.providers:
            await provider.http.close()
