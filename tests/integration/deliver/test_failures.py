"""Retry-After, outages and refused credentials against a real Unit21 sandbox."""

from __future__ import annotations

import asyncio
import time

import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider
from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent
from riskrelay.state.identities import NoIdentities
from tests.integration.deliver.support import (
    KEY,
    SandboxFactory,
    events,
    provider,
    received,
    sample,
    until,
)


def deliver_all(
    dispatcher: Dispatcher, target: Provider, batch: list[CanonicalEvent]
) -> list[asyncio.Task[list[DeliveryOutcome]]]:
    return [
        asyncio.create_task(
            dispatcher.deliver([target], event.envelope, event.body, 1, NoIdentities())
        )
        for event in batch
    ]


def test_a_429_is_retried_no_sooner_than_its_retry_after(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory({"rate_limit": {"ratio": 1.0, "retry_after_s": 2, "status": 429}})
    target = provider(sandbox, retry_initial_delay_s=0.01, retry_max_delay_s=0.05)
    [event] = events(1)

    async def scenario() -> DeliveryOutcome:
        dispatcher = Dispatcher([target], WorkerMetrics())
        [task] = deliver_all(dispatcher, target, [event])
        await until(lambda: len(received(sandbox)) == 1, what="the first request")
        sandbox.clear_faults()
        [outcome] = await asyncio.wait_for(task, 10)
        await dispatcher.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.delivered
    assert [a.status_code for a in outcome.result.attempts] == [429, 200]
    [refused], [accepted] = received(sandbox, 429), received(sandbox, 200)
    assert accepted - refused >= 2.0


def test_an_outage_opens_the_breaker_and_nothing_fails(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory()
    target = provider(
        sandbox,
        breaker_failure_threshold=5,
        breaker_open_s=0.3,
        retry_initial_delay_s=0.05,
        retry_max_delay_s=0.3,
    )
    metrics = WorkerMetrics()
    states: set[float] = set()

    async def scenario() -> list[list[DeliveryOutcome]]:
        dispatcher = Dispatcher([target], metrics)
        # no Retry-After, so only the breaker keeps 20 retrying events from hammering
        sandbox.set_faults({"outage": {"status": 503, "duration_s": 3, "retry_after": False}})
        tasks = deliver_all(dispatcher, target, events(20))
        while not all(task.done() for task in tasks):
            states.add(sample(metrics, "riskrelay_provider_breaker_state"))
            await asyncio.sleep(0.01)
        await dispatcher.close()
        return [task.result() for task in tasks]

    start = time.monotonic()
    results = asyncio.run(scenario())
    assert time.monotonic() - start >= 2.9
    assert all(outcome.delivered for [outcome] in results)
    assert 2 in states
    assert sample(metrics, "riskrelay_provider_breaker_state") == 0
    assert sample(metrics, "riskrelay_provider_breaker_transitions_total", state="open") >= 1
    assert sample(metrics, "riskrelay_provider_breaker_transitions_total", state="closed") >= 1
    # 20 first tries, then about one probe per 0.3 s; without the breaker each event
    # would retry every ~0.2 s: 200+ requests, and most events would run out of attempts
    assert len(received(sandbox, 503)) <= 40
    assert len(received(sandbox, 200)) == 20


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_park_events_until_the_key_is_fixed(
    sandbox_factory: SandboxFactory, status: int
) -> None:
    sandbox = sandbox_factory()
    target = provider(sandbox, api_key="a-revoked-key", credentials_probe_interval_s=0.3)
    http = target.lane.http
    assert isinstance(http, ProviderHttp)
    if status == 401:
        http.set_auth_headers({})  # no key at all
    metrics = WorkerMetrics()

    async def scenario() -> list[list[DeliveryOutcome]]:
        dispatcher = Dispatcher([target], metrics)
        tasks = deliver_all(dispatcher, target, events(5))
        await asyncio.sleep(1.0)
        assert not any(task.done() for task in tasks)  # waiting, not dead-lettered
        assert sample(metrics, "riskrelay_provider_credentials_invalid") == 1
        assert sample(metrics, "riskrelay_provider_auth_failures_total") >= 5
        assert sample(metrics, "riskrelay_provider_breaker_state") in (1, 2)
        assert len(received(sandbox, status)) <= 10  # 5 first tries, then a probe per 0.3 s
        http.set_auth_headers(Unit21Adapter().auth_headers(KEY))  # the key is fixed
        fixed = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert time.monotonic() - fixed < 1.0  # the next probe passes and all resume
        await dispatcher.close()
        return results

    results = asyncio.run(scenario())
    for [outcome] in results:
        assert outcome.delivered
        assert outcome.result.attempts[-1].status_code == 200
    assert sample(metrics, "riskrelay_provider_credentials_invalid") == 0
    assert sample(metrics, "riskrelay_provider_breaker_state") == 0
    assert len(received(sandbox, 200)) == 5
