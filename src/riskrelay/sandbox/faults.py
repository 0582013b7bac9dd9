"""Fault injection for sandbox provider routes: latency, error ratios, 429s, outages.

Faults exist so the pipeline's retry, back-off, breaker and fan-out isolation can be
exercised against a real HTTP server. They apply to provider routes only; the control API
under ``/_sandbox/`` is never delayed or failed, so a test can always switch faults off.

Config (JSON on ``PUT /_sandbox/faults``, or ``FaultConfig`` at start)::

    {"latency_ms": 50 | {"distribution": "uniform", "min_ms": 10, "max_ms": 90}
                      | {"distribution": "normal", "mean_ms": 50, "stddev_ms": 10}
                      | {"distribution": "exponential", "mean_ms": 50},
     "error_ratio": {"503": 0.1, "500": 0.05},
     "rate_limit": {"status": 429, "ratio": 0.2, "retry_after_s": 2}
                 | {"requests_per_s": 100, "burst": 20},
     "outage": {"status": 503, "duration_s": 30} | {"until": 1767225600.0},
     "paths": ["/v1/events"],        # optional: only these path prefixes
     "seed": 7}                      # optional: deterministic draws

An outage given by ``duration_s`` starts when the config is applied; ``until`` is then
filled in so ``GET /_sandbox/faults`` shows when it ends. Decisions are made in order
outage → rate limit → error ratio, after the latency has been slept.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Status = Annotated[int, Field(ge=400, le=599)]


class LatencySpec(BaseModel):
    """A latency distribution in milliseconds; draws are clamped to ``[0, max_ms]``."""

    model_config = _FROZEN

    distribution: Literal["fixed", "uniform", "normal", "exponential"] = "fixed"
    ms: float | None = Field(default=None, ge=0)
    min_ms: float | None = Field(default=None, ge=0)
    max_ms: float | None = Field(default=None, ge=0)
    mean_ms: float | None = Field(default=None, ge=0)
    stddev_ms: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _params(self) -> LatencySpec:
        needed = {
            "fixed": ("ms",),
            "uniform": ("min_ms", "max_ms"),
            "normal": ("mean_ms", "stddev_ms"),
            "exponential": ("mean_ms",),
        }[self.distribution]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.distribution} latency needs {', '.join(missing)}")
        if self.distribution == "uniform" and self.min_ms > self.max_ms:  # type: ignore[operator]
            raise ValueError("min_ms must not exceed max_ms")
        return self

    def draw_ms(self, rng: random.Random) -> float:
        if self.distribution == "fixed":
            value = self.ms or 0.0
        elif self.distribution == "uniform":
            value = rng.uniform(self.min_ms or 0.0, self.max_ms or 0.0)
        elif self.distribution == "normal":
            value = rng.gauss(self.mean_ms or 0.0, self.stddev_ms or 0.0)
        else:
            value = rng.expovariate(1.0 / self.mean_ms) if self.mean_ms else 0.0
        if self.max_ms is not None and self.distribution != "uniform":
            value = min(value, self.max_ms)
        return max(value, 0.0)


class RateLimitSpec(BaseModel):
    """Either a random share of 429s (``ratio``) or a token bucket (``requests_per_s``)."""

    model_config = _FROZEN

    status: Status = 429
    ratio: Ratio | None = None
    retry_after_s: int = Field(default=1, ge=0)
    requests_per_s: float | None = Field(default=None, gt=0)
    burst: float | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_mode(self) -> RateLimitSpec:
        if (self.ratio is None) == (self.requests_per_s is None):
            raise ValueError("give exactly one of ratio or requests_per_s")
        return self


class OutageSpec(BaseModel):
    """Every provider request fails with ``status`` until ``until`` (epoch seconds)."""

    model_config = _FROZEN

    status: Status = 503
    duration_s: float | None = Field(default=None, gt=0)
    until: float | None = None
    retry_after: bool = True

    @model_validator(mode="after")
    def _bounded(self) -> OutageSpec:
        if self.duration_s is None and self.until is None:
            raise ValueError("give duration_s or until")
        return self


class FaultConfig(BaseModel):
    """The whole fault set; the empty config means no faults at all."""

    model_config = _FROZEN

    latency_ms: Annotated[float, Field(ge=0)] | LatencySpec | None = None
    error_ratio: dict[Status, Ratio] = Field(default_factory=dict)
    rate_limit: RateLimitSpec | None = None
    outage: OutageSpec | None = None
    paths: tuple[str, ...] | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _ratios(self) -> FaultConfig:
        if sum(self.error_ratio.values()) > 1.0 + 1e-9:
            raise ValueError("error_ratio values must add up to at most 1")
        return self

    @property
    def empty(self) -> bool:
        return (
            not self.latency_ms
            and not self.error_ratio
            and self.rate_limit is None
            and self.outage is None
        )


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure: what to answer instead of calling the provider handler."""

    kind: Literal["outage", "rate_limit", "error"]
    status: int
    retry_after_s: int | None = None


