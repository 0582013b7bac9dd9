"""The lane's retry loop: bounds, Retry-After, and what waiting does not cost."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from riskrelay.deliver.breaker import BreakerPolicy, BreakerState
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.request import ProviderRequest
from riskrelay.deliver.retry import RetryPolicy, backoff_s
from riskrelay.errors import PermanentDeliveryError, TransientDeliveryError
from riskrelay.metrics import WorkerMetrics
from tests.unit.deliver.fakes import NETWORK, RecordingSleep, ScriptedHttp

REQUEST = ProviderRequest("POST", "/v1/events/create", json={})
NO_BREAKER = BreakerPolicy(failure_threshold=1000, min_requests=1000)


def lane(
    http: Any,
    retry: RetryPolicy,
    breaker: BreakerPolicy = NO_BREAKER,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    max_concurrency: int = 64,
) -> tuple[ProviderLane, WorkerMetrics]:
    policy = ProviderPolicy(max_concurrency=max_concurrency, retry=retry, breaker=breaker)
    metrics = WorkerMetrics()
    built = ProviderLane("p", http, policy, sleep=sleep or RecordingSleep(), rng=random.Random(1))
    built.bind_metrics(metrics)
    return built, metrics


def sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"provider": "p", **labels}) or 0.0


def test_transient_failures_are_retried_until_success() -> None:
    http, sleep = ScriptedHttp([503, NETWORK, 429, 200]), RecordingSleep()
    built, metrics = lane(http, RetryPolicy(max_attempts=8), sleep=sleep)
    result = asyncio.run(built.call(REQUEST))
    assert result.error is None and result.response is not None
    assert [a.status_code for a in result.attempts] == [503, None, 429, 200]
    assert len(sleep.delays) == 3
    assert sample(metrics, "riskrelay_provider_retries_total") == 3
    requests = {"endpoint": "POST /v1/events/create", "status_class": "network"}
    assert sample(metrics, "riskrelay_provider_requests_total", **requests) == 1


def test_attempts_are_bounded() -> None:
    http, sleep = ScriptedHttp([503]), RecordingSleep()
    built, _ = lane(http, RetryPolicy(max_attempts=3), sleep=sleep)
    result = asyncio.run(built.call(REQUEST))
    assert isinstance(result.error, TransientDeliveryError)
    assert len(result.attempts) == 3 and len(http.sent) == 3
    assert len(sleep.delays) == 2


def test_elapsed_time_is_bounded_by_attempts_and_back_off() -> None:
    # each attempt takes 1 s and asks for 2 s: 1 + 2 + 1 = 4 s spent, the next 2 s would
    # pass the 5 s budget, so the call fails after two attempts instead of sleeping
    http, sleep = ScriptedHttp([503], duration_s=1.0, retry_after="2"), RecordingSleep()
    policy = RetryPolicy(max_attempts=100, initial_delay_s=0.01, max_delay_s=0.01, max_elapsed_s=5)
    built, _ = lane(http, policy, sleep=sleep)
    result = asyncio.run(built.call(REQUEST))
    assert isinstance(result.error, TransientDeliveryError)
    assert len(result.attempts) == 2
    assert sleep.delays == [2.0]


def test_retry_after_is_a_lower_bound_of_the_wait() -> None:
    http, sleep = ScriptedHttp([429] * 6 + [200], retry_after="3"), RecordingSleep()
    policy = RetryPolicy(max_attempts=10, initial_delay_s=1, max_delay_s=8, max_elapsed_s=1000)
    built, _ = lane(http, policy, sleep=sleep)
    assert asyncio.run(built.call(REQUEST)).error is None
    assert len(sleep.delays) == 6
    assert all(delay >= 3 for delay in sleep.delays)
    assert any(delay > 3 for delay in sleep.delays)  # jitter above the floor still applies


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    policy = RetryPolicy(initial_delay_s=0.2, max_delay_s=10)
    rng = random.Random(7)
    for failures, ceiling in ((1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10), (30, 10)):
        draws = [backoff_s(policy, failures, None, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_fail_at_once_without_counting_against_the_breaker(status: int) -> None:
    http, sleep = ScriptedHttp([status]), RecordingSleep()
    built, _ = lane(http, RetryPolicy(), BreakerPolicy(failure_threshold=1), sleep=sleep)
    result = asyncio.run(built.call(REQUEST))
    assert isinstance(result.error, PermanentDeliveryError)
    assert len(result.attempts) == 1 and sleep.delays == []
    assert built.breaker.state is BreakerState.CLOSED


def test_waiting_on_an_open_breaker_consumes_no_attempts_nor_elapsed_time() -> None:
    # 2 failures open the breaker; the 4 failed probes after it are the breaker's, so
    # an event allowed 3 attempts and 0.05 s still gets delivered after ~0.2 s of waiting
    http, sleep = ScriptedHttp([503] * 6 + [200]), RecordingSleep()
    retry = RetryPolicy(max_attempts=3, initial_delay_s=0.001, max_elapsed_s=0.05)
    breaker = BreakerPolicy(failure_threshold=2, min_requests=1000, open_s=0.05)
    built, metrics = lane(http, retry, breaker, sleep=sleep)
    start = time.monotonic()
    result = asyncio.run(built.call(REQUEST))
    assert result.error is None
    assert len(result.attempts) == 7
    assert time.monotonic() - start >= 0.2
    assert len(sleep.delays) == 2  # back-off only after the two counted failures
    assert sample(metrics, "riskrelay_provider_breaker_state") == 0
    opened = sample(metrics, "riskrelay_provider_breaker_transitions_total", state="open")
    assert opened == 5  # tripped once, re-opened by each of the 4 failed probes


def test_refused_credentials_park_the_event_and_alert_until_the_key_works() -> None:
    http = ScriptedHttp([403, 401, 403, 200])
    retry = RetryPolicy(max_attempts=1)  # any counted failure would fail the call
    breaker = BreakerPolicy(credentials_probe_interval_s=0.02)
    built, metrics = lane(http, retry, breaker)
    seen: list[float] = []

    async def scenario() -> None:
        call = asyncio.create_task(built.call(REQUEST))
        await asyncio.sleep(0.01)
        seen.append(sample(metrics, "riskrelay_provider_credentials_invalid"))
        seen.append(sample(metrics, "riskrelay_provider_breaker_state"))
        result = await asyncio.wait_for(call, 2)
        assert result.error is None and len(result.attempts) == 4

    asyncio.run(scenario())
    assert seen == [1, 2]
    assert sample(metrics, "riskrelay_provider_auth_failures_total") == 3
    assert sample(metrics, "riskrelay_provider_credentials_invalid") == 0
    assert sample(metrics, "riskrelay_provider_breaker_state") == 0


def test_a_retrying_event_releases_its_slot_while_it_backs_off() -> None:
    class Gate:
        def __init__(self) -> None:
            self.open = asyncio.Event()
            self.sleeping = asyncio.Event()

        async def __call__(self, delay: float) -> None:
            self.sleeping.set()
            await self.open.wait()

    async def scenario() -> None:
        gate = Gate()
        http = ScriptedHttp([503, 200])
        built, _ = lane(http, RetryPolicy(), sleep=gate, max_concurrency=1)
        first = asyncio.create_task(built.call(REQUEST))
        await asyncio.wait_for(gate.sleeping.wait(), 1)
        second = await asyncio.wait_for(built.call(REQUEST), 1)  # the one slot is free
        assert second.error is None and not first.done()
        gate.open.set()
        assert (await asyncio.wait_for(first, 1)).error is None

    asyncio.run(scenario())
