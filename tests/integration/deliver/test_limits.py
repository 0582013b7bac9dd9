"""Fan-out isolation, the concurrency limit and the rate limit against real sandboxes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider
from riskrelay.metrics import WorkerMetrics
from riskrelay.state.identities import NoIdentities
from tests.integration.deliver.support import (
    SandboxFactory,
    events,
    most_within,
    provider,
    received,
    until,
)


def run_batch(target: Provider, count: int) -> float:
    """Deliver ``count`` events at once to ``target``; seconds until all are delivered."""

    async def scenario() -> list[list[DeliveryOutcome]]:
        dispatcher = Dispatcher([target], WorkerMetrics())
        batch = events(count)
        results = await asyncio.gather(
            *(dispatcher.deliver([target], e.envelope, e.body, 1, NoIdentities()) for e in batch)
        )
        await dispatcher.close()
        return results

    start = time.monotonic()
    results = asyncio.run(scenario())
    assert all(outcome.delivered for [outcome] in results)
    return time.monotonic() - start


SLOW = {"latency_ms": 2000}
DOWN = {"outage": {"status": 503, "duration_s": 30, "retry_after": False}}


@pytest.mark.parametrize("fault", [SLOW, DOWN], ids=["slow", "down"])
def test_a_slow_or_down_provider_delays_no_other(
    sandbox_factory: SandboxFactory, fault: dict[str, Any]
) -> None:
    bad_box, good_box = sandbox_factory(fault), sandbox_factory()
    bad = provider(bad_box, "bad", breaker_open_s=0.2, retry_max_delay_s=0.2)
    good = provider(good_box, "good")

    async def scenario() -> tuple[datetime, list[list[DeliveryOutcome]]]:
        dispatcher = Dispatcher([bad, good], WorkerMetrics())
        started = datetime.now(UTC)
        tasks = [
            asyncio.create_task(
                dispatcher.deliver([bad, good], e.envelope, e.body, 1, NoIdentities())
            )
            for e in events(10)
        ]
        await until(lambda: len(received(good_box, 200)) == 10, 1.0, "the healthy provider")
        assert not any(task.done() for task in tasks)  # the bad provider still holds them
        if fault is DOWN:
            bad_box.clear_faults()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await dispatcher.close()
        return started, results

    started, results = asyncio.run(scenario())
    for bad_outcome, good_outcome in results:
        assert bad_outcome.provider == "bad" and good_outcome.provider == "good"
        assert bad_outcome.delivered and good_outcome.delivered
        assert good_outcome.completed_at - started < timedelta(seconds=1)
        if fault is SLOW:
            assert bad_outcome.completed_at - started >= timedelta(seconds=2)


def test_concurrency_limit_caps_requests_in_flight(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory({"latency_ms": 500})
    elapsed = run_batch(provider(sandbox, max_concurrency=4), 16)
    assert 1.95 <= elapsed < 4.0  # four waves of four
    times = received(sandbox)
    assert len(times) == 16
    # a request is in the sandbox for 500 ms after it arrives: never more than 4 at once
    assert most_within(times, 0.45) == 4


def test_rate_limit_spaces_requests(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory()
    elapsed = run_batch(provider(sandbox, rate_limit_per_s=10), 30)
    assert elapsed >= 1.9  # a burst of 10, then 20 more at 10/s
    times = received(sandbox)
    assert len(times) == 30
    assert times[-1] - times[0] >= 1.8
    assert most_within(times, 1.0) <= 20
