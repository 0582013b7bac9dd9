"""Stripe payment-evaluation sandbox (providers.md §5, seed 004), strict about the contract.

- Auth: HTTP Basic with the secret key as username (empty password) or ``Authorization:
  Bearer <key>``; the accepted key is ``SandboxConfig.api_key`` (default
  ``sk_test_sandbox``, what ``riskrelay dev`` uses). Missing or other → 401.
- Errors: ``{"error": {"type", "code", "message"[, "param"]}}``; ``type`` is
  ``invalid_request_error`` (400/401/404/409/429), ``idempotency_error`` or ``api_error``
  (5xx). ``param`` is in bracket notation (``events[0][refunded][reason]``); messages are
  ``Missing required param: X.``, ``Received unknown parameter: X`` or ``Invalid X: why``.
- Bodies are form-encoded with bracket notation (``sandbox.forms``); anything else → 400.
- ``Stripe-Version`` is optional; when given it must be a date version such as
  ``2026-01-28.preview; payment_evaluations_beta=v1``.
- Rate limit: fixed one-second window, 25 requests/s for ``sk_test_`` keys, 100/s for
  others (``SandboxConfig.rate_limit_per_s`` overrides, 0 = off); beyond → 429 ``rate_limit``
  with ``Retry-After``.
- ``Idempotency-Key`` (1-255 chars, per API key): the first response is stored unless it
  was a 400 (Stripe saves no result when validation fails) and replayed for the same
  method, path and parameters with ``Idempotent-Replayed: true``; other parameters → 400
  ``idempotency_error``; while the first is still running → 409 ``idempotency_key_in_use``.
- ``POST /v1/radar/payment_evaluations`` → a new evaluation (``status: pending_outcome``).
- ``POST /v1/payment_evaluations/{id}/report_events`` → the evaluation with every event
  reported so far; a raised intervention gets a ``key`` that a resolved event must name.
  A request's events are validated as a whole before any is stored.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from http.client import responses
from typing import Any

from aiohttp import hdrs, web

from riskrelay.sandbox import contract as c
from riskrelay.sandbox.contract import Invalid, Obj
from riskrelay.sandbox.faults import WindowLimit
from riskrelay.sandbox.forms import bracket, parse_form
from riskrelay.sandbox.server import CONTROL_PREFIX, Handler, SandboxConfig, build_sandbox_app
from riskrelay.sandbox.server import json_response as _json

DEFAULT_API_KEY = "sk_test_sandbox"
LIVE_RATE_LIMIT = 100
TEST_RATE_LIMIT = 25
MAX_IDEMPOTENCY_KEY = 255
FORM = "application/x-www-form-urlencoded"
EVENT_TYPES = (
    "dispute_opened",
    "early_fraud_warning_received",
    "refunded",
    "user_intervention_raised",
    "user_intervention_resolved",
)
DISPUTE_REASONS = (
    "account_not_available", "credit_not_processed", "customer_initiated", "duplicate",
    "fraudulent", "general", "noncompliant", "product_not_received", "product_unacceptable",
    "subscription_canceled", "unrecognized",
)  # fmt: skip
FRAUD_TYPES = (
    "made_with_lost_card", "made_with_stolen_card", "other", "unauthorized_use_of_card",
)  # fmt: skip
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:\.[a-z]+)?(?:;\s*[a-z0-9_]+=v[0-9]+)*")
_CODES = {"required": "parameter_missing", "unknown field": "parameter_unknown"}

_amount = c.integer_text(c.positive)
_lower_currency = c.iso_currency(lower=True)


def _metadata(value: Any, path: str) -> None:
    """Stripe metadata: at most 50 string values (≤ 500 chars) under keys of ≤ 40 chars;
    ``""`` as the whole value or as a key's value unsets."""
    if value == "":
        return
    c.json_object(value, path)
    if len(value) > 50:
        raise Invalid(path, f"must have at most 50 keys, got {len(value)}")
    for key, item in value.items():
        where = f"{path}[{key}]"
        if len(key) > 40:
            raise Invalid(where, "keys must be at most 40 characters")
        c.string(item, where)
        if len(item) > 500:
            raise Invalid(where, "values must be at most 500 characters")


_SUB_OBJECTS: dict[str, Obj] = {
    "dispute_opened": Obj(
        {
            "amount": _amount,
            "currency": _lower_currency,
            "reason": c.enum(*DISPUTE_REASONS),
        },
        required=("amount", "currency", "reason"),
    ),
    "early_fraud_warning_received": Obj(
        {
            "fraud_type": c.enum(*FRAUD_TYPES),
        },
        required=("fraud_type",),
    ),
    "refunded": Obj(
        {
            "amount": _amount,
            "currency": _lower_currency,
            "reason": c.enum("duplicate", "fraudulent", "other", "requested_by_customer"),
        },
        required=("amount", "currency", "reason"),
    ),
    "user_intervention_raised": Obj(
        {
            "type": c.enum("3ds", "captcha", "custom"),
            "custom": Obj({"type": c.snake_case}, required=("type",)),
        },
        required=("type",),
    ),
    "user_intervention_resolved": Obj(
        {"key": c.nonempty, "outcome": c.enum("abandoned", "failed", "passed")},
        required=("key", "outcome"),
    ),
}
_EVENT = Obj(
    {"occurred_at": c.integer_text(c.non_negative), "type": c.enum(*EVENT_TYPES), **_SUB_OBJECTS},
    required=("occurred_at", "type"),
)
_REPORT = Obj(
    {"events": lambda value, path: None, "metadata": _metadata, "payment_evaluation": c.string},
    required=("events",),
)
_CREATE = Obj(
    {
        "metadata": _metadata,
        "customer_details": Obj(
            {"customer": c.nonempty, "email": c.string, "name": c.string, "phone": c.string},
            open=True,
        ),
        "payment_details": Obj(
            {"amount": _amount, "currency": _lower_currency, "description": c.string}, open=True
        ),
    }
)


