"""Dataspike sandbox (providers.md §4, seed 003), strict about the contract.

Choices where Dataspike documents nothing (keep adapters honest, not lenient):

- Auth: ``ds-api-token`` header; missing or not the accepted key
  (``SandboxConfig.api_key``, default ``sandbox-dataspike-key``) → 401.
- Bodies must be ``Content-Type: application/json``, else 415 Unsupported Media Type
  (checked after auth); a body that is not JSON → 400.
- Errors: ``{"error": "<field path>: <reason>"}`` with 400 (contract), 401, 404 (unknown
  applicant or route), 409 (duplicate ``external_id``), 415 and 429.
- ``null`` is never accepted for an optional field: omit it.
- Rate limits are undocumented: none by default; ``SandboxConfig.rate_limit_per_s`` sets
  a fixed one-second window, 429 with ``Retry-After`` beyond it.
- ``POST /api/v3/applicants`` ``{external_id, email?, phone?, info?}`` → 200 ``{"id":
  uuid4}``. Unknown top-level keys → 400; ``info`` is open (Dataspike's applicant info has
  more fields than modelled) but ``first_name``/``last_name`` must be strings and ``dob``
  a real ``YYYY-MM-DD`` date. An ``external_id`` already registered → 409 ``{"error": ...,
  "id": "<existing applicant id>"}`` so clients can recover their mapping.
- ``POST /api/v3/transmon/payment``: exactly seed 003's fields (unknown keys → 400);
  integers are never floats or booleans, ``checkout_price`` must be a decimal string
  (numbers rejected), ``checkout_card_bin`` exactly 6 digits.
- ``POST /api/v3/transmon/transaction``: the field list is not fully documented, so only
  the known fields are checked (``transaction_type``, ``session_id``, ``channel`` and
  every ``payor_*``/``payee_*`` strings, ``currency_code`` upper-case ISO 4217,
  ``amount`` a decimal string); other keys are accepted and recorded as sent.
- Both transmon routes need ``applicant_id``, a UUID created by this sandbox: not a UUID
  → 400, unknown → 404. Success → 200 ``{"event_id": uuid4}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from riskrelay.sandbox.contract import (
    Check,
    Invalid,
    Obj,
    boolean,
    country,
    decimal_string,
    digits,
    email,
    int_range,
    ip_address,
    iso_currency,
    iso_date,
    nonempty,
    string,
    uuid_string,
)
from riskrelay.sandbox.faults import WindowLimit
from riskrelay.sandbox.server import CONTROL_PREFIX, Handler, SandboxConfig, build_sandbox_app
from riskrelay.sandbox.server import json_response as _json

DEFAULT_API_KEY = "sandbox-dataspike-key"
TOKEN_HEADER = "ds-api-token"

_count = int_range(0)
_score = int_range(0, 100)
APPLICANT = Obj(
    {
        "external_id": nonempty,
        "email": email,
        "phone": string,
        "info": Obj({"first_name": string, "last_name": string, "dob": iso_date}, open=True),
    },
    required=("external_id",),
)
_PAYMENT_STRINGS = (
    "user_agent",
    "user_device_id",
    "user_email_address",
    "user_phone_number",
    "checkout_billing_address",
    "checkout_billing_zip",
    "checkout_shipping_address",
    "checkout_shipping_zip",
)
PAYMENT = Obj(
    {
        "applicant_id": uuid_string,
        "checkout_billing_country": country,
        "user_ip_address": ip_address,
        **dict.fromkeys(_PAYMENT_STRINGS, string),
        "session_duration": _count,
        "user_ds_registration": _count,
        "user_initial_risk_score": _score,
        "user_current_risk_score": _score,
        "checkout_price": decimal_string,
        "checkout_isguest": boolean,
        "checkout_card_bin": digits(6),
    },
    required=("applicant_id", "checkout_billing_country"),
)
_TRANSACTION = Obj(
    {
        "applicant_id": uuid_string,
        "transaction_type": string,
        "currency_code": iso_currency(lower=False),
        "amount": decimal_string,
        "session_id": string,
        "channel": string,
    },
    required=("applicant_id",),
    open=True,
)
_PARTY_PREFIXES = ("payor_", "payee_")


def validate_transaction(body: Any) -> None:
    """Raise ``Invalid`` unless ``body`` is a valid transaction event (open object)."""
    _TRANSACTION(body, "")
    for name, value in body.items():
        if name.startswith(_PARTY_PREFIXES):
            string(value, name)


def error_body(status: int, message: str) -> dict[str, str]:
    return {"error": message}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(error_body(status, message), status, headers)


class DataspikeSandbox:
    """State and handlers of one Dataspike sandbox (applicants kept in memory)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.api_key = config.api_key or DEFAULT_API_KEY
        rate = config.rate_limit_per_s
        self.limit = WindowLimit(rate) if rate else None
        self.reset()

    def reset(self) -> None:
        self.applicants: dict[str, str] = {}  # external_id -> applicant id
        self.applicant_ids: set[str] = set()

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Rate limit (when configured), ``ds-api-token``, then the JSON content type."""
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        if self.limit is not None:
            headers, over = self.limit.hit()
            if over:
                retry = {"Retry-After": headers["Retry-After"]}
                return _error(429, f"rate limit of {self.limit.limit} requests/s exceeded", retry)
        token = request.headers.get(TOKEN_HEADER)
        if token is None:
            return _error(401, f"missing {TOKEN_HEADER} header")
        if token != self.api_key:
            return _error(401, f"{TOKEN_HEADER} is not accepted")
        if request.method == "POST" and request.content_type != "application/json":
            message = f"body: Content-Type must be application/json, got {request.content_type}"
            return _error(415, message)
        return await handler(request)

    async def _body(self, request: web.Request, check: Check) -> Any:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise Invalid("body", "not valid JSON") from None
        check(body, "")
        return body

    async def create_applicant(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request, APPLICANT)
        except Invalid as exc:
            return _error(400, str(exc))
        external_id: str = body["external_id"]
        existing = self.applicants.get(external_id)
        if existing is not None:
            message = f"external_id: {external_id!r} is already registered"
            return _json({**error_body(409, message), "id": existing}, 409)
        applicant_id = str(uuid.uuid4())
        self.applicants[external_id] = applicant_id
        self.applicant_ids.add(applicant_id)
        return _json({"id": applicant_id})

    async def _event(self, request: web.Request, check: Check) -> web.Response:
        try:
            body = await self._body(request, check)
        except Invalid as exc:
            return _error(400, str(exc))
        applicant_id: str = body["applicant_id"].lower()
        if applicant_id not in self.applicant_ids:
            return _error(404, f"applicant_id: applicant {applicant_id!r} does not exist")
        return _json({"event_id": str(uuid.uuid4())})

    async def payment(self, request: web.Request) -> web.Response:
        return await self._event(request, PAYMENT)

    async def transaction(self, request: web.Request) -> web.Response:
        return await self._event(request, lambda body, path: validate_transaction(body))


def create_app(config: SandboxConfig) -> web.Application:
    """The Dataspike sandbox application (the ``riskrelay.sandbox`` provider entry point)."""
    sandbox = DataspikeSandbox(config)
    routes = [
        web.post("/api/v3/applicants", sandbox.create_applicant),
        web.post("/api/v3/transmon/payment", sandbox.payment),
        web.post("/api/v3/transmon/transaction", sandbox.transaction),
    ]
    return build_sandbox_app(
        "dataspike",
        config,
        routes,
        error_body=error_body,
        middlewares=[sandbox.gate],
        on_reset=sandbox.reset,
    )
