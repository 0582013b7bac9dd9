"""Fan-out of one event version to its routed providers, each independently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.providers.base import ProviderAdapter
from riskrelay.deliver.request import Attempt, NothingToSend, ProviderRequest
from riskrelay.deliver.retry import CallResult
from riskrelay.errors import (
    AwaitingIdentityError,
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
)
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.routing import DEFAULT_ROUTES, RouteTable, family_kinds, probe_envelope
from riskrelay.settings import ProviderSettings
from riskrelay.state.identities import Identity, IdentityLookup

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Provider:
    """An adapter bound to its lane (HTTP client, limits, breaker, retries) and to the
    routes that say which events it receives (by default all its adapter accepts)."""

    adapter: ProviderAdapter
    lane: ProviderLane
    routes: RouteTable = field(default=DEFAULT_ROUTES, compare=False)

    @property
    def name(self) -> str:
        return self.adapter.name

    def receives(self, envelope: Envelope) -> bool:
        return self.routes.sends(self.name, envelope.family, envelope.kind) and (
            self.adapter.accepts(envelope)
        )


def build_provider(
    adapter: ProviderAdapter, settings: ProviderSettings, routes: RouteTable = DEFAULT_ROUTES
) -> Provider:
    """The provider ``adapter`` configured by ``settings`` (base URL, key, policy)."""
    prefix = f"RISKRELAY_{adapter.name.upper()}_"
    if not settings.base_url:
        raise ConfigError(f"{prefix}BASE_URL is not set")
    if settings.api_key is None:
        also = f" (nor {settings.api_key_env}, its api_key_env)" if settings.api_key_env else ""
        raise ConfigError(f"{prefix}API_KEY is not set{also}")
    policy = ProviderPolicy.from_settings(settings)
    batch_format = adapter.batch_format
    if settings.batch_max_events > 1 and batch_format is None:
        raise ConfigError(f"{prefix}BATCH_MAX_EVENTS: {adapter.name} takes no batches")
    if batch_format is not None and settings.batch_max_events > batch_format.max_items:
        raise ConfigError(
            f"{prefix}BATCH_MAX_EVENTS: {adapter.name} takes at most "
            f"{batch_format.max_items} events per request"
        )
    http = ProviderHttp(
        settings.base_url,
        adapter.auth_headers(settings.api_key.get_secret_value()),
        policy.timeout_s,
        max_connections=policy.max_concurrency,
    )
    lane = ProviderLane(adapter.name, http, policy, batch_format=batch_format)
    return Provider(adapter, lane, routes)


IDENTITY_POLL_S = 0.05
MAX_IDENTITY_POLL_S = 2.0
"""How often an event awaiting an identity looks again (doubling); it waits at most the
provider's ``retry_max_elapsed_s``, then fails with the adapter's message."""

MAX_STEPS = 3
"""Calls one event may take at one provider: prerequisites (an applicant to create) and
its own call. More means an adapter keeps asking for prerequisites: a bug, not a retry."""


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    provider: str
    endpoint: str
    result: CallResult
    response_ref: str | None
    completed_at: datetime
    learned: tuple[Identity, ...] = ()

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
        # Routing runs for every event: decided once per family and kind, looked up after.
        self._routes: dict[tuple[Family, str], tuple[Provider, ...]] = {
            (family, kind): self._receivers(probe_envelope(family, kind))
            for family in Family
            for kind in family_kinds(family)
        }

    def _receivers(self, envelope: Envelope) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if p.receives(envelope))

    def route(self, envelope: Envelope) -> tuple[Provider, ...]:
        """The providers this event goes to: those the routes name for its family and kind
        whose adapter accepts it, among the configured ones (``self.providers``)."""
        routed = self._routes.get((envelope.family, envelope.kind))
        if routed is None:  # a kind newer than the contracts this worker was built with
            routed = self._routes[envelope.family, envelope.kind] = self._receivers(envelope)
        return routed

    @staticmethod
    async def _next_request(
        provider: Provider, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        """The adapter's next call, once the identities it awaits are there."""
        waited_s, wait_s = 0.0, IDENTITY_POLL_S
        while True:
            try:
                return provider.adapter.build_request(body, version, identities)
            except AwaitingIdentityError as exc:
                if waited_s >= provider.lane.policy.retry.max_elapsed_s:
                    raise PermanentDeliveryError(f"{exc} (waited {waited_s:.0f} s)") from exc
                await asyncio.sleep(wait_s)
                waited_s += wait_s
                wait_s = min(wait_s * 2, MAX_IDENTITY_POLL_S)

    async def _steps(
        self,
        provider: Provider,
        body: AvroRecord,
        version: int,
        identities: IdentityLookup,
        learned: list[Identity],
    ) -> tuple[str, CallResult]:
        """Send the event's calls in turn: prerequisites first, then its own."""
        adapter, attempts = provider.adapter, list[Attempt]()
        known = _Learned(identities, learned)
        endpoint = ""
        for _ in range(MAX_STEPS):
            try:
                request = await self._next_request(provider, body, version, known)
                endpoint = request.endpoint
                if isinstance(request, NothingToSend):
                    return endpoint, CallResult(attempts, None, None)
                result = await provider.lane.call(request)
                attempts.extend(result.attempts)
                if result.response is not None:
                    learned.extend(adapter.learn(body, request, result.response))
            except PermanentDeliveryError as exc:  # the adapter refused the event or answer
                return endpoint, CallResult(attempts, None, exc)
            if result.error is not None or not request.prerequisite:
                return endpoint, CallResult(attempts, result.response, result.error)
        error = PermanentDeliveryError(f"{adapter.name}: more than {MAX_STEPS} calls needed")
        return endpoint, CallResult(attempts, None, error)

    async def _deliver_one(
        self,
        provider: Provider,
        envelope: Envelope,
        body: AvroRecord,
        version: int,
        identities: IdentityLookup,
    ) -> DeliveryOutcome:
        endpoint = ""
        learned: list[Identity] = []
        try:
            endpoint, result = await self._steps(provider, body, version, identities, learned)
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
        return DeliveryOutcome(provider.name, endpoint, result, ref, completed_at, tuple(learned))

    async def deliver(
        self,
        providers: list[Provider],
        envelope: Envelope,
        body: AvroRecord,
        version: int,
        identities: IdentityLookup,
    ) -> list[DeliveryOutcome]:
        """One outcome per provider, in order. Each provider is delivered to concurrently
        and on its own lane, so a slow or failing one delays no other's outcome."""
        if len(providers) == 1:  # the common case: no task to spawn and gather
            return [await self._deliver_one(providers[0], envelope, body, version, identities)]
        return list(
            await asyncio.gather(
                *(self._deliver_one(p, envelope, body, version, identities) for p in providers)
            )
        )

    async def close(self) -> None:
        for provider in self.providers:
            await provider.lane.close()


@dataclass(frozen=True, slots=True)
class _Learned:
    """The partition's identities plus those this delivery has just learned."""

    known: IdentityLookup
    learned: list[Identity]

    def get(self, table: str, key: str) -> str | None:
        for identity in reversed(self.learned):
            if identity.table == table and identity.key == key:
                return identity.value
        return self.known.get(table, key)
