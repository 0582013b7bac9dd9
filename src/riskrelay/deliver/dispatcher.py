"""Fan-out of one event version to its routed providers, each independently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.retry import CallResult
from riskrelay.errors import ConfigError, DeliveryError, PermanentDeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Envelope
from riskrelay.settings import ProviderSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Provider:
    """An adapter bound to its lane (HTTP client, limits, breaker, retries)."""

    adapter: ProviderAdapter
    lane: ProviderLane

    @property
    def name(self) -> str:
        return self.adapter.name


def build_provider(adapter: ProviderAdapter, settings: ProviderSettings) -> Provider:
    """The provider ``adapter`` configured by ``settings`` (base URL, key, policy)."""
    prefix = f"RISKRELAY_{adapter.name.upper()}_"
    if not settings.base_url:
        raise ConfigError(f"{prefix}BASE_URL is not set")
    if settings.api_key is None:
        raise ConfigError(f"{prefix}API_KEY is not set")
    policy = ProviderPolicy.from_settings(settings)
    http = ProviderHttp(
        settings.base_url,
        adapter.auth_headers(settings.api_key.get_secret_value()),
        policy.timeout_s,
        max_connections=policy.max_concurrency,
    )
    return Provider(adapter, ProviderLane(adapter.name, http, policy))


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
    """The worker's entry point to delivery. Binds each lane's metrics to ``metrics``."""

    def __init__(self, providers: list[Provider], metrics: WorkerMetrics) -> None:
        self.providers = providers
        for provider in providers:
            provider.lane.bind_metrics(metrics)

    def route(self, envelope: Envelope) -> list[Provider]:
        return [p for p in self.providers if p.adapter.accepts(envelope)]

    async def _deliver_one(
        self, provider: Provider, envelope: Envelope, body: AvroRecord, version: int
    ) -> DeliveryOutcome:
        endpoint = ""
        try:
            request = provider.adapter.build_request(body, version)
            endpoint = request.endpoint
            result = await provider.lane.call(request)
        except Exception as exc:  # a bug here must not take the other providers down
            log.exception("delivery to %s failed unexpectedly", provider.name)
            error = PermanentDeliveryError(f"internal error: {type(exc).__name__}: {exc}")
            result = CallResult([], None, error)
        completed_at = datetime.now(UTC)
        ref = None
        if result.response is not None:
            ref = provider.adapter.response_ref(result.response)
            provider.lane.metrics.end_to_end.observe(
                (completed_at - envelope.occurred_at).total_seconds()
            )
        return DeliveryOutcome(provider.name, endpoint, result, ref, completed_at)

    async def deliver(
        self, providers: list[Provider], envelope: Envelope, body: AvroRecord, version: int
    ) -> list[DeliveryOutcome]:
        """One outcome per provider, in order. Each provider is delivered to concurrently
        and on its own lane, so a slow or failing one delays no other's outcome."""
        if len(providers) == 1:  # the common case: no task to spawn and gather
            return [await self._deliver_one(providers[0], envelope, body, version)]
        return list(
            await asyncio.gather(
                *(self._deliver_one(p, envelope, body, version) for p in providers)
            )
        )

    async def close(self) -> None:
        for provider in self.providers:
            await provider.lane.close()
