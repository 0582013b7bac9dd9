"""The worker's probes: what they answer in each phase, over a real HTTP server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from riskrelay.health import WorkerHealth, serve_worker_http


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_phases() -> None:
    clock = Clock()
    health = WorkerHealth(stall_s=60, clock=clock)
    assert health.live() == (True, "starting")
    assert health.ready() == (False, "starting")

    health.polled()
    assert health.ready() == (True, "polling")

    health.restore_started()  # inside the poll: no poll returns meanwhile
    clock.now += 600
    assert health.live() == (True, "restoring state")
    assert health.ready() == (False, "restoring state")
    health.restore_finished()
    assert health.ready() == (True, "polling")

    clock.now += 61
    assert health.live() == (False, "no poll for 61s")
    assert health.ready() == (False, "no poll for 61s")
    health.polled()
    assert health.live() == (True, "polling")


@pytest.fixture
def served() -> Iterator[tuple[str, WorkerHealth, Clock]]:
    clock = Clock()
    health = WorkerHealth(stall_s=60, clock=clock)
    registry = CollectorRegistry()
    Counter("riskrelay_probe_test_total", "a metric to find", registry=registry).inc(3)
    server, thread = serve_worker_http("127.0.0.1", 0, registry, health)
    try:
        yield f"http://127.0.0.1:{server.server_port}", health, clock
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_http(served: tuple[str, WorkerHealth, Clock]) -> None:
    url, health, clock = served
    assert _get(f"{url}/healthz") == (200, b'{"status": "starting"}')
    status, body = _get(f"{url}/readyz")
    assert (status, json.loads(body)) == (503, {"status": "starting"})

    health.polled()
    assert _get(f"{url}/readyz")[0] == 200
    health.restore_started()
    assert _get(f"{url}/readyz")[0] == 503
    assert _get(f"{url}/healthz")[0] == 200
    health.restore_finished()
    clock.now += 120
    assert _get(f"{url}/healthz")[0] == 503

    status, body = _get(f"{url}/metrics")
    assert status == 200
    assert b"riskrelay_probe_test_total 3.0" in body
