"""Coinflow sandbox: EVM credits authorization message, end-user auth, 412."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.coinflow import MERCHANTS_ENV, VERIFYING_CONTRACT, CoinflowSandbox

PATH = "/api/redeem/evm/creditsAuthMsg"
WALLET = {"x-coinflow-auth-wallet": "0xabc", "x-coinflow-auth-blockchain": "eth"}
TO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchantId": "merchant_abc123",
        "subtotal": {"cents": 2500, "currency": "USD"},
        "transactionData": {
            "transaction": {"data": "0xa9059cbb", "to": TO},
            "type": "safeMint",
        },
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("coinflow", config=config) as sandbox:
        yield sandbox


@pytest.fixture
def client(box: SandboxThread) -> Iterator[httpx.Client]:
    box.reset()
    with httpx.Client(base_url=box.base_url, headers=WALLET, timeout=10) as http:
        yield http


def test_message_is_eip712_typed_data_for_the_request(
    client: httpx.Client, box: SandboxThread
) -> None:
    response = client.post(PATH, json=request())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "validBefore", "nonce", "creditsRawAmount"}
    typed = orjson.loads(body["message"])
    assert typed["primaryType"] == "CreditsAuthorization"
    assert typed["domain"] == {
        "name": "Coinflow",
        "version": "1",
        "chainId": 1,
        "verifyingContract": VERIFYING_CONTRACT,
    }
    names = [field["name"] for field in typed["types"]["CreditsAuthorization"]]
    assert names == ["merchantId", "subtotalCents", "subtotalCurrency", "nonce", "validBefore"]
    assert typed["message"] == {
        "merchantId": "merchant_abc123",
        "subtotalCents": 2500,
        "subtotalCurrency": "USD",
        "nonce": body["nonce"],
        "validBefore": int(body["validBefore"]),
    }
    assert isinstance(body["validBefore"], str) and isinstance(body["nonce"], str)
    assert int(body["validBefore"]) == pytest.approx(time.time() + 300, abs=5)
    assert body["creditsRawAmount"] == 25.25
    second = client.post(PATH, json=request()).json()
    assert second["nonce"] != body["nonce"]
    assert box.requests()[0]["response"] == body


@pytest.mark.parametrize(
    ("subtotal", "cents", "currency", "credits"),
    [
        ({"cents": 1000}, 1000, "USD", 10.25),
        ({"cents": 0, "currency": "EUR"}, 0, "EUR", 0.25),
        ({"address": TO, "amount": "12.34", "decimals": 6}, 1234, "USD", 12.59),
    ],
)
def test_subtotal_shapes(
    client: httpx.Client, subtotal: Any, cents: int, currency: str, credits: float
) -> None:
    body = client.post(PATH, json=request(subtotal=subtotal)).json()
    message = orjson.loads(body["message"])["message"]
    assert (message["subtotalCents"], message["subtotalCurrency"]) == (cents, currency)
    assert body["creditsRawAmount"] == credits


def test_session_key_auth_and_type_only_transaction(box: SandboxThread) -> None:
    headers = {"x-coinflow-auth-session-key": "session"}
    body = request(transactionData={"type": "safeMint", "nftId": "7"})
    response = httpx.post(f"{box.base_url}{PATH}", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["creditsRawAmount"] == 25.0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {},
            "missing end-user auth: x-coinflow-auth-wallet and x-coinflow-auth-blockchain,"
            " or x-coinflow-auth-session-key",
        ),
        (
            {"Authorization": "sandbox-coinflow-key"},
            "missing end-user auth: x-coinflow-auth-wallet and x-coinflow-auth-blockchain,"
            " or x-coinflow-auth-session-key",
        ),
        (
            {"x-coinflow-auth-wallet": "0xabc"},
            "x-coinflow-auth-blockchain is required with the other wallet auth header",
        ),
        (
            {"x-coinflow-auth-blockchain": "eth"},
            "x-coinflow-auth-wallet is required with the other wallet auth header",
        ),
    ],
)
def test_end_user_auth(box: SandboxThread, headers: dict[str, str], message: str) -> None:
    response = httpx.post(f"{box.base_url}{PATH}", json=request(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": message}


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("no merchantId", request(merchantId=None), "merchantId: required"),
    ("no subtotal", request(subtotal=None), "subtotal: required"),
    ("no transactionData", request(transactionData=None), "transactionData: required"),
    ("unknown key", request(amount=5), "amount: unknown field"),
    (
        "float cents",
        request(subtotal={"cents": 25.0}),
        "subtotal.cents: must be an integer, got number",
    ),
    ("negative cents", request(subtotal={"cents": -1}), "subtotal.cents: must be >= 0, got -1"),
    (
        "lower-case currency",
        request(subtotal={"cents": 1, "currency": "usd"}),
        "subtotal.currency: must be a upper-case ISO 4217 currency code, got 'usd'",
    ),
    (
        "token amount as number",
        request(subtotal={"address": TO, "amount": 12.5}),
        "subtotal.amount: must be a string, got number",
    ),
    (
        "token without address",
        request(subtotal={"amount": "1.00"}),
        "subtotal.address: required",
    ),
    (
        "mixed subtotal shapes",
        request(subtotal={"cents": 1, "address": TO, "amount": "1"}),
        "subtotal.cents: unknown field",
    ),
    (
        "short to address",
        request(transactionData={"transaction": {"to": "0x1234", "data": "0x"}}),
        "transactionData.transaction.to: must be an EVM address (0x and 40 hex digits),"
        " got '0x1234'",
    ),
    (
        "non-hex data",
        request(transactionData={"transaction": {"to": TO, "data": "transfer"}}),
        "transactionData.transaction.data: must be 0x-prefixed hex data, got 'transfer'",
    ),
    (
        "empty transactionData",
        request(transactionData={}),
        "transactionData: needs transaction and/or type",
    ),
    (
        "usdcAmount not an object",
        request(usdcAmount=5),
        "usdcAmount: must be an object, got integer",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_contract_violations_are_rejected_precisely(
    client: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = client.post(PATH, json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message}


def test_unknown_merchant_is_412(client: httpx.Client) -> None:
    response = client.post(PATH, json=request(merchantId="acme"))
    assert response.status_code == 412
    assert response.json() == {"message": "merchantId: merchant 'acme' is not known"}


def test_configured_merchants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MERCHANTS_ENV, "acme, globex")
    sandbox = CoinflowSandbox(SandboxConfig())
    assert sandbox.known_merchant("acme") and sandbox.known_merchant("globex")
    assert not sandbox.known_merchant("merchant_abc123")
    explicit = CoinflowSandbox(SandboxConfig(), merchants={"m1"})
    assert explicit.known_merchant("m1") and not explicit.known_merchant("acme")
