"""The shared ``/_sandbox/`` control API and the in-process starters."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import httpx

from riskrelay.sandbox import SandboxConfig, SandboxThread, start_sandbox
from riskrelay.sandbox.unit21 import DEFAULT_API_KEY

from .events import action_event


def test_requests_since_limit_and_clear(client: httpx.Client) -> None:
    for index in range(5):
        client.get(f"/v1/events/e{index}")
    everything = client.get("/_sandbox/requests").json()
    assert [r["path"] for r in everything] == [f"/v1/events/e{i}" for i in range(5)]
    first = everything[0]["seq"]
    page = client.get("/_sandbox/requests", params={"since": first + 1, "limit": 2}).json()
    assert [r["seq"] for r in page] == [first + 2, first + 3]
    assert client.get("/_sandbox/requests", params={"since": "x"}).status_code == 400
    assert client.delete("/_sandbox/requests").status_code == 200
    assert client.get("/_sandbox/requests").json() == []
    client.get("/v1/events/after")
    [after] = client.get("/_sandbox/requests").json()
    assert after["seq"] == first + 5


def test_stats_count_per_route_and_status(client: httpx.Client) -> None:
    client.post("/v1/events/create", json=action_event())
    client.post("/v1/events/create", json=action_event())
    client.get("/v1/events/evt-action-1")
    stats = client.get("/_sandbox/stats").json()
    assert stats["by_path"] == {
        "/v1/events/create": {"200": 1, "409": 1},
        "/v1/events/{event_id}": {"423": 1},
    }
    assert stats["total"] == 3


def test_reset_forgets_events_and_recordings(client: httpx.Client) -> None:
    client.post("/v1/events/create", json=action_event())
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/_sandbox/requests").json() == []
    assert client.get("/v1/events/evt-action-1").status_code == 404
    assert client.get("/_sandbox/health").json() == {"provider": "unit21", "status": "ok"}


def test_unknown_route_gets_a_provider_shaped_404(client: httpx.Client) -> None:
    response = client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error_code"] == "not_found"


def test_bounded_recorder_keeps_the_last_n() -> None:
    with SandboxThread("unit21", config=SandboxConfig(max_recorded=2)) as box:
        for index in range(4):
            httpx.get(f"{box.base_url}/v1/events/{index}", headers={"u21-key": DEFAULT_API_KEY})
        assert [r["path"] for r in box.requests()] == ["/v1/events/2", "/v1/events/3"]
        assert box.stats()["total"] == 4


def test_start_sandbox_in_a_running_loop_and_stop_frees_the_port() -> None:
    async def scenario() -> int:
        handle = await start_sandbox("unit21", "127.0.0.1", 0, SandboxConfig(processing_delay_s=0))
        try:
            async with aiohttp.ClientSession() as session:
                url = f"{handle.base_url}/v1/events/create"
                headers = {"u21-key": DEFAULT_API_KEY}
                async with session.post(url, json=action_event(), headers=headers) as response:
                    assert response.status == 200
            assert handle.recorder.stats()["total"] == 1
        finally:
            await handle.stop()
        return handle.port

    port = asyncio.run(scenario())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again
