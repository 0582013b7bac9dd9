"""Coinflow sandbox: events accepted and recorded, contract rules, auth, rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox import coinflow as coinflow_module
from riskrelay.sandbox.coinflow import DEFAULT_API_KEY

Event = dict[str, Any]
EVENTS: list[Event] = [
    {
        "eventType": "SignUp",
        "customerId": "c1234567890abcdef",
        "username": "johndoe92",
        "country": "US",
        "email": "johndoe92@example.com",
        "firstName": "John",
        "lastName": "Doe",
    },
    {"eventType": "SignIn", "customerId": "c1", "country": "DE", "email": "a@b.io"},
    {"eventType": "SignInFailure", "customerId": "c1"},
    {
        "eventType": "BuyerChallenge",
        "customerId": "c1",
        "challengeType": "SMS_2FA",
        "outcome": "PASSED",
    },
]


@pytest.fixture(scope="module")
def coinflow_box() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("coinflow", config=config) as box:
        yield box


@pytest.fixture
def coinflow(coinflow_box: SandboxThread) -> SandboxThread:
    coinflow_box.reset()
    return coinflow_box


@pytest.fixture
def client(coinflow: SandboxThread) -> Iterator[httpx.Client]:
    headers = {"Authorization": DEFAULT_API_KEY}
    with httpx.Client(base_url=coinflow.base_url, headers=headers, timeout=10) as http:
        yield http


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["eventType"])
def test_each_event_type_is_accepted_and_recorded(
    client: httpx.Client, coinflow: SandboxThread, event: Event
) -> None:
    response = client.post("/api/events", json=event)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    [recorded] = coinflow.requests()
    assert recorded["path"] == "/api/events" and recorded["json"] == event
    assert recorded["status"] == 200 and recorded["response"] == {}
    assert recorded["headers"]["authorization"].endswith("-key")
    assert recorded["headers"]["authorization"] != DEFAULT_API_KEY


def _with(base: int, **changes: Any) -> Event:
    event = {**EVENTS[base], **changes}
    return {key: value for key, value in event.items() if value is not None}


REJECTIONS: list[tuple[str, Any, str]] = [
    ("not an object", [EVENTS[0]], "body: must be an object, got array"),
    ("no eventType", {"customerId": "c1"}, "eventType: required"),
    (
        "unknown eventType",
        _with(1, eventType="Login"),
        "eventType: must be one of 'SignUp', 'SignIn', 'SignInFailure', 'BuyerChallenge',"
        " got 'Login'",
    ),
    ("no customerId", {"eventType": "SignIn"}, "customerId: required"),
    ("empty customerId", _with(1, customerId=" "), "customerId: must not be empty"),
    ("numeric customerId", _with(1, customerId=7), "customerId: must be a string, got integer"),
    ("unknown key", _with(1, ip="1.2.3.4"), "ip: unknown field"),
    ("SignUp field on SignIn", _with(1, username="x"), "username: unknown field"),
    (
        "alpha-3 country",
        _with(0, country="USA"),
        "country: must be an ISO 3166-1 alpha-2 code, got 'USA'",
    ),
    (
        "lower-case country",
        _with(1, country="us"),
        "country: must be an ISO 3166-1 alpha-2 code, got 'us'",
    ),
    ("bad email", _with(0, email="john@"), "email: must be a valid email address, got 'john@'"),
    ("null email", _with(1, email=None) | {"email": None}, "email: must be a string, got null"),
    ("challenge without outcome", _with(3, outcome=None), "outcome: required"),
    (
        "unknown challengeType",
        _with(3, challengeType="SMS"),
        "challengeType: must be one of 'EMAIL_LINK', 'SMS_2FA', 'TOTP', 'KYC', 'CAPTCHA',"
        " 'THREE_DS', 'OTHER', got 'SMS'",
    ),
    (
        "unknown outcome",
        _with(3, outcome="OK"),
        "outcome: must be one of 'PASSED', 'FAILED', 'ABANDONED', 'PENDING', got 'OK'",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_contract_violations_are_rejected_precisely(
    client: httpx.Client, coinflow: SandboxThread, body: Any, message: str
) -> None:
    response = client.post("/api/events", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert coinflow.requests()[0]["status"] == 400


def test_body_must_be_json(client: httpx.Client) -> None:
    response = client.post("/api/events", content=b"eventType=SignIn")
    assert response.status_code == 400
    assert response.json()["message"].startswith("body: Content-Type must be application/json")
    bad = client.post("/api/events", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.json() == {"message": "body: not valid JSON"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization header (the merchant API key)"),
        (
            {"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            "Authorization must be the raw merchant API key, without 'Bearer '",
        ),
        ({"Authorization": "other-key"}, "Authorization key is not accepted"),
    ],
)
def test_merchant_auth(coinflow: SandboxThread, headers: dict[str, str], message: str) -> None:
    response = httpx.post(f"{coinflow.base_url}/api/events", json=EVENTS[1], headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": message}


def test_configured_key_replaces_the_default() -> None:
    config = SandboxConfig(api_key="k2", processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("coinflow", config=config) as box:
        url = f"{box.base_url}/api/events"
        assert httpx.post(url, json=EVENTS[1], headers={"Authorization": "k2"}).status_code == 200
        default = {"Authorization": DEFAULT_API_KEY}
        assert httpx.post(url, json=EVENTS[1], headers=default).status_code == 401


def test_rate_limit_answers_429_with_retry_after() -> None:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=2)
    with SandboxThread("coinflow", config=config) as box:
        headers = {"Authorization": DEFAULT_API_KEY}
        with httpx.Client(base_url=box.base_url, headers=headers) as http:
            statuses = [http.post("/api/events", json=EVENTS[1]) for _ in range(6)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        assert {r.status_code for r in statuses} <= {200, 429}
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json() == {"message": "rate limit exceeded"}


def test_default_limit_is_100_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [6_000_030.0]  # 30 s into a minute window
    monkeypatch.setattr(coinflow_module.time, "time", lambda: now[0])
    limit = coinflow_module.CoinflowSandbox(SandboxConfig()).limit
    assert isinstance(limit, coinflow_module.MinuteLimit) and limit.limit == 100
    assert all(limit.hit() == ({}, False) for _ in range(100))
    assert limit.hit() == ({"Retry-After": "30"}, True)
    now[0] += 30
    assert limit.hit() == ({}, False)
