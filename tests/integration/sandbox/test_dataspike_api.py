"""Dataspike sandbox: applicants, payment and transaction events, strictness, auth, 429."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.dataspike import DEFAULT_API_KEY

APPLICANTS = "/api/v3/applicants"
PAYMENT = "/api/v3/transmon/payment"
TRANSACTION = "/api/v3/transmon/transaction"
SEED_PAYMENT: dict[str, Any] = {
    "user_ip_address": "27.134.25.17",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101",
    "user_device_id": "nmljasfdKsed8keM#@2k",
    "session_duration": 7200,
    "user_email_address": "myverynicelogin@example.com",
    "user_phone_number": "+1 123 456-898-87",
    "user_ds_registration": 3,
    "user_initial_risk_score": 15,
    "user_current_risk_score": 27,
    "checkout_price": "560.00",
    "checkout_isguest": True,
    "checkout_billing_address": "8247 Christopher Mountains Apt. 462",
    "checkout_billing_zip": "27315",
    "checkout_billing_country": "US",
    "checkout_card_bin": "259703",
    "checkout_shipping_address": "9143 Wendy Park Suite 894",
    "checkout_shipping_zip": "84639",
}


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("dataspike", config=config) as sandbox:
        yield sandbox


@pytest.fixture
def dataspike(box: SandboxThread) -> SandboxThread:
    box.reset()
    return box


@pytest.fixture
def client(dataspike: SandboxThread) -> Iterator[httpx.Client]:
    headers = {"ds-api-token": DEFAULT_API_KEY}
    with httpx.Client(base_url=dataspike.base_url, headers=headers, timeout=10) as http:
        yield http


@pytest.fixture
def applicant_id(client: httpx.Client) -> str:
    response = client.post(APPLICANTS, json={"external_id": "user-1"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def payment(applicant_id: str, /, **changes: Any) -> dict[str, Any]:
    body = {"applicant_id": applicant_id, **SEED_PAYMENT, **changes}
    return {key: value for key, value in body.items() if value is not None}


def test_applicant_created_and_duplicate_external_id_is_409(
    client: httpx.Client, dataspike: SandboxThread
) -> None:
    body = {
        "external_id": "user-7",
        "email": "u7@example.com",
        "phone": "+44 20 7946 0000",
        "info": {"first_name": "Ada", "last_name": "Lovelace", "dob": "1815-12-10", "x": 1},
    }
    created = client.post(APPLICANTS, json=body)
    assert created.status_code == 200
    applicant_id = created.json()["id"]
    assert uuid.UUID(applicant_id).version == 4 and created.json() == {"id": applicant_id}
    again = client.post(APPLICANTS, json={"external_id": "user-7"})
    assert again.status_code == 409
    assert again.json() == {
        "error": "external_id: 'user-7' is already registered",
        "id": applicant_id,
    }
    assert [r["status"] for r in dataspike.requests()] == [200, 409]
    assert dataspike.requests()[0]["json"] == body


def test_seed_payment_accepted_and_recorded(
    client: httpx.Client, dataspike: SandboxThread, applicant_id: str
) -> None:
    body = payment(applicant_id)
    response = client.post(PAYMENT, json=body)
    assert response.status_code == 200, response.text
    assert uuid.UUID(response.json()["event_id"]).version == 4
    recorded = dataspike.requests()[-1]
    assert recorded["path"] == PAYMENT and recorded["json"] == body
    assert recorded["headers"]["ds-api-token"] != DEFAULT_API_KEY
    minimal = {"applicant_id": applicant_id, "checkout_billing_country": "DE"}
    assert client.post(PAYMENT, json=minimal).status_code == 200


def test_transaction_accepted_with_extra_fields_recorded(
    client: httpx.Client, dataspike: SandboxThread, applicant_id: str
) -> None:
    body = {
        "applicant_id": applicant_id,
        "transaction_type": "deposit",
        "currency_code": "EUR",
        "amount": "12.50",
        "payor_name": "Ada",
        "payee_account": "DE89370400440532013000",
        "session_id": "s1",
        "channel": "web",
        "merchant_category": "5732",
    }
    response = client.post(TRANSACTION, json=body)
    assert response.status_code == 200, response.text
    assert uuid.UUID(response.json()["event_id"]).version == 4
    assert dataspike.requests()[-1]["json"] == body


@pytest.mark.parametrize("path", [PAYMENT, TRANSACTION])
def test_unknown_applicant_is_404(client: httpx.Client, path: str) -> None:
    ghost = str(uuid.uuid4())
    response = client.post(
        path, json=payment(ghost) if path == PAYMENT else {"applicant_id": ghost}
    )
    assert response.status_code == 404
    assert response.json() == {"error": f"applicant_id: applicant {ghost!r} does not exist"}


PAYMENT_REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    (
        "risk score 101",
        {"user_current_risk_score": 101},
        "user_current_risk_score: must be between 0 and 100, got 101",
    ),
    (
        "negative risk",
        {"user_initial_risk_score": -1},
        "user_initial_risk_score: must be between 0 and 100, got -1",
    ),
    (
        "float risk",
        {"user_initial_risk_score": 15.0},
        "user_initial_risk_score: must be an integer, got number",
    ),
    ("negative duration", {"session_duration": -5}, "session_duration: must be >= 0, got -5"),
    (
        "negative registration",
        {"user_ds_registration": -1},
        "user_ds_registration: must be >= 0, got -1",
    ),
    ("price as number", {"checkout_price": 560.0}, "checkout_price: must be a string, got number"),
    (
        "price with currency",
        {"checkout_price": "560.00 USD"},
        'checkout_price: must be a non-negative decimal string such as "560.00",'
        " got '560.00 USD'",
    ),
    (
        "5-digit BIN",
        {"checkout_card_bin": "25970"},
        "checkout_card_bin: must be a string of exactly 6 digits, got '25970'",
    ),
    (
        "numeric BIN",
        {"checkout_card_bin": 259703},
        "checkout_card_bin: must be a string, got integer",
    ),
    (
        "isguest as string",
        {"checkout_isguest": "true"},
        "checkout_isguest: must be a boolean, got string",
    ),
    (
        "bad ip",
        {"user_ip_address": "27.134.25"},
        "user_ip_address: not a valid IP address: '27.134.25'",
    ),
    (
        "alpha-3 country",
        {"checkout_billing_country": "USA"},
        "checkout_billing_country: must be an ISO 3166-1 alpha-2 code, got 'USA'",
    ),
    ("no country", {"checkout_billing_country": None}, "checkout_billing_country: required"),
    ("unknown key", {"checkout_currency": "USD"}, "checkout_currency: unknown field"),
    (
        "applicant id not uuid",
        {"applicant_id": "user-1"},
        "applicant_id: must be a UUID, got 'user-1'",
    ),
]


@pytest.mark.parametrize(
    ("changes", "message"),
    [r[1:] for r in PAYMENT_REJECTIONS],
    ids=[r[0] for r in PAYMENT_REJECTIONS],
)
def test_payment_contract_violations(
    client: httpx.Client, applicant_id: str, changes: dict[str, Any], message: str
) -> None:
    body = payment(applicant_id, **changes)
    if changes.get("checkout_billing_country", "") is None:
        body.pop("checkout_billing_country", None)
    response = client.post(PAYMENT, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


OTHER_REJECTIONS: list[tuple[str, str, dict[str, Any], str]] = [
    ("applicant without external_id", APPLICANTS, {"email": "a@b.io"}, "external_id: required"),
    ("empty external_id", APPLICANTS, {"external_id": ""}, "external_id: must not be empty"),
    ("applicant unknown key", APPLICANTS, {"external_id": "u", "name": "x"}, "name: unknown field"),
    (
        "bad email",
        APPLICANTS,
        {"external_id": "u", "email": "nope"},
        "email: must be a valid email address, got 'nope'",
    ),
    (
        "bad dob",
        APPLICANTS,
        {"external_id": "u", "info": {"dob": "1815-13-10"}},
        "info.dob: must be a date YYYY-MM-DD, got '1815-13-10'",
    ),
    (
        "dob with time",
        APPLICANTS,
        {"external_id": "u", "info": {"dob": "18151210"}},
        "info.dob: must be a date YYYY-MM-DD, got '18151210'",
    ),
    ("transaction without applicant", TRANSACTION, {"amount": "1.00"}, "applicant_id: required"),
    (
        "lower-case currency",
        TRANSACTION,
        {"currency_code": "eur"},
        "currency_code: must be a upper-case ISO 4217 currency code, got 'eur'",
    ),
    ("amount as number", TRANSACTION, {"amount": 12.5}, "amount: must be a string, got number"),
    (
        "payor field not string",
        TRANSACTION,
        {"payor_id": 7},
        "payor_id: must be a string, got integer",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [r[1:] for r in OTHER_REJECTIONS],
    ids=[r[0] for r in OTHER_REJECTIONS],
)
def test_applicant_and_transaction_contract_violations(
    client: httpx.Client, applicant_id: str, path: str, body: dict[str, Any], message: str
) -> None:
    if path == TRANSACTION and body != {"amount": "1.00"}:
        body = {"applicant_id": applicant_id, **body}
    response = client.post(path, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "missing ds-api-token header"),
        ({"ds-api-token": "other"}, 401, "ds-api-token is not accepted"),
        ({"Authorization": DEFAULT_API_KEY}, 401, "missing ds-api-token header"),
    ],
)
def test_auth(dataspike: SandboxThread, headers: dict[str, str], status: int, message: str) -> None:
    url = f"{dataspike.base_url}{APPLICANTS}"
    response = httpx.post(url, json={"external_id": "u"}, headers=headers)
    assert response.status_code == status
    assert response.json() == {"error": message}


def test_content_type_and_json_required(client: httpx.Client) -> None:
    response = client.post(APPLICANTS, content=b'{"external_id": "u"}')
    assert response.status_code == 415
    assert response.json()["error"].startswith("body: Content-Type must be application/json")
    bad = client.post(APPLICANTS, content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json() == {"error": "body: not valid JSON"}


def test_reset_forgets_applicants(client: httpx.Client, dataspike: SandboxThread) -> None:
    assert client.post(APPLICANTS, json={"external_id": "u"}).status_code == 200
    dataspike.reset()
    assert client.post(APPLICANTS, json={"external_id": "u"}).status_code == 200


def test_rate_limit_answers_429_with_retry_after() -> None:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=2)
    with SandboxThread("dataspike", config=config) as sandbox:
        headers = {"ds-api-token": DEFAULT_API_KEY}
        with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
            responses = [http.post(APPLICANTS, json={"external_id": f"u{i}"}) for i in range(6)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited and {r.status_code for r in responses} <= {200, 429}
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json() == {"error": "rate limit of 2 requests/s exceeded"}
