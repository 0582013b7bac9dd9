"""Per-provider request rate limit (requests/s), and holds the provider asks for.

aiolimiter's leaky bucket rather than a hand-written one: it is small, maintained,
asyncio-native (waiters are futures woken by one timer, no polling) and typed. Its
``time_period`` is set so the bucket holds one second's worth of requests (at least one):
a provider documented at 100/min then gets a steady 1.67/s instead of a 100-request burst.

The configured rate is our estimate; the provider's own count is the truth. A response
saying ``X-RateLimit-Remaining: 0`` puts the limiter on hold until ``X-RateLimit-Reset``,
so the calls after it wait instead of collecting 429s (and retry budget) until the window
turns over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from aiolimiter import AsyncLimiter

RESET_EPOCH_FROM = 1_000_000_000.0
"""``X-RateLimit-Reset`` is epoch seconds at Unit21 and GitHub but seconds-from-now at
others (and in the IETF RateLimit draft); a value this large can only be an instant."""
MAX_HOLD_S = 60.0
"""Longest hold one response can impose: a wrong clock or a bogus header must not park
a provider for long (if the quota really is spent for longer, its 429s say so again)."""
_REMAINING = "x-ratelimit-remaining"
_RESET = "x-ratelimit-reset"


def quota_hold_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to hold new calls after a response with these headers: until
    ``X-RateLimit-Reset`` when ``X-RateLimit-Remaining`` is 0; ``None`` when the quota is
    not spent, the headers are absent or unreadable, or the reset is already past.
    ``now`` is the wall clock (epoch seconds), for tests."""
    remaining = reset = None
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == _REMAINING:
            remaining = value
        elif lowered == _RESET:
            reset = value
    if remaining is None or reset is None:
        return None
    try:
        if float(remaining) > 0:
            return None
        at = float(reset)
    except ValueError:
        return None
    wait = at - (time.time() if now is None else now) if at >= RESET_EPOCH_FROM else at
    return min(wait, MAX_HOLD_S) if wait > 0 else None


class RateLimiter:
    """``await acquire()`` before each request; ``rate_per_s=None`` means no configured
    rate (holds still apply). ``clock`` is monotonic seconds, injectable for tests."""

    def __init__(
        self, rate_per_s: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._resume_at = 0.0
        self._bucket: AsyncLimiter | None = None
        if rate_per_s is not None:
            burst = max(1.0, rate_per_s)
            self._bucket = AsyncLimiter(burst, burst / rate_per_s)

    @property
    def unlimited(self) -> bool:
        return self._bucket is None

    @property
    def held_s(self) -> float:
        """How long the current hold still lasts (0 when there is none)."""
        return max(0.0, self._resume_at - self._clock())

    def hold(self, seconds: float) -> None:
        """Let no call start for ``seconds``; extends a hold in force, never shortens it."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str]) -> float | None:
        """Hold as a response's ``X-RateLimit-*`` headers ask; returns the hold taken."""
        wait = quota_hold_s(headers)
        if wait is not None:
            self.hold(wait)
        return wait

    async def acquire(self) -> None:
        await self._hold_over()
        if self._bucket is not None:
            await self._bucket.acquire()
            await self._hold_over()  # a response may have started a hold meanwhile

    async def _hold_over(self) -> None:
        """Sleep out the hold, and any extension of it made while sleeping."""
        wait = self.held_s
        while wait > 0:
            await asyncio.sleep(wait)
            wait = self.held_s
