"""Holds from ``X-RateLimit-*`` headers: parsing, the limiter's hold, and the lane's use."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.ratelimit import MAX_HOLD_S, RateLimiter, quota_hold_s
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse

NOW = 1_795_262_430.0
REQUEST = ProviderRequest("POST", "/v1/events/create", json={})


@pytest.mark.parametrize(
    ("headers", "hold"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 2)}, 2.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 0.25)}, 0.25),
        ({"X-RATELIMIT-REMAINING": "0", "X-RateLimit-Reset": "3"}, 3.0),  # seconds from now
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(NOW + 3600)}, MAX_HOLD_S),
        ({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(NOW + 2)}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(NOW - 1)}, None),  # past
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}, None),
        ({"X-RateLimit-Remaining": "0"}, None),  # no reset: nothing to wait for
        ({"X-RateLimit-Reset": str(NOW + 2)}, None),
        ({"X-RateLimit-Remaining": "none", "X-RateLimit-Reset": str(NOW + 2)}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
)
def test_quota_hold_from_headers(headers: dict[str, str], hold: float | None) -> None:
    assert quota_hold_s(headers, now=NOW) == pytest.approx(hold)


def test_a_hold_delays_acquire_and_is_extended_not_shortened() -> None:
    async def scenario() -> tuple[float, float]:
        limiter = RateLimiter(None)
        limiter.hold(0.3)
        limiter.hold(0.1)  # shorter: no effect
        start = time.monotonic()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.1)
        limiter.hold(0.4)  # extended while the waiter sleeps: 0.5 s in all
        await waiter
        first = time.monotonic() - start
        start = time.monotonic()
        await limiter.acquire()  # the hold is over: no wait
        return first, time.monotonic() - start

    waited, then = asyncio.run(scenario())
    assert 0.48 <= waited < 0.8
    assert then < 0.05


def test_observe_holds_only_when_the_quota_is_spent() -> None:
    limiter = RateLimiter(100)
    assert limiter.observe({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1"}) is None
    assert limiter.held_s == 0.0
    reset = str(time.time() + 0.5)
    hold = limiter.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert hold is not None and 0.4 < hold <= 0.5
    assert 0.4 < limiter.held_s <= 0.5


class QuotaHttp:
    """Answers 200; the first ``budget`` answers count down ``X-RateLimit-Remaining`` to
    0 with a reset ``window_s`` after the first call, like a provider's fixed window."""

    def __init__(self, budget: int, window_s: float) -> None:
        self.budget = budget
        self.window_s = window_s
        self.reset: float | None = None
        self.sent_at: list[float] = []

    async def attempt(self, request: ProviderRequest) -> tuple[ProviderResponse, Attempt]:
        now = time.time()
        self.sent_at.append(now)
        if self.reset is None:
            self.reset = now + self.window_s
        remaining = max(0, self.budget - len(self.sent_at))
        headers = {"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(self.reset)}
        await asyncio.sleep(0)
        return ProviderResponse(200, "{}", headers), Attempt(datetime.now(UTC), 1.0, 200, None)

    async def close(self) -> None:
        pass


def test_the_lane_holds_new_calls_until_the_reset() -> None:
    http = QuotaHttp(budget=3, window_s=0.4)
    lane = ProviderLane("p", http, ProviderPolicy(max_concurrency=1))

    async def scenario() -> None:
        results = await asyncio.gather(*(lane.call(REQUEST) for _ in range(5)))
        assert all(r.error is None for r in results)

    asyncio.run(scenario())
    assert http.reset is not None
    assert all(t < http.reset for t in http.sent_at[:3])  # the budget, without waiting
    # then nothing before the reset (a timer may fire a clock tick early)
    assert all(t >= http.reset - 0.005 for t in http.sent_at[3:])
    assert http.sent_at[2] - http.sent_at[0] < 0.2