class TokenBucket:
    """Classic token bucket; also reusable by providers for their documented rate limits."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp: float = clock()

    def take(self) -> float:
        """Take one token; return 0 when granted, else seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class WindowLimit:
    """Fixed one-second window, the model behind ``X-RateLimit-*`` headers: a provider's
    documented limit (not a fault), reusable by every provider sandbox."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = 0
        self._used = 0

    def hit(self) -> tuple[dict[str, str], bool]:
        """Count one request: its ``X-RateLimit-*`` headers, and whether it is over the
        limit (then ``Retry-After`` is among the headers)."""
        now = time.time()
        window = int(now)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self._used)),
            "X-RateLimit-Reset": str(window + 1),
        }
        over = self._used > self.limit
        if over:
            headers["Retry-After"] = str(max(1, math.ceil(window + 1 - now)))
        return headers, over


class FaultInjector:
    """Holds the active ``FaultConfig`` and decides, per request, whether to fail it."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> FaultConfig:
        """Apply ``config``; a relative outage starts now. Returns the resolved config."""
        if config.outage is not None and config.outage.until is None:
            assert config.outage.duration_s is not None
            outage = config.outage.model_copy(
                update={"until": time.time() + config.outage.duration_s}
            )
            config = config.model_copy(update={"outage": outage})
        self._config = config
        self._rng = random.Random(config.seed)
        self._errors = sorted(config.error_ratio.items())
        self._bucket: TokenBucket | None = None
        limit = config.rate_limit
        if limit is not None and limit.requests_per_s is not None:
            burst = limit.burst or max(1.0, limit.requests_per_s)
            self._bucket = TokenBucket(limit.requests_per_s, burst)
        self._active = not config.empty
        return config

    def clear(self) -> None:
        self.configure(FaultConfig())

    def applies_to(self, path: str) -> bool:
        if not self._active:
            return False
        paths = self._config.paths
        return paths is None or path.startswith(paths)

    def latency_s(self) -> float:
        latency = self._config.latency_ms
        if not latency:
            return 0.0
        ms = latency if isinstance(latency, float | int) else latency.draw_ms(self._rng)
        return ms / 1000.0

    async def apply(self) -> Fault | None:
        """Sleep the configured latency, then decide (call only where ``applies_to``)."""
        delay = self.latency_s()
        if delay > 0:
            await asyncio.sleep(delay)
        return self.decide()

    def decide(self, now: float | None = None) -> Fault | None:
        """The fault for one request, or ``None`` to let it through."""
        config = self._config
        outage = config.outage
        if outage is not None and outage.until is not None:
            remaining = outage.until - (time.time() if now is None else now)
            if remaining > 0:
                retry = max(1, math.ceil(remaining)) if outage.retry_after else None
                return Fault("outage", outage.status, retry)
        limit = config.rate_limit
        if limit is not None:
            if self._bucket is not None:
                wait = self._bucket.take()
                if wait > 0:
                    return Fault("rate_limit", limit.status, max(1, math.ceil(wait)))
            elif self._rng.random() < (limit.ratio or 0.0):
                return Fault("rate_limit", limit.status, limit.retry_after_s)
        if self._errors:
            draw = self._rng.random()
            for status, ratio in self._errors:
                draw -= ratio
                if draw < 0:
                    return Fault("error", status)
        return None

    def describe(self) -> dict[str, Any]:
        body = self._config.model_dump(mode="json", exclude_none=True)
        outage = self._config.outage
        body["outage_active"] = bool(outage and outage.until and outage.until > time.time())
        return body

    def routes(self) -> list[web.RouteDef]:
        """``GET|PUT|DELETE /_sandbox/faults``: show, replace or clear the fault config."""

        async def get_faults(request: web.Request) -> web.Response:
            return web.json_response(self.describe())

        async def put_faults(request: web.Request) -> web.Response:
            try:
                config = FaultConfig.model_validate_json(await request.read())
            except ValidationError as exc:
                details = exc.errors(include_url=False, include_context=False, include_input=False)
                body = {"error": "invalid fault config", "details": details}
                return web.json_response(body, status=400)
            self.configure(config)
            return web.json_response(self.describe())

        async def delete_faults(request: web.Request) -> web.Response:
            self.clear()
            return web.json_response(self.describe())

        return [
            web.get("/_sandbox/faults", get_faults),
            web.put("/_sandbox/faults", put_faults),
            web.delete("/_sandbox/faults", delete_faults),
        ]
