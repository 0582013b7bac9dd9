"""Unit21 sandbox behaviour: accept and record, 409/upsert, update, 423 and old data, 429."""

from __future__ import annotations

import time

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.unit21 import DEFAULT_API_KEY

from .conftest import PROCESSING_DELAY_S
from .events import action_event, transaction_event


@pytest.mark.parametrize("build", [action_event, transaction_event])
def test_valid_event_is_accepted_and_recorded_exactly(
    client: httpx.Client, unit21: SandboxThread, build: object
) -> None:
    assert callable(build)
    event = build()
    response = client.post("/v1/events/create", json=event)
    assert response.status_code == 200
    event_id = event["general_data"]["event_id"]
    assert response.json() == {"event_id": event_id, "unit21_id": "1", "previously_existed": False}
    [recorded] = unit21.requests()
    assert recorded["method"] == "POST" and recorded["path"] == "/v1/events/create"
    assert recorded["json"] == event and recorded["body"] is None
    assert recorded["status"] == 200 and recorded["response"] == response.json()
    assert recorded["headers"]["u21-key"] == "*" * (len(DEFAULT_API_KEY) - 4) + "-key"
    assert recorded["headers"]["content-type"] == "application/json"
    assert recorded["received_at"] == pytest.approx(time.time(), abs=5)


def test_success_carries_rate_limit_headers(client: httpx.Client) -> None:
    response = client.post("/v1/events/create", json=action_event())
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert 0 <= int(response.headers["X-RateLimit-Remaining"]) < 200
    assert int(response.headers["X-RateLimit-Reset"]) == pytest.approx(time.time() + 1, abs=1.5)


def test_duplicate_create_conflicts_and_upsert_updates(client: httpx.Client) -> None:
    assert client.post("/v1/events/create", json=action_event("dup")).status_code == 200
    conflict = client.post("/v1/events/create", json=action_event("dup"))
    assert conflict.status_code == 409
    assert conflict.json()["error_code"] == "conflict"
    upsert = client.post("/v1/events/create", json=action_event("dup", upsert_on_conflict=True))
    assert upsert.status_code == 200
    assert upsert.json() == {"event_id": "dup", "unit21_id": "1", "previously_existed": True}
    explicit_false = action_event("dup", upsert_on_conflict=False)
    assert client.post("/v1/events/create", json=explicit_false).status_code == 409


def test_batch_reports_one_result_per_event(client: httpx.Client) -> None:
    client.post("/v1/events/create", json=action_event("old"))
    batch = {"events": [action_event("new"), action_event("old"), transaction_event("new-tx")]}
    response = client.post("/v1/events/create", json=batch)
    assert response.status_code == 200
    results = response.json()["events"]
    assert [(r["event_id"], r["status"]) for r in results] == [
        ("new", 200),
        ("old", 409),
        ("new-tx", 200),
    ]
    assert results[1]["error_code"] == "conflict"


def test_update_of_unknown_event_is_404(client: httpx.Client) -> None:
    response = client.put("/v1/events/nope/update", json=action_event("nope"))
    assert response.status_code == 404
    assert response.json() == {"error_code": "not_found", "message": "event 'nope' does not exist"}


def test_read_is_404_then_423_then_the_event(client: httpx.Client) -> None:
    assert client.get("/v1/events/evt-tx-1").status_code == 404
    client.post("/v1/events/create", json=transaction_event())
    locked = client.get("/v1/events/evt-tx-1")
    assert locked.status_code == 423
    assert locked.json()["error_code"] == "locked"
    assert int(locked.headers["Retry-After"]) >= 1
    time.sleep(PROCESSING_DELAY_S + 0.05)
    for path in ("/v1/events/evt-tx-1", "/v1/acme-org/events/evt-tx-1"):
        done = client.get(path)
        assert done.status_code == 200
        assert done.json() == transaction_event()


@pytest.mark.parametrize("how", ["upsert", "update"])
def test_old_data_is_served_while_a_change_is_processed(client: httpx.Client, how: str) -> None:
    client.post("/v1/events/create", json=transaction_event(amount=10.0))
    time.sleep(PROCESSING_DELAY_S + 0.05)
    if how == "upsert":
        changed = transaction_event(amount=99.0, upsert_on_conflict=True)
        assert client.post("/v1/events/create", json=changed).status_code == 200
    else:
        changed = transaction_event(amount=99.0)
        del changed["general_data"]["event_id"]  # optional on update: the path names it
        response = client.put("/v1/events/evt-tx-1/update", json=changed)
        assert response.status_code == 200 and response.json()["previously_existed"] is True
    during = client.get("/v1/events/evt-tx-1")
    assert during.status_code == 200
    assert during.json()["transaction_data"]["amount"] == 10.0
    time.sleep(PROCESSING_DELAY_S + 0.05)
    after = client.get("/v1/events/evt-tx-1").json()
    assert after["transaction_data"]["amount"] == 99.0
    assert after["general_data"]["event_id"] == "evt-tx-1"


def test_zero_processing_delay_makes_events_readable_at_once() -> None:
    with SandboxThread("unit21", config=SandboxConfig(processing_delay_s=0)) as box:
        headers = {"u21-key": DEFAULT_API_KEY}
        httpx.post(f"{box.base_url}/v1/events/create", json=action_event(), headers=headers)
        response = httpx.get(f"{box.base_url}/v1/events/evt-action-1", headers=headers)
        assert response.status_code == 200


def test_exceeding_the_rate_limit_answers_429_with_retry_after() -> None:
    config = SandboxConfig(rate_limit_per_s=3, api_key="custom-key")
    with (
        SandboxThread("unit21", config=config) as box,
        httpx.Client(base_url=box.base_url, headers={"u21-key": "custom-key"}) as http,
    ):
        statuses = [http.get("/v1/events/x") for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert {r.status_code for r in statuses} == {404, 429}
    first = limited[0]
    assert first.json()["error_code"] == "rate_limited"
    assert first.headers["Retry-After"] == "1"
    assert first.headers["X-RateLimit-Limit"] == "3"
    assert first.headers["X-RateLimit-Remaining"] == "0"
