"""A provider's lane: everything between its events and its HTTP API.

Each provider has its own lane — concurrency slots, rate limiter, breaker, retry loop —
so one provider down or slow only ever parks its own events (fan-out isolation).

One attempt goes: wait for the breaker (no slot held) → take a slot → ask the breaker for
a permit (it may have opened meanwhile: give the slot back and wait again) → take a rate
token → send. Back-off sleeps happen with no slot held, so a retrying event holds nothing
the provider's other events need. Events parked on refused credentials (401/403) or on an
open breaker just wait; only real failed attempts count against their retry budget. A
response saying the provider's quota is spent (``X-RateLimit-Remaining: 0``) holds the
rate limiter, so new attempts wait for ``X-RateLimit-Reset`` instead of drawing 429s.
Calls the adapter marks batchable go through the lane's ``Batcher`` (``batch.py``): one
admission (breaker, slot, token) per HTTP request, however many events it carries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import Counter

from riskrelay.deliver.batch import Batcher, BatchFormat
from riskrelay.deliver.breaker import BreakerState, CircuitBreaker, Outcome, Permit
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.ratelimit import RateLimiter
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse, Sent
from riskrelay.deliver.retry import AttemptLog, CallResult, RetryBudget
from riskrelay.errors import CredentialsError, DeliveryError, TransientDeliveryError
from riskrelay.logging import log_fields
from riskrelay.metrics import WorkerMetrics

STATUS_CLASSES = ("network", "1xx", "2xx", "3xx", "4xx", "5xx")
"""Indexed by ``status // 100`` (0: no HTTP answer)."""
MAX_ENDPOINTS = 32
"""Endpoint label values per provider; past it (an adapter forgot a ``route`` for a path
with an id) attempts count under ``other`` instead of growing the label set."""

log = logging.getLogger(__name__)


class AttemptSender(Protocol):
    """What the lane needs of the HTTP layer (``ProviderHttp``; fakes in unit tests)."""

    async def attempt(self, request: ProviderRequest) -> tuple[ProviderResponse, Attempt]: ...

    async def close(self) -> None: ...


class LaneMetrics:
    """One provider's metric children, bound once: a bound child costs ~0.25 µs per
    update where ``.labels()`` costs ~1 µs, on every attempt."""

    def __init__(self, provider: str, metrics: WorkerMetrics) -> None:
        self.provider = provider
        self._request_counter = metrics.requests
        # (method, route or path) -> one child per status class, bound on first use.
        self.requests: dict[tuple[str, str], tuple[Counter, ...]] = {}
        self._other: tuple[Counter, ...] | None = None
        self.latency = metrics.provider_latency.labels(provider)
        self.end_to_end = metrics.end_to_end.labels(provider)
        self.retries = metrics.provider_retries.labels(provider)
        self.breaker_state = metrics.breaker_state.labels(provider)
        self.transitions = {
            s: metrics.breaker_transitions.labels(provider, s.name.lower()) for s in BreakerState
        }
        self.auth_failures = metrics.auth_failures.labels(provider)
        self.credentials_invalid = metrics.credentials_invalid.labels(provider)
        self.waiting = metrics.breaker_waiting.labels(provider)
        self.batch_size = metrics.provider_batch_size.labels(provider)

    def observe(self, request: ProviderRequest, attempt: Attempt | None) -> None:
        if attempt is None:
            return
        key = (request.method, request.route or request.path)
        classes = self.requests.get(key) or self._bind(key)
        status = attempt.status_code
        index = status // 100 if status else 0
        if index < len(classes):
            classes[index].inc()
        self.latency.observe(attempt.duration_ms / 1000)

    def _bind(self, key: tuple[str, str]) -> tuple[Counter, ...]:
        if len(self.requests) < MAX_ENDPOINTS:
            classes = self._classes(f"{key[0]} {key[1]}")
            self.requests[key] = classes
            return classes
        if self._other is None:
            log.warning(
                "%s: more than %d endpoints; the rest count as 'other' (a path with an id "
                "and no route?)",
                self.provider,
                MAX_ENDPOINTS,
            )
            self._other = self._classes("other")
        return self._other

    def _classes(self, endpoint: str) -> tuple[Counter, ...]:
        counter = self._request_counter
        return tuple(counter.labels(self.provider, endpoint, c) for c in STATUS_CLASSES)


def _outcome(error: DeliveryError) -> Outcome:
    if isinstance(error, CredentialsError):
        return Outcome.CREDENTIALS
    if isinstance(error, TransientDeliveryError):
        return Outcome.FAILURE
    return Outcome.REJECTED


