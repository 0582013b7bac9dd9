"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from riskrelay.deliver.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
    SlidingWindow,
)

CLOSED, HALF_OPEN, OPEN = BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorded:
    def __init__(self) -> None:
        self.transitions: list[tuple[BreakerState, BreakerState]] = []
        self.credentials: list[bool] = []


def make(clock: Clock, recorded: Recorded | None = None, **policy: float) -> CircuitBreaker:
    defaults: dict[str, float] = {
        "failure_threshold": 3,
        "error_ratio": 0.5,
        "window_s": 10,
        "min_requests": 1000,
        "open_s": 5,
        "half_open_probes": 1,
        "credentials_probe_interval_s": 20,
    }
    defaults.update(policy)
    seen = recorded or Recorded()
    return CircuitBreaker(
        BreakerPolicy(**defaults),  # type: ignore[arg-type]
        clock=clock,
        on_transition=lambda old, new: seen.transitions.append((old, new)),
        on_credentials=seen.credentials.append,
    )


def call(breaker: CircuitBreaker, outcome: Outcome) -> Permit:
    permit = breaker.try_acquire()
    assert permit is not None, f"not admitted in state {breaker.state.name}"
    breaker.record(permit, outcome)
    return permit


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    breaker = make(Clock(), failure_threshold=3)
    for outcome in (Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS, Outcome.FAILURE):
        call(breaker, outcome)
    call(breaker, Outcome.FAILURE)
    assert breaker.state is CLOSED
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN
    assert breaker.try_acquire() is None


def test_error_ratio_over_the_window_opens_it() -> None:
    breaker = make(Clock(), failure_threshold=100, error_ratio=0.5, min_requests=4)
    for outcome in (Outcome.SUCCESS, Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE):
        call(breaker, outcome)
    assert breaker.state is CLOSED  # 2 of 4 is not above 0.5
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN  # 3 of 5


def test_min_requests_is_respected() -> None:
    breaker = make(Clock(), failure_threshold=100, min_requests=20)
    for _ in range(19):
        call(breaker, Outcome.FAILURE)
    assert breaker.state is CLOSED
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    breaker = make(clock, failure_threshold=100, min_requests=4, window_s=10)
    for _ in range(3):
        call(breaker, Outcome.FAILURE)
    clock.advance(11)
    for outcome in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS, Outcome.SUCCESS):
        call(breaker, outcome)
    assert breaker.state is CLOSED  # 1 of 4 in the window; 4 of 7 without sliding


def test_sliding_window_counts() -> None:
    window = SlidingWindow(10.0)
    window.add(0.5, True)
    window.add(5.0, False)
    assert window.counts(9.9) == (2, 1)
    assert window.counts(10.5) == (1, 0)  # the first bucket [0, 1) left the window
    assert window.counts(30.0) == (0, 0)


def test_open_turns_half_open_after_open_s_and_a_probe_success_closes_it() -> None:
    clock, seen = Clock(), Recorded()
    breaker = make(clock, seen, failure_threshold=1, open_s=5)
    call(breaker, Outcome.FAILURE)
    clock.advance(4.9)
    assert breaker.state is OPEN
    assert breaker.try_acquire() is None
    clock.advance(0.1)
    probe = breaker.try_acquire()
    assert probe is not None and probe.probe
    assert breaker.state is HALF_OPEN
    assert breaker.try_acquire() is None  # one probe at a time
    breaker.record(probe, Outcome.SUCCESS)
    assert breaker.state is CLOSED
    assert seen.transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_failed_probe_reopens_it_for_open_s() -> None:
    clock = Clock()
    breaker = make(clock, failure_threshold=1, open_s=5)
    call(breaker, Outcome.FAILURE)
    clock.advance(5)
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN
    clock.advance(4.9)
    assert breaker.state is OPEN
    clock.advance(0.1)
    assert breaker.state is HALF_OPEN


def test_half_open_admits_the_configured_number_of_probes() -> None:
    clock = Clock()
    breaker = make(clock, failure_threshold=1, half_open_probes=2)
    call(breaker, Outcome.FAILURE)
    clock.advance(5)
    first, second = breaker.try_acquire(), breaker.try_acquire()
    assert first is not None and second is not None and first.probe and second.probe
    assert breaker.try_acquire() is None
    breaker.release(first)  # cancelled before an answer: its slot is free again
    assert breaker.try_acquire() is not None


def test_rejected_events_do_not_count_and_a_rejected_probe_closes_it() -> None:
    clock = Clock()
    breaker = make(clock, failure_threshold=2, min_requests=2)
    for _ in range(10):
        call(breaker, Outcome.REJECTED)
    assert breaker.state is CLOSED
    call(breaker, Outcome.FAILURE)
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN
    clock.advance(5)
    call(breaker, Outcome.REJECTED)  # the provider answered: it is up
    assert breaker.state is CLOSED


def test_late_answers_from_before_a_transition_are_ignored() -> None:
    breaker = make(Clock(), failure_threshold=1)
    stale = breaker.try_acquire()
    assert stale is not None
    call(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN
    breaker.record(stale, Outcome.SUCCESS)
    assert breaker.state is OPEN


def test_credentials_mode_probes_on_its_own_interval_until_the_key_works() -> None:
    clock, seen = Clock(), Recorded()
    breaker = make(clock, seen, open_s=5, credentials_probe_interval_s=20)
    call(breaker, Outcome.CREDENTIALS)  # one 401/403 is enough
    assert breaker.state is OPEN and breaker.credentials_invalid
    assert seen.credentials == [True]
    clock.advance(19.9)
    assert breaker.try_acquire() is None
    clock.advance(0.1)
    call(breaker, Outcome.CREDENTIALS)  # the key is still refused
    assert breaker.state is OPEN
    clock.advance(20)
    call(breaker, Outcome.FAILURE)  # a 503 proves nothing about the key
    assert breaker.credentials_invalid
    clock.advance(5)
    assert breaker.state is OPEN  # still on the credentials interval
    clock.advance(15)
    call(breaker, Outcome.SUCCESS)
    assert breaker.state is CLOSED and not breaker.credentials_invalid
    assert seen.credentials == [True, False]


def test_wait_admissible_parks_until_open_time_is_up_and_until_a_probe_decides() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, open_s=0.1))
        call(breaker, Outcome.FAILURE)
        start = time.monotonic()
        await asyncio.wait_for(breaker.wait_admissible(), 2)
        assert time.monotonic() - start >= 0.09
        probe = breaker.try_acquire()
        assert probe is not None
        waiter = asyncio.create_task(breaker.wait_admissible())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the probe is out
        breaker.record(probe, Outcome.SUCCESS)
        await asyncio.wait_for(waiter, 1)
        assert breaker.state is CLOSED

    asyncio.run(scenario())


@pytest.mark.parametrize("state", [CLOSED, HALF_OPEN, OPEN])
def test_gauge_values(state: BreakerState) -> None:
    assert int(state) == {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}[state.name]
