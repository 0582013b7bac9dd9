"""Coinflow sandbox (providers.md §1-2, seeds 000 and 001), strict about the contract.

Choices where Coinflow documents nothing (keep adapters honest, not lenient):

- Errors: Coinflow documents no error body; this sandbox answers ``{"message": "<field
  path>: <reason>"}`` with 400 (contract), 401 (auth), 412 (credits message cannot be
  authorized), 429 (rate limit, with ``Retry-After``) and 404/405 for unknown routes.
- Bodies must be ``application/json`` (else 400) and ``null`` is never accepted for an
  optional field: omit it. Unknown keys are rejected everywhere except inside
  ``transactionData`` (Coinflow's EVM transaction union is larger than this sandbox models).
- Rate limit: the older docs' 100 requests/minute, one fixed 60 s window over every
  provider route, 429 with ``Retry-After`` beyond it. ``SandboxConfig.rate_limit_per_s``
  replaces it with a per-second window (``0`` switches it off).
- ``POST /api/events``: ``Authorization: <merchant key>`` (``SandboxConfig.api_key``,
  default ``sandbox-coinflow-key``). Missing, ``Bearer ...`` or another key → 401. The body
  is one event discriminated by ``eventType``; ``BuyerChallenge`` is undocumented by
  Coinflow, riskrelay defines ``{customerId, challengeType, outcome}`` (see the enums
  below). Success → 200 ``{}``.
- ``POST /api/redeem/evm/creditsAuthMsg``: end-user auth, never the merchant key: both
  ``x-coinflow-auth-wallet`` and ``x-coinflow-auth-blockchain``, or
  ``x-coinflow-auth-session-key``; else 401. ``subtotal`` is ``{cents, currency}`` or
  ``{cents}`` (USD) or a token subtotal ``{address, amount, decimals?}`` priced 1:1 in USD
  (a USDC-like token); ``transactionData`` needs ``transaction: {to, data?}`` and/or
  ``type``. A ``merchantId`` the sandbox does not know → 412 Precondition Failed. Known
  merchants: ids starting with ``merchant_``, or exactly the comma-separated ids in
  ``RISKRELAY_SANDBOX_COINFLOW_MERCHANTS`` (or ``create_app(..., merchants=...)``).
  The answer is seed 001's shape: an EIP-712 ``CreditsAuthorization`` typed-data JSON
  string (domain ``Coinflow``/``1``, chain id 1, the seed's verifying contract), a fresh
  nonce, ``validBefore`` = now + 300 s, and ``creditsRawAmount`` = subtotal in currency
  units plus a flat 0.25 gas estimate when a transaction is to be executed.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from riskrelay.sandbox.contract import (
    Check,
    Invalid,
    Obj,
    country,
    email,
    enum,
    evm_address,
    hex_data,
    int_range,
    iso_currency,
    json_object,
    kind,
    nonempty,
    read_json,
    string,
)
from riskrelay.sandbox.contract import decimal_string as _decimal
from riskrelay.sandbox.faults import WindowLimit
from riskrelay.sandbox.server import CONTROL_PREFIX, Handler, SandboxConfig, build_sandbox_app
from riskrelay.sandbox.server import json_response as _json

DEFAULT_API_KEY = "sandbox-coinflow-key"
DEFAULT_RATE_LIMIT_PER_MIN = 100
MERCHANT_PREFIX = "merchant_"
MERCHANTS_ENV = "RISKRELAY_SANDBOX_COINFLOW_MERCHANTS"
VALID_FOR_S = 300
GAS_ESTIMATE = 0.25
CHAIN_ID = 1
VERIFYING_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHALLENGE_TYPES = ("EMAIL_LINK", "SMS_2FA", "TOTP", "KYC", "CAPTCHA", "THREE_DS", "OTHER")
CHALLENGE_OUTCOMES = ("PASSED", "FAILED", "ABANDONED", "PENDING")

_EVENT_TYPE = "eventType"
_SIGN_IN: dict[str, Check] = {
    _EVENT_TYPE: string,
    "customerId": nonempty,
    "country": country,
    "email": email,
}
EVENTS: Mapping[str, Obj] = {
    "SignUp": Obj(
        {**_SIGN_IN, "username": string, "firstName": string, "lastName": string},
        required=("customerId",),
    ),
    "SignIn": Obj(_SIGN_IN, required=("customerId",)),
    "SignInFailure": Obj(_SIGN_IN, required=("customerId",)),
    "BuyerChallenge": Obj(
        {
            _EVENT_TYPE: string,
            "customerId": nonempty,
            "challengeType": enum(*CHALLENGE_TYPES),
            "outcome": enum(*CHALLENGE_OUTCOMES),
        },
        required=("customerId", "challengeType", "outcome"),
    ),
}
_event_type = enum(*EVENTS)

_CENTS = Obj({"cents": int_range(0), "currency": iso_currency(lower=False)}, required=("cents",))
_TOKEN = Obj(
    {"address": evm_address, "amount": _decimal, "decimals": int_range(0, 36)},
    required=("address", "amount"),
)
_TRANSACTION_DATA = Obj(
    {
        "transaction": Obj({"to": evm_address, "data": hex_data}, required=("to",)),
        "type": nonempty,
    },
    open=True,
)
_CREDITS = Obj(
    {
        "merchantId": nonempty,
        "subtotal": lambda value, path: _subtotal(value, path),
        "transactionData": _TRANSACTION_DATA,
        "usdcAmount": json_object,
    },
    required=("merchantId", "subtotal", "transactionData"),
)


def validate_event(body: Any) -> str:
    """Raise ``Invalid`` unless ``body`` is one valid event; returns its ``eventType``."""
    if type(body) is not dict:
        raise Invalid("body", f"must be an object, got {kind(body)}")
    if _EVENT_TYPE not in body:
        raise Invalid(_EVENT_TYPE, "required")
    event_type: str = body[_EVENT_TYPE]
    _event_type(event_type, _EVENT_TYPE)
    EVENTS[event_type](body, "")
    return event_type


def _subtotal(value: Any, path: str) -> None:
    if type(value) is dict and ("address" in value or "amount" in value):
        _TOKEN(value, path)
    else:
        _CENTS(value, path)


def validate_credits_request(body: Any) -> None:
    """Raise ``Invalid`` unless ``body`` is a valid credits authorization request."""
    _CREDITS(body, "")
    data = body["transactionData"]
    if "transaction" not in data and "type" not in data:
        raise Invalid("transactionData", "needs transaction and/or type")


def error_body(status: int, message: str) -> dict[str, str]:
    return {"message": message}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(error_body(status, message), status, headers)


class MinuteLimit:
    """Fixed 60 s window (Coinflow's documented unit); ``hit()`` like ``WindowLimit``'s."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = 0
        self._used = 0

    def hit(self) -> tuple[dict[str, str], bool]:
        now = time.time()
        window = int(now // 60)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += 1
        if self._used <= self.limit:
            return {}, False
        return {"Retry-After": str(max(1, math.ceil((window + 1) * 60 - now)))}, True


def _known_merchants(merchants: Collection[str] | None) -> Callable[[str], bool]:
    if merchants is None:
        listed = os.environ.get(MERCHANTS_ENV, "").strip()
        merchants = {part.strip() for part in listed.split(",") if part.strip()} or None
    if merchants is None:
        return lambda merchant_id: merchant_id.startswith(MERCHANT_PREFIX)
    return frozenset(merchants).__contains__


def _cents(subtotal: dict[str, Any]) -> tuple[int, str]:
    if "cents" in subtotal:
        return subtotal["cents"], subtotal.get("currency", "USD")
    return int((Decimal(subtotal["amount"]) * 100).to_integral_value()), "USD"


def typed_data(merchant_id: str, cents: int, currency: str, nonce: str, valid_before: int) -> Any:
    """The EIP-712 ``CreditsAuthorization`` typed data (seed 001's layout)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "CreditsAuthorization": [
                {"name": "merchantId", "type": "string"},
                {"name": "subtotalCents", "type": "uint256"},
                {"name": "subtotalCurrency", "type": "string"},
                {"name": "nonce", "type": "string"},
                {"name": "validBefore", "type": "uint256"},
            ],
        },
        "primaryType": "CreditsAuthorization",
        "domain": {
            "name": "Coinflow",
            "version": "1",
            "chainId": CHAIN_ID,
            "verifyingContract": VERIFYING_CONTRACT,
        },
        "message": {
            "merchantId": merchant_id,
            "subtotalCents": cents,
            "subtotalCurrency": currency,
            "nonce": nonce,
            "validBefore": valid_before,
        },
    }


class CoinflowSandbox:
    """State and handlers of one Coinflow sandbox."""

    def __init__(self, config: SandboxConfig, merchants: Collection[str] | None = None) -> None:
        self.api_key = config.api_key or DEFAULT_API_KEY
        self.limit: WindowLimit | MinuteLimit | None
        if config.rate_limit_per_s is None:
            self.limit = MinuteLimit(DEFAULT_RATE_LIMIT_PER_MIN)
        else:
            self.limit = WindowLimit(config.rate_limit_per_s) if config.rate_limit_per_s else None
        self.known_merchant = _known_merchants(merchants)

    @web.middleware
    async def rate_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX) or self.limit is None:
            return await handler(request)
        headers, over = self.limit.hit()
        if over:
            retry = {"Retry-After": headers["Retry-After"]}
            return _error(429, "rate limit exceeded", retry)
        return await handler(request)

    def _merchant_auth(self, request: web.Request) -> str | None:
        key = request.headers.get("Authorization")
        if key is None:
            return "missing Authorization header (the merchant API key)"
        if key.lower().startswith("bearer "):
            return "Authorization must be the raw merchant API key, without 'Bearer '"
        if key != self.api_key:
            return "Authorization key is not accepted"
        return None

    async def event(self, request: web.Request) -> web.Response:
        problem = self._merchant_auth(request)
        if problem is not None:
            return _error(401, problem)
        try:
            validate_event(await read_json(request))
        except Invalid as exc:
            return _error(400, str(exc))
        return _json({})

    async def credits_auth_msg(self, request: web.Request) -> web.Response:
        headers = request.headers
        wallet = "x-coinflow-auth-wallet" in headers
        chain = "x-coinflow-auth-blockchain" in headers
        if wallet != chain:
            missing = "x-coinflow-auth-blockchain" if wallet else "x-coinflow-auth-wallet"
            return _error(401, f"{missing} is required with the other wallet auth header")
        if not wallet and "x-coinflow-auth-session-key" not in headers:
            return _error(
                401,
                "missing end-user auth: x-coinflow-auth-wallet and x-coinflow-auth-blockchain,"
                " or x-coinflow-auth-session-key",
            )
        try:
            body = await read_json(request)
            validate_credits_request(body)
        except Invalid as exc:
            return _error(400, str(exc))
        merchant_id: str = body["merchantId"]
        if not self.known_merchant(merchant_id):
            return _error(412, f"merchantId: merchant {merchant_id!r} is not known")
        cents, currency = _cents(body["subtotal"])
        nonce = uuid.uuid4().hex
        valid_before = int(time.time()) + VALID_FOR_S
        message = typed_data(merchant_id, cents, currency, nonce, valid_before)
        gas = GAS_ESTIMATE if "transaction" in body["transactionData"] else 0.0
        return _json(
            {
                "message": orjson.dumps(message).decode(),
                "validBefore": str(valid_before),
                "nonce": nonce,
                "creditsRawAmount": round(cents / 100 + gas, 2),
            }
        )


def create_app(
    config: SandboxConfig, *, merchants: Collection[str] | None = None
) -> web.Application:
    """The Coinflow sandbox application (the ``riskrelay.sandbox`` provider entry point)."""
    sandbox = CoinflowSandbox(config, merchants)
    routes = [
        web.post("/api/events", sandbox.event),
        web.post("/api/redeem/evm/creditsAuthMsg", sandbox.credits_auth_msg),
    ]
    return build_sandbox_app(
        "coinflow", config, routes, error_body=error_body, middlewares=[sandbox.rate_limit]
    )