class ProviderLane:
    """Delivery policy around one provider's ``AttemptSender``.

    ``sleep``, ``rng`` and ``clock`` are injectable for tests; everything runs on the
    caller's event loop (asyncio primitives bind to it on first use, so a lane may be
    built before the loop starts).
    """

    def __init__(
        self,
        name: str,
        http: AttemptSender,
        policy: ProviderPolicy,
        *,
        batch_format: BatchFormat | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.http = http
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(policy.max_concurrency)
        self._limiter = RateLimiter(policy.rate_limit_per_s)
        self.breaker = CircuitBreaker(
            policy.breaker,
            clock=clock,
            on_transition=self._on_transition,
            on_credentials=self._on_credentials,
        )
        self.metrics = LaneMetrics(name, WorkerMetrics())  # private until bound
        self._batcher = (
            None
            if batch_format is None or not policy.batch.enabled
            else Batcher(
                batch_format,
                policy.batch,
                self._admit,
                self._attempt,
                self._slots.release,
                lambda size: self.metrics.batch_size.observe(size),
            )
        )

    def bind_metrics(self, metrics: WorkerMetrics) -> None:
        """Report into ``metrics`` (the ``Dispatcher`` binds its registry at construction)."""
        self.metrics = LaneMetrics(self.name, metrics)
        self.metrics.breaker_state.set(self.breaker.state)
        self.metrics.credentials_invalid.set(int(self.breaker.credentials_invalid))

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
        await self.http.close()

    async def call(self, request: ProviderRequest) -> CallResult:
        """Deliver ``request``: the response, or the error once retrying is over
        (permanent 4xx at once; transient failures when the budget is spent)."""
        log = AttemptLog()
        budget = RetryBudget(self.policy.retry)
        batcher = self._batcher if request.batchable else None
        while True:
            sent = await (self._send(request) if batcher is None else batcher.send(request))
            if sent.split:  # its batch was refused as a whole: alone, it gets its own answer
                sent = await self._send(request)
            log.add(sent.attempt)
            error = sent.error
            if error is None:
                return log.result(sent.response, None)
            if isinstance(error, CredentialsError):
                continue  # the breaker is open for credentials: wait for a probe to pass
            if not isinstance(error, TransientDeliveryError):
                return log.result(None, error)
            self.metrics.retries.inc()
            if sent.probe:
                continue  # the breaker re-opened; a probe is its request, not the event's
            if sent.attempt is not None:
                budget.charge(sent.attempt.duration_ms / 1000)
            delay = budget.next_delay(error.retry_after_s, self._rng)
            if delay is None:
                return log.result(None, error)
            budget.charge(delay)
            await self._sleep(delay)

    async def _send(self, request: ProviderRequest) -> Sent:
        """One attempt, once the breaker, a slot and the rate limiter allow it."""
        permit = await self._admit()
        try:
            return await self._attempt(request, permit)
        finally:
            self._slots.release()

    async def _admit(self) -> Permit:
        """Wait for the breaker, a slot (held on return) and a rate token."""
        breaker = self.breaker
        while True:
            if breaker.state is not BreakerState.CLOSED:
                self.metrics.waiting.inc()
                try:
                    await breaker.wait_admissible()
                finally:
                    self.metrics.waiting.dec()
            await self._slots.acquire()
            permit = breaker.try_acquire()
            if permit is None:
                self._slots.release()
                continue  # opened while we queued for the slot
            try:
                await self._limiter.acquire()
            except BaseException:
                breaker.release(permit)
                self._slots.release()
                raise
            return permit

    async def _attempt(self, request: ProviderRequest, permit: Permit) -> Sent:
        """Send once under ``permit``; the answer goes to the breaker, the rate limiter
        and the metrics."""
        breaker = self.breaker
        try:
            response, attempt = await self.http.attempt(request)
        except DeliveryError as error:
            outcome = _outcome(error)
            if outcome is Outcome.CREDENTIALS:
                self.metrics.auth_failures.inc()
            breaker.record(permit, outcome)
            self._limiter.observe(error.headers)  # a 429 may say when quota returns
            self.metrics.observe(request, error.attempt)
            return Sent(None, error, error.attempt, permit.probe)
        except BaseException:
            breaker.release(permit)  # cancelled or a bug: the probe slot is free again
            raise
        breaker.record(permit, Outcome.SUCCESS)
        self._limiter.observe(response.headers)
        self.metrics.observe(request, attempt)
        return Sent(response, None, attempt, permit.probe)

    def _on_transition(self, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker_state.set(new)
        self.metrics.transitions[new].inc()
        log.log(
            logging.WARNING if new is BreakerState.OPEN else logging.INFO,
            "%s breaker %s -> %s",
            self.name,
            old.name.lower(),
            new.name.lower(),
            extra=log_fields(
                "breaker_transition",
                provider=self.name,
                from_state=old.name.lower(),
                to_state=new.name.lower(),
            ),
        )

    def _on_credentials(self, invalid: bool) -> None:
        self.metrics.credentials_invalid.set(int(invalid))
        if invalid:
            log.error(
                "%s refuses our credentials (401/403): deliveries wait until they are fixed",
                self.name,
                extra=log_fields("credentials_refused", provider=self.name),
            )
        else:
            log.info(
                "%s accepts our credentials again",
                self.name,
                extra=log_fields("credentials_accepted", provider=self.name),
            )
