"""Retry policy for one event's provider call: how long to back off, when to give up.

Exponential backoff with full jitter (a uniform draw between 0 and the capped exponential
delay, which spreads a burst of failures out instead of synchronising their retries),
with ``Retry-After`` as a lower bound, bounded by attempts and by elapsed time.

The loop itself lives in ``lane.py`` and is hand-written, not tenacity's: between attempts
it must release the concurrency slot, park on the breaker and tell probes from attempts,
and the elapsed budget must leave out time spent waiting for capacity — tenacity measures
its own wall clock from the first call, which would charge a breaker outage to the event.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from riskrelay.deliver.request import Attempt, ProviderResponse
from riskrelay.errors import DeliveryError

MAX_RECORDED_ATTEMPTS = 64
"""Attempts kept per call (the oldest are dropped): an event parked for hours behind
refused credentials is probed again and again, and its record must stay small."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_elapsed_s: float = 120.0


@dataclass(frozen=True, slots=True)
class CallResult:
    """Every attempt, and either the successful response or the final error."""

    attempts: list[Attempt]
    response: ProviderResponse | None
    error: DeliveryError | None


def backoff_s(
    policy: RetryPolicy, failures: int, retry_after_s: float | None, rng: random.Random
) -> float:
    """The wait after the ``failures``-th failed attempt: full jitter, ``Retry-After``
    as a floor (the provider said when it can take the request again)."""
    ceiling = min(policy.max_delay_s, policy.initial_delay_s * 2 ** (failures - 1))
    delay = rng.uniform(0.0, ceiling)
    return delay if retry_after_s is None else max(delay, retry_after_s)


class RetryBudget:
    """What one event may still spend on retries.

    Counted: failed attempts (not probes of a half-open breaker, which are the breaker's
    requests) and the time spent in attempts and back-off sleeps. Not counted: waiting for
    the breaker, a concurrency slot or a rate-limit token — those are the provider's
    condition, not the event's, and counting them would drain a backlog into the DLQ
    during an outage or a traffic peak.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.spent_s = 0.0

    def charge(self, seconds: float) -> None:
        self.spent_s += seconds

    def next_delay(self, retry_after_s: float | None, rng: random.Random) -> float | None:
        """After a transient failure: the back-off before the next attempt, or ``None``
        when the attempts or the elapsed time are used up (the call fails)."""
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            return None
        delay = backoff_s(self.policy, self.failures, retry_after_s, rng)
        if self.spent_s + delay > self.policy.max_elapsed_s:
            return None
        return delay


class AttemptLog:
    """The attempts of one call, at most ``MAX_RECORDED_ATTEMPTS`` (the latest)."""

    def __init__(self) -> None:
        self._attempts: deque[Attempt] = deque(maxlen=MAX_RECORDED_ATTEMPTS)

    def add(self, attempt: Attempt | None) -> None:
        if attempt is not None:
            self._attempts.append(attempt)

    def result(self, response: ProviderResponse | None, error: DeliveryError | None) -> CallResult:
        return CallResult(list(self._attempts), response, error)
