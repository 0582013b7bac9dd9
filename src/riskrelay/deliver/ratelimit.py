"""Per-provider request rate limit (requests/s).

aiolimiter's leaky bucket rather than a hand-written one: it is small, maintained,
asyncio-native (waiters are futures woken by one timer, no polling) and typed. Its
``time_period`` is set so the bucket holds one second's worth of requests (at least one):
a provider documented at 100/min then gets a steady 1.67/s instead of a 100-request burst.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter


class RateLimiter:
    """``await acquire()`` before each request; ``rate_per_s=None`` means unlimited."""

    def __init__(self, rate_per_s: float | None) -> None:
        self.rate_per_s = rate_per_s
        self._bucket: AsyncLimiter | None = None
        if rate_per_s is not None:
            burst = max(1.0, rate_per_s)
            self._bucket = AsyncLimiter(burst, burst / rate_per_s)

    @property
    def unlimited(self) -> bool:
        return self._bucket is None

    async def acquire(self) -> None:
        if self._bucket is not None:
            await self._bucket.acquire()
