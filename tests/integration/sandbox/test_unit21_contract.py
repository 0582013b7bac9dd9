"""The Unit21 sandbox enforces the contract: every rule rejected with its precise message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from riskrelay.sandbox import SandboxThread

from .events import action_event, transaction_event

Event = dict[str, Any]


def _edit(base: Callable[[], Event], change: Callable[[Event], object]) -> Callable[[], Any]:
    def build() -> Any:
        event = copy.deepcopy(base())
        change(event)
        return event

    return build


def _batch(*events: Any) -> Callable[[], Any]:
    return lambda: {"events": list(events)}


REJECTIONS: list[tuple[str, Callable[[], Any], str]] = [
    (
        "missing general_data",
        _edit(action_event, lambda e: e.pop("general_data")),
        "general_data: required",
    ),
    (
        "float event_time",
        _edit(action_event, lambda e: e["general_data"].update(event_time=1_700_000_000.0)),
        "general_data.event_time: must be an integer (epoch seconds), got number",
    ),
    (
        "string event_time",
        _edit(action_event, lambda e: e["general_data"].update(event_time="1700000000")),
        "general_data.event_time: must be an integer (epoch seconds), got string",
    ),
    (
        "milliseconds event_time",
        _edit(action_event, lambda e: e["general_data"].update(event_time=1_700_000_000_000)),
        "general_data.event_time: must be epoch seconds between 946684800 and 4102444800,"
        " got 1700000000000",
    ),
    (
        "bad event_type",
        _edit(action_event, lambda e: e["general_data"].update(event_type="purchase")),
        "general_data.event_type: must be one of 'transaction', 'action', got 'purchase'",
    ),
    (
        "empty event_id",
        _edit(action_event, lambda e: e["general_data"].update(event_id=" ")),
        "general_data.event_id: must not be empty",
    ),
    (
        "both data blocks",
        _edit(
            action_event,
            lambda e: e.update(transaction_data=transaction_event()["transaction_data"]),
        ),
        "action_data: not allowed together with transaction_data",
    ),
    (
        "data block inconsistent with event_type",
        _edit(action_event, lambda e: e["general_data"].update(event_type="transaction")),
        "action_data: not allowed when general_data.event_type is 'transaction'",
    ),
    (
        "no data block",
        _edit(action_event, lambda e: e.pop("action_data")),
        "action_data: required when general_data.event_type is 'action'",
    ),
    (
        "missing entity_type",
        _edit(action_event, lambda e: e["action_data"].pop("entity_type")),
        "action_data.entity_type: required",
    ),
    (
        "bad entity_type",
        _edit(action_event, lambda e: e["action_data"].update(entity_type="person")),
        "action_data.entity_type: must be one of 'user', 'business', got 'person'",
    ),
    (
        "bad action_type",
        _edit(action_event, lambda e: e["action_data"].update(action_type="login")),
        "action_data.action_type: must be one of 'SIGNUP', 'LOGIN', 'LOGOUT', 'BLOCK', 'CLOSE',"
        " 'ACTIVATE', 'FORGOT_PASSWORD', 'PASSWORD_RESET', 'PROMO_CODE_USE', 'PROFILE_CHANGE',"
        " got 'login'",
    ),
    (
        "no sender or receiver",
        _edit(
            transaction_event,
            lambda e: [
                e["transaction_data"].pop(k) for k in ("sender_entity_id", "receiver_entity_id")
            ],
        ),
        "transaction_data: at least one of sender_entity_id, sender_instrument_id,"
        " receiver_entity_id, receiver_instrument_id is required",
    ),
    (
        "missing amount",
        _edit(transaction_event, lambda e: e["transaction_data"].pop("amount")),
        "transaction_data.amount: required",
    ),
    (
        "amount as string",
        _edit(transaction_event, lambda e: e["transaction_data"].update(amount="12.50")),
        "transaction_data.amount: must be a number, got string",
    ),
    (
        "negative amount",
        _edit(transaction_event, lambda e: e["transaction_data"].update(amount=-1)),
        "transaction_data.amount: must be >= 0, got -1",
    ),
    (
        "bad IP",
        _edit(action_event, lambda e: e["digital_data"].update(ip_address="300.1.2.3")),
        "digital_data.ip_address: not a valid IP address: '300.1.2.3'",
    ),
    (
        "alpha-3 country",
        _edit(action_event, lambda e: e["location_data"].update(country="USA")),
        "location_data.country: must be an ISO 3166-1 alpha-2 code, got 'USA'",
    ),
    (
        "tag without value",
        _edit(action_event, lambda e: e["general_data"].update(tags=["vip"])),
        "general_data.tags[0]: must be 'key:value', got 'vip'",
    ),
    (
        "unknown top-level key",
        _edit(action_event, lambda e: e.update(metadata={})),
        "metadata: unknown field",
    ),
    (
        "unknown general_data key",
        _edit(action_event, lambda e: e["general_data"].update(amount=1)),
        "general_data.amount: unknown field",
    ),
    (
        "null for an optional field",
        _edit(action_event, lambda e: e["general_data"].update(event_subtype=None)),
        "general_data.event_subtype: must be a string, got null",
    ),
    (
        "non-boolean option",
        _edit(action_event, lambda e: e.update(options={"upsert_on_conflict": "yes"})),
        "options.upsert_on_conflict: must be a boolean, got string",
    ),
    (
        "custom_data not an object",
        _edit(action_event, lambda e: e.update(custom_data=[1])),
        "custom_data: must be an object, got array",
    ),
    ("body is an array", lambda: [action_event()], "body: must be an object, got array"),
    (
        "batch over 250",
        _batch(*(action_event(f"b-{i}") for i in range(251))),
        "events: must hold 1 to 250 events, got 251",
    ),
    ("empty batch", _batch(), "events: must hold 1 to 250 events, got 0"),
    (
        "one bad item in a batch",
        _batch(
            action_event("b-0"), _edit(action_event, lambda e: e["general_data"].pop("event_id"))()
        ),
        "events[1].general_data.event_id: required",
    ),
    (
        "batch with extra key",
        lambda: {"events": [action_event()], "options": {}},
        "options: unknown field in a batch body (only 'events')",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"),
    [pytest.param(build, message, id=name) for name, build, message in REJECTIONS],
)
def test_contract_violation_is_rejected_with_precise_message(
    client: httpx.Client, unit21: SandboxThread, build: Callable[[], Any], message: str
) -> None:
    body = build()
    response = client.post("/v1/events/create", json=body)
    assert response.status_code == 400
    assert response.json() == {"error_code": "invalid_input", "message": message}
    for event_id in ("evt-action-1", "evt-tx-1", "b-0"):  # nothing was stored
        assert client.get(f"/v1/events/{event_id}").status_code == 404
    [recorded] = unit21.requests(limit=1)
    assert recorded["json"] == body and recorded["status"] == 400


def test_non_json_body_is_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/v1/events/create", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error_code": "invalid_input", "message": "body: not valid JSON"}


def test_wrong_content_type_is_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/v1/events/create", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "body: Content-Type must be application/json, got text/plain"
    )


def test_missing_key_is_401_and_wrong_key_403(unit21: SandboxThread) -> None:
    url = f"{unit21.base_url}/v1/events/create"
    missing = httpx.post(url, json=action_event())
    assert missing.status_code == 401
    assert missing.json() == {"error_code": "unauthorized", "message": "missing u21-key header"}
    wrong = httpx.post(url, json=action_event(), headers={"u21-key": "not-the-key"})
    assert wrong.status_code == 403
    assert wrong.json() == {"error_code": "forbidden", "message": "u21-key is not accepted"}
    assert "X-RateLimit-Limit" in wrong.headers
    recorded = unit21.requests()
    assert [r["status"] for r in recorded] == [401, 403]
    assert recorded[1]["headers"]["u21-key"] == "*******-key"


def test_update_must_keep_the_path_event_id(client: httpx.Client) -> None:
    client.post("/v1/events/create", json=action_event("evt-a"))
    response = client.put("/v1/events/evt-a/update", json=action_event("evt-b"))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "general_data.event_id: 'evt-b' does not match the path's 'evt-a'"
    )


def test_update_is_validated_like_create(client: httpx.Client) -> None:
    client.post("/v1/events/create", json=action_event("evt-a"))
    event = action_event("evt-a")
    del event["action_data"]["entity_id"]
    response = client.put("/v1/events/evt-a/update", json=event)
    assert response.status_code == 400
    assert response.json()["message"] == "action_data.entity_id: required"
