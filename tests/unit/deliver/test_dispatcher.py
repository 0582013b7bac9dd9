"""Policy from settings, the provider factory, and the dispatcher's fan-out."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from riskrelay.deliver.batch import BatchPolicy
from riskrelay.deliver.breaker import BreakerPolicy
from riskrelay.deliver.dispatcher import Dispatcher, Provider, build_provider
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.providers.stripe import StripeAdapter
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.deliver.ratelimit import RateLimiter
from riskrelay.deliver.request import NothingToSend, ProviderRequest
from riskrelay.deliver.retry import RetryPolicy
from riskrelay.dev.demo import lifecycle_event
from riskrelay.errors import ConfigError, PermanentDeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.settings import StripeSettings, Unit21Settings
from riskrelay.state.identities import IdentityLookup, NoIdentities
from tests.unit.deliver.fakes import ScriptedHttp

WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)


def test_policy_is_read_from_the_providers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKRELAY_UNIT21_MAX_CONCURRENCY", "8")
    monkeypatch.setenv("RISKRELAY_UNIT21_RATE_LIMIT_PER_S", "200")
    monkeypatch.setenv("RISKRELAY_UNIT21_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RISKRELAY_UNIT21_BREAKER_OPEN_S", "2.5")
    monkeypatch.setenv("RISKRELAY_UNIT21_CREDENTIALS_PROBE_INTERVAL_S", "30")
    policy = ProviderPolicy.from_settings(Unit21Settings())
    assert policy.max_concurrency == 8 and policy.rate_limit_per_s == 200
    assert policy.retry == RetryPolicy(max_attempts=3)
    assert policy.breaker == BreakerPolicy(open_s=2.5, credentials_probe_interval_s=30)


def test_defaults_agree_between_settings_and_policy() -> None:
    assert ProviderPolicy.from_settings(StripeSettings()) == ProviderPolicy()


def test_unit21_batches_by_default_and_batching_is_checked_against_the_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ProviderPolicy.from_settings(Unit21Settings()).batch == BatchPolicy(100, 0.005)
    monkeypatch.setenv("RISKRELAY_UNIT21_BATCH_LINGER_MS", "20")
    assert ProviderPolicy.from_settings(Unit21Settings()).batch.linger_s == 0.02
    with pytest.raises(ValidationError, match="250"):
        Unit21Settings(batch_max_events=251)
    settings = {"base_url": "http://127.0.0.1:1", "api_key": "k", "batch_max_events": 5}
    with pytest.raises(ConfigError, match="RISKRELAY_STRIPE_BATCH_MAX_EVENTS: stripe takes no"):
        build_provider(StripeAdapter(), StripeSettings(**settings))
    assert build_provider(Unit21Adapter(), Unit21Settings(**settings)).lane.policy.batch == (
        BatchPolicy(5, 0.02)
    )


def test_build_provider_needs_a_base_url_and_a_key() -> None:
    with pytest.raises(ConfigError, match="RISKRELAY_UNIT21_BASE_URL"):
        build_provider(Unit21Adapter(), Unit21Settings())
    with pytest.raises(ConfigError, match="RISKRELAY_UNIT21_API_KEY"):
        build_provider(Unit21Adapter(), Unit21Settings(base_url="http://localhost:1"))
    provider = build_provider(
        Unit21Adapter(), Unit21Settings(base_url="http://localhost:1", api_key="k", timeout_s=3)
    )
    assert provider.name == "unit21" and provider.lane.policy.timeout_s == 3


class BrokenAdapter(Unit21Adapter):
    name = "broken"

    def build_request(self, body: AvroRecord, version: int) -> ProviderRequest:
        raise KeyError("a mapping bug")


def test_one_providers_bug_does_not_touch_the_others_outcome() -> None:
    source = SourcePosition("risk.lifecycle.v1", 0, 0)
    event = normalize(
        Family.LIFECYCLE, lifecycle_event(random.Random(1), "user-1", "SIGN_IN", WHEN), source, WHEN
    )
    healthy = Provider(
        Unit21Adapter(), ProviderLane("unit21", ScriptedHttp([200]), ProviderPolicy())
    )
    broken = Provider(
        BrokenAdapter(), ProviderLane("broken", ScriptedHttp([200]), ProviderPolicy())
    )
    metrics = WorkerMetrics()
    dispatcher = Dispatcher([broken, healthy], metrics)
    assert (
        metrics.registry.get_sample_value(
            "riskrelay_provider_breaker_state", {"provider": "unit21"}
        )
        == 0
    )
    outcomes = asyncio.run(
        dispatcher.deliver([broken, healthy], event.envelope, event.body, 1, NoIdentities())
    )
    assert [o.provider for o in outcomes] == ["broken", "unit21"]
    assert isinstance(outcomes[0].error, PermanentDeliveryError)
    assert outcomes[1].delivered and outcomes[1].response_ref == "e-1"
    end_to_end = metrics.registry.get_sample_value(
        "riskrelay_end_to_end_seconds_count", {"provider": "unit21"}
    )
    assert end_to_end == 1
    asyncio.run(dispatcher.close())
    assert isinstance(healthy.lane.http, ScriptedHttp) and healthy.lane.http.closed


class AlreadyThereAdapter(Unit21Adapter):
    name = "already-there"

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        return NothingToSend("the provider keeps the first version")


def test_nothing_to_send_completes_the_delivery_without_a_call() -> None:
    source = SourcePosition("risk.lifecycle.v1", 0, 0)
    event = normalize(
        Family.LIFECYCLE, lifecycle_event(random.Random(1), "user-1", "SIGN_IN", WHEN), source, WHEN
    )
    http = ScriptedHttp([500])
    provider = Provider(
        AlreadyThereAdapter(), ProviderLane("already-there", http, ProviderPolicy())
    )
    dispatcher = Dispatcher([provider], WorkerMetrics())
    (outcome,) = asyncio.run(
        dispatcher.deliver([provider], event.envelope, event.body, 2, NoIdentities())
    )
    assert outcome.delivered and outcome.result.attempts == []
    assert outcome.endpoint == "none: the provider keeps the first version"
    assert http.script == [500]  # never asked


def test_rate_limiter_spaces_requests_after_a_one_second_burst() -> None:
    async def scenario() -> float:
        limiter = RateLimiter(50)
        start = time.monotonic()
        for _ in range(60):
            await limiter.acquire()
        return time.monotonic() - start

    assert asyncio.run(scenario()) >= 0.18  # 50 at once, then 10 at 50/s
    assert RateLimiter(None).unlimited
