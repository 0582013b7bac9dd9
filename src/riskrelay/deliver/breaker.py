"""A per-provider circuit breaker: closed → open → half-open → closed.

Hand-written rather than taken from PyPI: the asyncio breakers there are unmaintained
(aiobreaker's last release is from 2021) and none has what delivery needs here — an error
ratio over a sliding window beside the consecutive-failure count, a *credentials* mode for
401/403 that probes on its own interval, waiters that park asynchronously instead of
failing fast, and an injectable clock for tests.

The state machine is synchronous and driven by ``clock``; only ``wait_admissible`` awaits.
Results are reported through the ``Permit`` a call was admitted with: a permit from an
earlier state (a call that was in flight when the breaker tripped) is ignored, so late
answers never flip the state twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum


class BreakerState(IntEnum):
    """Values are those of the ``riskrelay_provider_breaker_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Outcome(Enum):
    """What one admitted call tells the breaker about the provider."""

    SUCCESS = "success"
    FAILURE = "failure"  # transient: network, timeout, 408/425/429/5xx
    CREDENTIALS = "credentials"  # 401/403
    REJECTED = "rejected"  # other 4xx: the event's fault; the provider answered


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    error_ratio: float = 0.5
    window_s: float = 10.0
    min_requests: int = 20
    open_s: float = 5.0
    half_open_probes: int = 1
    credentials_probe_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission of one call; ``probe`` when it tests a half-open breaker."""

    probe: bool
    generation: int


class SlidingWindow:
    """Request and failure counts over the last ``window_s`` seconds, in fixed buckets:
    constant memory and O(buckets) per read, whatever the request rate."""

    def __init__(self, window_s: float, buckets: int = 10) -> None:
        self._width = window_s / buckets
        self._epochs = [-1] * buckets
        self._total = [0] * buckets
        self._failed = [0] * buckets

    def add(self, now: float, failed: bool) -> None:
        epoch = int(now // self._width)
        i = epoch % len(self._epochs)
        if self._epochs[i] != epoch:
            self._epochs[i], self._total[i], self._failed[i] = epoch, 0, 0
        self._total[i] += 1
        self._failed[i] += failed

    def counts(self, now: float) -> tuple[int, int]:
        """``(requests, failures)`` within the window ending at ``now``."""
        oldest = int(now // self._width) - len(self._epochs)
        total = failed = 0
        for epoch, t, f in zip(self._epochs, self._total, self._failed, strict=True):
            if epoch > oldest:
                total += t
                failed += f
        return total, failed

    def clear(self) -> None:
        self._epochs = [-1] * len(self._epochs)


class CircuitBreaker:
    """One provider's breaker. ``on_transition(old, new)`` and ``on_credentials(invalid)``
    feed the metrics; they are called synchronously on every change."""

    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[BreakerState, BreakerState], None] | None = None,
        on_credentials: Callable[[bool], None] | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self._on_credentials = on_credentials
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._open_until = 0.0
        self._probes = 0
        self._consecutive = 0
        self._window = SlidingWindow(policy.window_s)
        self._credentials_invalid = False
        self._changed = asyncio.Event()

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose time is up reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            self._enter(BreakerState.HALF_OPEN)
        return self._state

    @property
    def credentials_invalid(self) -> bool:
        return self._credentials_invalid

    def try_acquire(self) -> Permit | None:
        """A permit to call now, or ``None`` while open or while half-open probes run."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(False, self._generation)
        if state is BreakerState.HALF_OPEN and self._probes < self.policy.half_open_probes:
            self._probes += 1
            return Permit(True, self._generation)
        return None

    def release(self, permit: Permit) -> None:
        """Give back a permit whose call never got an answer (cancelled)."""
        if permit.probe and permit.generation == self._generation:
            self._probes -= 1
            self._notify()

    def record(self, permit: Permit, outcome: Outcome) -> None:
        """Report the answer to a call admitted with ``permit``.

        A rejected event (other 4xx) is no failure of the provider: it is not counted
        while closed, and as a probe it proves the provider (and our key) work."""
        if permit.generation != self._generation:
            return
        if outcome is Outcome.CREDENTIALS:
            self._set_credentials(True)
            self._enter(BreakerState.OPEN)
        elif permit.probe:
            self._probes -= 1
            if outcome is Outcome.FAILURE:
                self._enter(BreakerState.OPEN)
            else:
                self._set_credentials(False)
                self._enter(BreakerState.CLOSED)
        elif outcome is Outcome.SUCCESS:
            self._consecutive = 0
            self._window.add(self._clock(), False)
        elif outcome is Outcome.FAILURE:
            self._consecutive += 1
            now = self._clock()
            self._window.add(now, True)
            if self._tripped(now):
                self._enter(BreakerState.OPEN)

    async def wait_admissible(self) -> None:
        """Park until ``try_acquire`` may succeed: closed, a free half-open probe slot, or
        the open time is up. Costs nothing while closed."""
        while True:
            state = self.state
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and self._probes < self.policy.half_open_probes:
                return
            changed = self._changed
            timeout = self._open_until - self._clock() if state is BreakerState.OPEN else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await changed.wait()

    def _tripped(self, now: float) -> bool:
        policy = self.policy
        if self._consecutive >= policy.failure_threshold:
            return True
        total, failed = self._window.counts(now)
        return total >= policy.min_requests and failed / total > policy.error_ratio

    def _enter(self, state: BreakerState) -> None:
        old, self._state = self._state, state
        self._generation += 1
        self._probes = 0
        if state is BreakerState.OPEN:
            policy = self.policy
            credentials = self._credentials_invalid
            wait = policy.credentials_probe_interval_s if credentials else policy.open_s
            self._open_until = self._clock() + wait
        else:
            self._consecutive = 0
            self._window.clear()
        if self._on_transition is not None and old is not state:
            self._on_transition(old, state)
        self._notify()

    def _set_credentials(self, invalid: bool) -> None:
        if invalid is not self._credentials_invalid:
            self._credentials_invalid = invalid
            if self._on_credentials is not None:
                self._on_credentials(invalid)

    def _notify(self) -> None:
        """Wake every parked waiter to look again (a fresh event for the next wait)."""
        self._changed.set()
        self._changed = asyncio.Event()