def validate_event(event: Any, path: str) -> None:
    """Raise ``Invalid`` unless ``event`` is one valid reported event."""
    c.json_object(event, path)
    kind = event.get("type")
    if kind in EVENT_TYPES:  # the sub-object's presence first, then its contents
        for other in EVENT_TYPES:
            if other != kind and other in event:
                raise Invalid(f"{path}.{other}", f"not allowed when type is {kind!r}")
        if kind not in event:
            raise Invalid(f"{path}.{kind}", f"required when type is {kind!r}")
    _EVENT(event, path)
    raised = event[kind]
    if kind == "user_intervention_raised":
        if raised["type"] == "custom" and "custom" not in raised:
            raise Invalid(f"{path}.{kind}.custom.type", "required when type is 'custom'")
        if raised["type"] != "custom" and "custom" in raised:
            raise Invalid(f"{path}.{kind}.custom", f"not allowed when type is {raised['type']!r}")


def _events(body: dict[str, Any]) -> list[dict[str, Any]]:
    _REPORT(body, "")
    events = body["events"]
    if type(events) is not list or not events:
        raise Invalid("events", "must be a non-empty array of events")
    for index, event in enumerate(events):
        validate_event(event, f"events[{index}]")
    return events


def stripe_error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    error: dict[str, Any] = {"type": kind, "code": code, "message": message}
    if param is not None:
        error["param"] = param
    return {"error": error}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Stripe's shape for injected faults and unmatched routes."""
    if status == 429:
        return stripe_error(429, message, code="rate_limit")
    reason = responses.get(status, "error")
    return stripe_error(status, f"{reason}: {message}" if message != reason else message)


def _fail(status: int, message: str, **fields: str | None) -> web.Response:
    return _json(stripe_error(status, message, **fields), status)


def _invalid(exc: Invalid) -> web.Response:
    param = bracket(exc.path)
    if exc.reason == "required":
        message = f"Missing required param: {param}."
    elif exc.reason == "unknown field":
        message = f"Received unknown parameter: {param}"
    else:
        message = f"Invalid {param}: {exc.reason}"
    code = _CODES.get(exc.reason)
    if code is None and exc.reason.startswith("must be an integer"):
        code = "parameter_invalid_integer"
    return _fail(400, message, code=code, param=None if exc.path == "body" else param)


