"""The Stripe sandbox enforces the contract: each rule rejected with Stripe's error shape,
the precise message and the parameter in bracket notation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.stripe import DEFAULT_API_KEY

REFUND = {
    "events[0][occurred_at]": "1700000000",
    "events[0][type]": "refunded",
    "events[0][refunded][amount]": "500",
    "events[0][refunded][currency]": "usd",
    "events[0][refunded][reason]": "duplicate",
}
RAISED = {
    "events[0][occurred_at]": "1700000000",
    "events[0][type]": "user_intervention_raised",
    "events[0][user_intervention_raised][type]": "custom",
}


@pytest.fixture(scope="module")
def stripe() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("stripe", config=config) as box:
        yield box


@pytest.fixture
def client(stripe: SandboxThread) -> Iterator[httpx.Client]:
    auth = httpx.BasicAuth(DEFAULT_API_KEY, "")
    with httpx.Client(base_url=stripe.base_url, auth=auth, timeout=10) as http:
        yield http


@pytest.fixture
def evaluation_id(client: httpx.Client) -> str:
    response = client.post("/v1/radar/payment_evaluations")
    assert response.status_code == 200
    value: str = response.json()["id"]
    return value


Case = tuple[str, dict[str, Any], int, str, str | None]
# (id, request kwargs, status, message, param)
REJECTIONS: list[Case] = [
    ("missing events", {"data": {"metadata[a]": "1"}}, 400,
     "Missing required param: events.", "events"),
    ("empty events", {"data": {"events": ""}}, 400,
     "Invalid events: must be a non-empty array of events", "events"),
    ("bad type", {"data": {**REFUND, "events[0][type]": "chargeback"}}, 400,
     "Invalid events[0][type]: must be one of 'dispute_opened', 'early_fraud_warning_received',"
     " 'refunded', 'user_intervention_raised', 'user_intervention_resolved', got 'chargeback'",
     "events[0][type]"),
    ("float occurred_at", {"data": {**REFUND, "events[0][occurred_at]": "1700000000.5"}}, 400,
     "Invalid events[0][occurred_at]: must be an integer, got '1700000000.5'",
     "events[0][occurred_at]"),
    ("missing occurred_at", {"data": {k: v for k, v in REFUND.items() if "occurred" not in k}},
     400, "Missing required param: events[0][occurred_at].", "events[0][occurred_at]"),
    ("upper-case currency", {"data": {**REFUND, "events[0][refunded][currency]": "USD"}}, 400,
     "Invalid events[0][refunded][currency]: must be a lower-case ISO 4217 currency code,"
     " got 'USD'", "events[0][refunded][currency]"),
    ("unknown currency", {"data": {**REFUND, "events[0][refunded][currency]": "usx"}}, 400,
     "Invalid events[0][refunded][currency]: must be a lower-case ISO 4217 currency code,"
     " got 'usx'", "events[0][refunded][currency]"),
    ("negative amount", {"data": {**REFUND, "events[0][refunded][amount]": "-500"}}, 400,
     "Invalid events[0][refunded][amount]: must be > 0, got -500",
     "events[0][refunded][amount]"),
    ("decimal amount", {"data": {**REFUND, "events[0][refunded][amount]": "5.00"}}, 400,
     "Invalid events[0][refunded][amount]: must be an integer, got '5.00'",
     "events[0][refunded][amount]"),
    ("bad reason", {"data": {**REFUND, "events[0][refunded][reason]": "chargeback"}}, 400,
     "Invalid events[0][refunded][reason]: must be one of 'duplicate', 'fraudulent', 'other',"
     " 'requested_by_customer', got 'chargeback'", "events[0][refunded][reason]"),
    ("missing sub-object", {"data": {k: v for k, v in REFUND.items() if "][refunded]" not in k}},
     400, "Invalid events[0][refunded]: required when type is 'refunded'",
     "events[0][refunded]"),
    ("missing sub-field", {"data": {k: v for k, v in REFUND.items() if "reason" not in k}}, 400,
     "Missing required param: events[0][refunded][reason].", "events[0][refunded][reason]"),
    ("sub-object of another type",
     {"data": {**REFUND, "events[0][dispute_opened][amount]": "5"}}, 400,
     "Invalid events[0][dispute_opened]: not allowed when type is 'refunded'",
     "events[0][dispute_opened]"),
    ("custom without custom[type]", {"data": RAISED}, 400,
     "Invalid events[0][user_intervention_raised][custom][type]: required when type is 'custom'",
     "events[0][user_intervention_raised][custom][type]"),
    ("custom type not snake_case",
     {"data": {**RAISED, "events[0][user_intervention_raised][custom][type]": "SMS OTP"}}, 400,
     "Invalid events[0][user_intervention_raised][custom][type]: must be snake_case,"
     " got 'SMS OTP'", "events[0][user_intervention_raised][custom][type]"),
    ("bad outcome",
     {"data": {"events[0][occurred_at]": "1", "events[0][type]": "user_intervention_resolved",
               "events[0][user_intervention_resolved][key]": "k",
               "events[0][user_intervention_resolved][outcome]": "ok"}}, 400,
     "Invalid events[0][user_intervention_resolved][outcome]: must be one of 'abandoned',"
     " 'failed', 'passed', got 'ok'", "events[0][user_intervention_resolved][outcome]"),
    ("unknown parameter", {"data": {**REFUND, "events[0][refunded][note]": "x"}}, 400,
     "Received unknown parameter: events[0][refunded][note]", "events[0][refunded][note]"),
    ("gap in indexes", {"data": {**{k.replace("[0]", "[1]"): v for k, v in REFUND.items()}}},
     400, "Invalid events: array indexes must be contiguous from 0, got [1]", "events"),
    ("metadata nested", {"data": {**REFUND, "metadata[a][b]": "1"}}, 400,
     "Invalid metadata[a]: must be a string, got object", "metadata[a]"),
    ("JSON body", {"json": {"events": [{"type": "refunded"}]}}, 400,
     "Invalid body: Content-Type must be application/x-www-form-urlencoded,"
     " got application/json", None),
    ("bad auth", {"data": REFUND, "auth": httpx.BasicAuth("sk_test_nope_nope_1234", "")}, 401,
     "Invalid API Key provided: sk_test_**********1234", None),
    ("missing auth", {"data": REFUND, "auth": None}, 401,
     "You did not provide an API key. Provide your secret key as the HTTP Basic username or as"
     " 'Authorization: Bearer <key>'.", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message", "param"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejection(
    client: httpx.Client,
    stripe: SandboxThread,
    evaluation_id: str,
    request_kwargs: dict[str, Any],
    status: int,
    message: str,
    param: str | None,
) -> None:
    before = len(stripe.requests())
    path = f"/v1/payment_evaluations/{evaluation_id}/report_events"
    response = client.post(path, **request_kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == message
    assert error.get("param") == param
    assert response.headers["Request-Id"].startswith("req_")
    assert stripe.requests()[before:][-1]["status"] == status


def test_unknown_evaluation_is_404(client: httpx.Client) -> None:
    response = client.post("/v1/payment_evaluations/peval_nope/report_events", data=REFUND)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No such payment_evaluation: 'peval_nope'",
            "param": "id",
        }
    }


def test_rejected_request_stores_nothing(client: httpx.Client, evaluation_id: str) -> None:
    path = f"/v1/payment_evaluations/{evaluation_id}/report_events"
    mixed = {**REFUND, **{k.replace("[0]", "[1]"): v for k, v in RAISED.items()}}
    assert client.post(path, data=mixed).status_code == 400
    assert client.post(path, data=REFUND).json()["events"][0]["type"] == "refunded"
    assert len(client.post(path, data=REFUND).json()["events"]) == 2


def test_unmatched_route_and_fault_use_stripe_shape(
    client: httpx.Client, stripe: SandboxThread
) -> None:
    missing = client.post("/v1/charges")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    stripe.set_faults({"error_ratio": {"503": 1.0}})
    try:
        failed = client.post("/v1/radar/payment_evaluations")
    finally:
        stripe.clear_faults()
    assert failed.status_code == 503
    assert failed.json()["error"] == {
        "type": "api_error",
        "code": None,
        "message": "Service Unavailable: sandbox fault: error",
    }
