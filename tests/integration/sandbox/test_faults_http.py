"""Fault injection over HTTP: latency, error ratio, 429s, outage and recovery."""

from __future__ import annotations

import time

import httpx
import pytest

from riskrelay.sandbox import FaultConfig, SandboxConfig, SandboxThread
from riskrelay.sandbox.unit21 import DEFAULT_API_KEY

from .events import action_event


def _put_faults(client: httpx.Client, faults: dict[str, object]) -> dict[str, object]:
    response = client.put("/_sandbox/faults", json=faults)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_latency_delays_provider_routes_but_not_the_control_api(client: httpx.Client) -> None:
    _put_faults(client, {"latency_ms": 250})
    start = time.perf_counter()
    assert client.get("/v1/events/x").status_code == 404
    assert time.perf_counter() - start >= 0.25
    start = time.perf_counter()
    assert client.get("/_sandbox/stats").status_code == 200
    assert time.perf_counter() - start < 0.25


def test_error_ratio_one_answers_that_status_every_time(
    client: httpx.Client, unit21: SandboxThread
) -> None:
    _put_faults(client, {"error_ratio": {"503": 1.0}})
    responses = [client.post("/v1/events/create", json=action_event()) for _ in range(5)]
    assert {r.status_code for r in responses} == {503}
    assert responses[0].json()["error_code"] == "service_unavailable"
    assert responses[0].headers["X-Sandbox-Fault"] == "error"
    assert [r["status"] for r in unit21.requests()] == [503] * 5
    client.delete("/_sandbox/faults")
    assert client.post("/v1/events/create", json=action_event()).status_code == 200  # not stored


def test_rate_limit_ratio_answers_429_with_retry_after(client: httpx.Client) -> None:
    _put_faults(client, {"rate_limit": {"ratio": 1.0, "retry_after_s": 3}})
    response = client.get("/v1/events/x")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error_code"] == "rate_limited"


def test_token_bucket_lets_the_burst_through_then_429s(client: httpx.Client) -> None:
    _put_faults(client, {"rate_limit": {"requests_per_s": 1, "burst": 2}})
    statuses = [client.get("/v1/events/x").status_code for _ in range(4)]
    assert statuses[:2] == [404, 404]
    assert 429 in statuses[2:]


def test_outage_window_then_recovery(client: httpx.Client) -> None:
    described = _put_faults(client, {"outage": {"status": 503, "duration_s": 0.4}})
    assert described["outage_active"] is True
    down = client.get("/v1/events/x")
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert down.headers["X-Sandbox-Fault"] == "outage"
    time.sleep(0.45)
    assert client.get("/v1/events/x").status_code == 404
    assert client.get("/_sandbox/faults").json()["outage_active"] is False


def test_outage_until_an_absolute_time(client: httpx.Client) -> None:
    _put_faults(client, {"outage": {"status": 500, "until": time.time() + 0.3}})
    assert client.get("/v1/events/x").status_code == 500
    time.sleep(0.35)
    assert client.get("/v1/events/x").status_code == 404


def test_fault_config_round_trip_and_validation(client: httpx.Client) -> None:
    assert client.put("/_sandbox/faults", json={"error_ratio": {"503": 2}}).status_code == 400
    assert client.put("/_sandbox/faults", content=b"nope").status_code == 400
    config = {"error_ratio": {"500": 0.25}, "latency_ms": 5, "seed": 3}
    _put_faults(client, config)
    assert client.get("/_sandbox/faults").json() == {
        **config,
        "latency_ms": 5.0,
        "outage_active": False,
    }
    assert client.delete("/_sandbox/faults").json() == {"error_ratio": {}, "outage_active": False}


def test_seeded_error_ratio_is_reproducible(client: httpx.Client) -> None:
    def run() -> list[int]:
        _put_faults(client, {"error_ratio": {"500": 0.5}, "seed": 11})
        return [client.get("/v1/events/x").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and set(first) == {404, 500}


def test_faults_given_at_start_apply_at_once() -> None:
    faults = FaultConfig.model_validate({"error_ratio": {"500": 1.0}})
    with SandboxThread("unit21", config=SandboxConfig(faults=faults)) as box:
        response = httpx.get(f"{box.base_url}/v1/events/x", headers={"u21-key": DEFAULT_API_KEY})
        assert response.status_code == 500
        box.clear_faults()
        response = httpx.get(f"{box.base_url}/v1/events/x", headers={"u21-key": DEFAULT_API_KEY})
        assert response.status_code == 404


@pytest.mark.parametrize("path", ["/_sandbox/requests", "/_sandbox/stats", "/_sandbox/health"])
def test_control_api_is_never_failed(client: httpx.Client, path: str) -> None:
    _put_faults(client, {"outage": {"duration_s": 30}})
    assert client.get(path).status_code == 200
