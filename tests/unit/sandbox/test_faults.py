"""Fault config validation and the injector's decisions, without a server."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from riskrelay.sandbox.faults import FaultConfig, FaultInjector, TokenBucket, WindowLimit


@pytest.mark.parametrize(
    "raw",
    [
        {"latency_ms": -1},
        {"latency_ms": {"distribution": "uniform", "min_ms": 5}},
        {"latency_ms": {"distribution": "uniform", "min_ms": 9, "max_ms": 5}},
        {"latency_ms": {"distribution": "pareto", "ms": 5}},
        {"error_ratio": {"503": 1.5}},
        {"error_ratio": {"200": 0.5}},
        {"error_ratio": {"500": 0.6, "503": 0.6}},
        {"rate_limit": {"status": 429}},
        {"rate_limit": {"ratio": 0.5, "requests_per_s": 10}},
        {"outage": {"status": 503}},
        {"surprise": True},
    ],
)
def test_bad_fault_config_is_rejected(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FaultConfig.model_validate(raw)


def test_empty_config_injects_nothing() -> None:
    injector = FaultInjector()
    assert not injector.applies_to("/v1/events/create")
    assert injector.latency_s() == 0.0
    assert injector.decide() is None


def test_error_ratio_is_deterministic_with_a_seed_and_close_to_the_ratio() -> None:
    config = FaultConfig.model_validate({"error_ratio": {"503": 0.3, "500": 0.1}, "seed": 7})
    injector_a, injector_b = FaultInjector(config), FaultInjector(config)
    draws_a = [injector_a.decide() for _ in range(2000)]
    draws_b = [injector_b.decide() for _ in range(2000)]
    assert draws_a == draws_b
    statuses = [fault.status for fault in draws_a if fault is not None]
    assert 0.25 < statuses.count(503) / 2000 < 0.35
    assert 0.06 < statuses.count(500) / 2000 < 0.14


def test_ratio_one_fails_everything() -> None:
    injector = FaultInjector(FaultConfig.model_validate({"error_ratio": {"500": 1.0}}))
    assert {injector.decide() is not None for _ in range(100)} == {True}


def test_outage_by_duration_starts_now_and_ends() -> None:
    injector = FaultInjector()
    before = time.time()
    resolved = injector.configure(FaultConfig.model_validate({"outage": {"duration_s": 30}}))
    assert resolved.outage is not None and resolved.outage.until is not None
    assert before + 30 <= resolved.outage.until <= time.time() + 30
    fault = injector.decide()
    assert fault is not None and fault.kind == "outage" and fault.status == 503
    assert fault.retry_after_s in (30, 31)
    assert injector.decide(now=resolved.outage.until + 0.1) is None
    assert injector.describe()["outage_active"] is True


def test_rate_limit_ratio_answers_configured_status_and_retry_after() -> None:
    config = {"rate_limit": {"ratio": 1.0, "retry_after_s": 4, "status": 429}}
    fault = FaultInjector(FaultConfig.model_validate(config)).decide()
    assert fault is not None and (fault.kind, fault.status, fault.retry_after_s) == (
        "rate_limit",
        429,
        4,
    )


def test_token_bucket_grants_burst_then_refills() -> None:
    clock = [100.0]
    bucket = TokenBucket(rate=10, burst=3, clock=lambda: clock[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert wait == pytest.approx(0.1)
    clock[0] += 0.11
    assert bucket.take() == 0.0


def test_window_limit_counts_down_and_flags_excess() -> None:
    limit = WindowLimit(2)
    first, over_first = limit.hit()
    second, over_second = limit.hit()
    third, over_third = limit.hit()
    if third["X-RateLimit-Reset"] != first["X-RateLimit-Reset"]:
        pytest.skip("crossed a second boundary; the window restarted")
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == ("1", "0")
    assert not over_first and not over_second and over_third
    assert third["Retry-After"] == "1" and third["X-RateLimit-Limit"] == "2"


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ({"distribution": "fixed", "ms": 20}, 20, 20),
        ({"distribution": "uniform", "min_ms": 10, "max_ms": 30}, 10, 30),
        ({"distribution": "normal", "mean_ms": 50, "stddev_ms": 100, "max_ms": 80}, 0, 80),
        ({"distribution": "exponential", "mean_ms": 10, "max_ms": 25}, 0, 25),
    ],
)
def test_latency_draws_stay_in_range(spec: dict[str, object], low: float, high: float) -> None:
    injector = FaultInjector(FaultConfig.model_validate({"latency_ms": spec, "seed": 1}))
    draws = [injector.latency_s() * 1000 for _ in range(500)]
    assert all(low <= draw <= high for draw in draws)


def test_paths_limit_where_faults_apply() -> None:
    config = FaultConfig.model_validate({"error_ratio": {"500": 1.0}, "paths": ["/v1/events/"]})
    injector = FaultInjector(config)
    assert injector.applies_to("/v1/events/create")
    assert not injector.applies_to("/v1/other")
