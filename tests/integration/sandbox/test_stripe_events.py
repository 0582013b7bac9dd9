"""Stripe sandbox behaviour: create, report every event type, interventions, idempotency,
auth, rate limit and recordings, over real HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.forms import parse_form
from riskrelay.sandbox.stripe import DEFAULT_API_KEY

VERSION = "2026-01-28.preview; payment_evaluations_beta=v1"


@pytest.fixture(scope="module")
def stripe_box() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("stripe", config=config) as box:
        yield box


@pytest.fixture
def stripe(stripe_box: SandboxThread) -> SandboxThread:
    stripe_box.reset()
    return stripe_box


@pytest.fixture
def client(stripe: SandboxThread) -> Iterator[httpx.Client]:
    auth = httpx.BasicAuth(DEFAULT_API_KEY, "")
    headers = {"Stripe-Version": VERSION}
    with httpx.Client(base_url=stripe.base_url, auth=auth, headers=headers, timeout=10) as http:
        yield http


def _create(client: httpx.Client, **data: str) -> dict[str, Any]:
    response = client.post("/v1/radar/payment_evaluations", data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _report(client: httpx.Client, evaluation_id: str, data: dict[str, str]) -> httpx.Response:
    return client.post(f"/v1/payment_evaluations/{evaluation_id}/report_events", data=data)


def test_create_returns_a_pending_evaluation(client: httpx.Client) -> None:
    evaluation = _create(client, **{"metadata[order_id]": "o-1"})
    assert evaluation["id"].startswith("peval_")
    assert evaluation["created_at"] == pytest.approx(time.time(), abs=5)
    assert evaluation == {
        "id": evaluation["id"],
        "object": "payment_evaluation",
        "created_at": evaluation["created_at"],
        "events": [],
        "livemode": False,
        "metadata": {"order_id": "o-1"},
        "status": "pending_outcome",
    }


EVENTS: list[tuple[dict[str, str], dict[str, Any]]] = [
    (
        {"type": "dispute_opened", "dispute_opened[amount]": "500",
         "dispute_opened[currency]": "usd", "dispute_opened[reason]": "fraudulent"},
        {"dispute_opened": {"amount": 500, "currency": "usd", "reason": "fraudulent"}},
    ),
    (
        {"type": "early_fraud_warning_received",
         "early_fraud_warning_received[fraud_type]": "made_with_stolen_card"},
        {"early_fraud_warning_received": {"fraud_type": "made_with_stolen_card"}},
    ),
    (
        {"type": "refunded", "refunded[amount]": "1250", "refunded[currency]": "eur",
         "refunded[reason]": "requested_by_customer"},
        {"refunded": {"amount": 1250, "currency": "eur", "reason": "requested_by_customer"}},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "expected"), EVENTS, ids=lambda v: next(iter(v.values())))
def test_each_event_type_is_accepted(
    client: httpx.Client, fields: dict[str, str], expected: dict[str, Any]
) -> None:
    evaluation = _create(client)
    data = {"events[0][occurred_at]": "1700000000"}
    for name, value in fields.items():
        head, bracket, rest = name.partition("[")
        data[f"events[0][{head}]{bracket}{rest}"] = value
    response = _report(client, evaluation["id"], data)
    assert response.status_code == 200, response.text
    kind = fields["type"]
    assert response.json() == {
        **evaluation,
        "events": [{"occurred_at": 1_700_000_000, "type": kind, **expected}],
    }


def test_intervention_key_round_trip(client: httpx.Client) -> None:
    evaluation_id = _create(client)["id"]
    raised = _report(
        client,
        evaluation_id,
        {
            "events[0][occurred_at]": "1700000000",
            "events[0][type]": "user_intervention_raised",
            "events[0][user_intervention_raised][type]": "captcha",
            "events[1][occurred_at]": "1700000001",
            "events[1][type]": "user_intervention_raised",
            "events[1][user_intervention_raised][type]": "custom",
            "events[1][user_intervention_raised][custom][type]": "sms_otp",
        },
    )
    assert raised.status_code == 200, raised.text
    first, second = raised.json()["events"]
    key = first["user_intervention_raised"]["key"]
    assert first["user_intervention_raised"] == {"key": key, "type": "captcha"}
    assert second["user_intervention_raised"]["custom"] == {"type": "sms_otp"}
    assert key != second["user_intervention_raised"]["key"]

    def resolve(with_key: str, on: str = evaluation_id) -> httpx.Response:
        return _report(
            client,
            on,
            {
                "events[0][occurred_at]": "1700000100",
                "events[0][type]": "user_intervention_resolved",
                "events[0][user_intervention_resolved][key]": with_key,
                "events[0][user_intervention_resolved][outcome]": "passed",
            },
        )

    unknown = resolve("not-a-raised-key")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "events[0][user_intervention_resolved][key]"
    assert "'not-a-raised-key'" in unknown.json()["error"]["message"]
    assert resolve(key, on=_create(client)["id"]).status_code == 400  # raised elsewhere
    resolved = resolve(key)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["events"][2] == {
        "occurred_at": 1_700_000_100,
        "type": "user_intervention_resolved",
        "user_intervention_resolved": {"key": key, "outcome": "passed"},
    }


def test_metadata_merges_and_unsets(client: httpx.Client) -> None:
    evaluation_id = _create(client, **{"metadata[a]": "1", "metadata[b]": "2"})["id"]
    data = {
        "events[0][occurred_at]": "1700000000",
        "events[0][type]": "early_fraud_warning_received",
        "events[0][early_fraud_warning_received][fraud_type]": "other",
        "metadata[a]": "",
        "metadata[c]": "3",
    }
    assert _report(client, evaluation_id, data).json()["metadata"] == {"b": "2", "c": "3"}


def test_bearer_auth_is_accepted(stripe: SandboxThread) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    response = httpx.post(f"{stripe.base_url}/v1/radar/payment_evaluations", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, None),
        ({"Authorization": "Bearer sk_test_wrong_key_123"}, "api_key_invalid"),
        ({"Authorization": "Basic " + base64.b64encode(b"sk_live_x:").decode()}, "api_key_invalid"),
    ],
    ids=["missing", "bearer-wrong", "basic-wrong"],
)  # fmt: skip
def test_bad_auth_is_401(stripe: SandboxThread, headers: dict[str, str], code: str | None) -> None:
    response = httpx.post(f"{stripe.base_url}/v1/radar/payment_evaluations", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert "sk_test_wrong_key_123" not in error["message"]


DISPUTE = {
    "events[0][occurred_at]": "1700000000",
    "events[0][type]": "refunded",
    "events[0][refunded][amount]": "500",
    "events[0][refunded][currency]": "usd",
    "events[0][refunded][reason]": "duplicate",
}


def test_idempotent_replay_and_conflict(client: httpx.Client) -> None:
    evaluation_id = _create(client)["id"]
    path = f"/v1/payment_evaluations/{evaluation_id}/report_events"
    first = client.post(path, data=DISPUTE, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    replay = client.post(path, data=DISPUTE, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert len(replay.json()["events"]) == 1  # not stored twice
    changed = {**DISPUTE, "events[0][refunded][amount]": "501"}
    conflict = client.post(path, data=changed, headers={"Idempotency-Key": "k-1"})
    assert conflict.status_code == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"
    assert "'k-1'" in conflict.json()["error"]["message"]
    elsewhere = client.post("/v1/radar/payment_evaluations", headers={"Idempotency-Key": "k-1"})
    assert elsewhere.json()["error"]["type"] == "idempotency_error"
    too_long = client.post(path, data=DISPUTE, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["message"] == (
        "Invalid Idempotency-Key: must be 1 to 255 characters, got 256"
    )


def test_validation_errors_are_not_stored_for_idempotency(client: httpx.Client) -> None:
    evaluation_id = _create(client)["id"]
    path = f"/v1/payment_evaluations/{evaluation_id}/report_events"
    bad = {**DISPUTE, "events[0][refunded][reason]": "nope"}
    assert client.post(path, data=bad, headers={"Idempotency-Key": "k-2"}).status_code == 400
    retried = client.post(path, data=DISPUTE, headers={"Idempotency-Key": "k-2"})
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


def test_stripe_version_is_checked(client: httpx.Client) -> None:
    ok = client.post("/v1/radar/payment_evaluations", headers={"Stripe-Version": "2024-06-20"})
    assert ok.status_code == 200
    bad = client.post("/v1/radar/payment_evaluations", headers={"Stripe-Version": "latest"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_stripe_version"


def test_rate_limit_is_429_with_stripe_shape() -> None:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=3)
    with (
        SandboxThread("stripe", config=config) as box,
        httpx.Client(base_url=box.base_url, auth=httpx.BasicAuth(DEFAULT_API_KEY, "")) as http,
    ):
        statuses = [http.post("/v1/radar/payment_evaluations") for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert all(r.status_code in (200, 429) for r in statuses)
    error = limited[0].json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "rate_limit"
    assert int(limited[0].headers["Retry-After"]) >= 1


def test_default_test_mode_limit_is_25_per_second() -> None:
    with SandboxThread("stripe", config=SandboxConfig(processing_delay_s=0)) as box:
        statuses = []
        with httpx.Client(base_url=box.base_url, auth=httpx.BasicAuth(DEFAULT_API_KEY, "")) as http:
            deadline = time.time() + 0.9
            while time.time() < deadline and len(statuses) < 40:
                statuses.append(http.post("/v1/radar/payment_evaluations").status_code)
    assert 429 in statuses or len(statuses) < 26


def test_recording_holds_the_form(client: httpx.Client, stripe: SandboxThread) -> None:
    evaluation_id = _create(client)["id"]
    response = _report(client, evaluation_id, DISPUTE)
    recorded = stripe.requests()[-1]
    assert recorded["path"] == f"/v1/payment_evaluations/{evaluation_id}/report_events"
    assert recorded["status"] == 200 and recorded["response"] == response.json()
    assert recorded["headers"]["stripe-version"] == VERSION
    credentials = "Basic " + base64.b64encode(b"sk_test_sandbox:").decode()
    assert recorded["headers"]["authorization"] == "*" * (len(credentials) - 4) + credentials[-4:]
    assert parse_form(recorded["body"].encode()) == {
        "events": [
            {
                "occurred_at": "1700000000",
                "type": "refunded",
                "refunded": {"amount": "500", "currency": "usd", "reason": "duplicate"},
            }
        ]
    }