def _given_key(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def _masked(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)


class StripeSandbox:
    """State and handlers of one Stripe sandbox (evaluations kept in memory)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.api_key = config.api_key or DEFAULT_API_KEY
        self.livemode = not self.api_key.startswith("sk_test_")
        default = LIVE_RATE_LIMIT if self.livemode else TEST_RATE_LIMIT
        limit = default if config.rate_limit_per_s is None else config.rate_limit_per_s
        self.limit = WindowLimit(limit) if limit else None
        self.reset()

    def reset(self) -> None:
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.raised: dict[str, set[str]] = {}
        self.idempotent: dict[tuple[str, str], tuple[Any, int, bytes] | None] = {}

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Auth, ``Stripe-Version``, rate limit, then idempotency, around every route."""
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        response = await self._gated(request, handler)
        response.headers["Request-Id"] = f"req_{secrets.token_hex(7)}"
        return response

    async def _gated(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = _given_key(request)
        if key is None:
            message = (
                "You did not provide an API key. Provide your secret key as the HTTP Basic"
                " username or as 'Authorization: Bearer <key>'."
            )
            return _fail(401, message)
        if key != self.api_key:
            return _fail(401, f"Invalid API Key provided: {_masked(key)}", code="api_key_invalid")
        version = request.headers.get("Stripe-Version")
        if version is not None and not _VERSION.fullmatch(version.strip()):
            message = (
                f"Invalid Stripe-Version header: {version!r} (expected a date version such as"
                " '2026-01-28.preview; payment_evaluations_beta=v1')"
            )
            return _fail(400, message, code="invalid_stripe_version")
        if self.limit is not None:
            headers, over = self.limit.hit()
            if over:
                message = f"Too many requests hit the API too quickly ({self.limit.limit}/s)."
                response = _fail(429, message, code="rate_limit")
                response.headers["Retry-After"] = headers["Retry-After"]
                return response
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is None:
            return await handler(request)
        return await self._idempotent(request, handler, (key, idempotency_key))

    async def _idempotent(
        self, request: web.Request, handler: Handler, slot: tuple[str, str]
    ) -> web.StreamResponse:
        given = slot[1]
        if not 1 <= len(given) <= MAX_IDEMPOTENCY_KEY:
            message = (
                f"Invalid Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} characters,"
                f" got {len(given)}"
            )
            return _fail(400, message, code="idempotency_key_invalid")
        body = await request.read()
        try:
            fingerprint: Any = (request.method, request.path, parse_form(body))
        except Invalid:
            fingerprint = (request.method, request.path, body)
        if slot in self.idempotent:
            stored = self.idempotent[slot]
            if stored is None:
                message = f"Idempotency key {given!r} is in use by a request still in progress."
                return _fail(409, message, code="idempotency_key_in_use")
            first, status, sent = stored
            if first != fingerprint:
                message = (
                    "Keys for idempotent requests can only be used with the same parameters"
                    f" they were first used with. Try using a key other than {given!r} if you"
                    " meant to execute a different request."
                )
                error = stripe_error(400, message)
                error["error"]["type"] = "idempotency_error"
                return _json(error, 400, {"Idempotency-Key": given})
            headers = {"Idempotency-Key": given, "Idempotent-Replayed": "true"}
            return web.Response(
                body=sent, status=status, headers=headers, content_type="application/json"
            )
        self.idempotent[slot] = None
        try:
            response = await handler(request)
        finally:
            del self.idempotent[slot]
        result = response.body if isinstance(response, web.Response) else None
        if response.status != 400 and isinstance(result, bytes):
            self.idempotent[slot] = (fingerprint, response.status, result)
        response.headers["Idempotency-Key"] = given
        return response

    async def _form(self, request: web.Request) -> dict[str, Any]:
        body = await request.read()
        if body and request.content_type != FORM:
            raise Invalid("body", f"Content-Type must be {FORM}, got {request.content_type}")
        return parse_form(body)

    async def create(self, request: web.Request) -> web.Response:
        try:
            params = await self._form(request)
            _CREATE(params, "")
        except Invalid as exc:
            return _invalid(exc)
        evaluation_id = f"peval_{secrets.token_hex(12)}"
        evaluation = {
            "id": evaluation_id,
            "object": "payment_evaluation",
            "created_at": int(time.time()),
            "events": [],
            "livemode": self.livemode,
            "metadata": {},
            "status": "pending_outcome",
        }
        _merge_metadata(evaluation, params.get("metadata"))
        self.evaluations[evaluation_id] = evaluation
        self.raised[evaluation_id] = set()
        return _json(evaluation)

    async def report_events(self, request: web.Request) -> web.Response:
        evaluation_id = request.match_info["evaluation_id"]
        try:
            params = await self._form(request)
            events = _events(params)
            named = params.get("payment_evaluation", evaluation_id)
            if named != evaluation_id:
                raise Invalid("payment_evaluation", f"{named!r} does not match the URL's id")
        except Invalid as exc:
            return _invalid(exc)
        evaluation = self.evaluations.get(evaluation_id)
        if evaluation is None:
            message = f"No such payment_evaluation: '{evaluation_id}'"
            return _fail(404, message, code="resource_missing", param="id")
        raised = self.raised[evaluation_id]
        for index, event in enumerate(events):
            resolved = event.get("user_intervention_resolved")
            if resolved is not None and resolved["key"] not in raised:
                path = f"events[{index}][user_intervention_resolved][key]"
                reason = f"no user intervention {resolved['key']!r} was raised on {evaluation_id}"
                return _invalid(Invalid(path, reason))
        for event in events:
            stored = _stored_event(event)
            if event["type"] == "user_intervention_raised":
                raised.add(stored["user_intervention_raised"]["key"])
            evaluation["events"].append(stored)
        _merge_metadata(evaluation, params.get("metadata"))
        return _json(evaluation)


def _stored_event(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["type"]
    details = dict(event[kind])
    if "amount" in details:
        details["amount"] = int(details["amount"])
    if kind == "user_intervention_raised":
        details = {"key": str(uuid.uuid4()), **details}
    return {"occurred_at": int(event["occurred_at"]), "type": kind, kind: details}


def _merge_metadata(evaluation: dict[str, Any], metadata: Any) -> None:
    if metadata is None:
        return
    if metadata == "":
        evaluation["metadata"] = {}
        return
    for key, value in metadata.items():
        if value == "":
            evaluation["metadata"].pop(key, None)
        else:
            evaluation["metadata"][key] = value


def create_app(config: SandboxConfig) -> web.Application:
    """The Stripe sandbox application (the ``riskrelay.sandbox`` provider entry point)."""
    sandbox = StripeSandbox(config)
    routes = [
        web.post("/v1/radar/payment_evaluations", sandbox.create),
        web.post("/v1/payment_evaluations/{evaluation_id}/report_events", sandbox.report_events),
    ]
    return build_sandbox_app(
        "stripe",
        config,
        routes,
        error_body=error_body,
        middlewares=[sandbox.gate],
        on_reset=sandbox.reset,
    )
