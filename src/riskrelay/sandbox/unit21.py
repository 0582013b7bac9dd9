"""Unit21 Events API sandbox (providers.md §3, seed 002), strict about the contract.

Choices where Unit21 documents nothing (keep adapters honest, not lenient):

- Auth: ``u21-key`` header. Missing → 401 ``unauthorized``; present but not the accepted
  key (``SandboxConfig.api_key``, default ``sandbox-unit21-key``) → 403 ``forbidden``.
- Every provider response carries ``X-RateLimit-Limit/-Remaining/-Reset`` (fixed
  one-second window, default 200 requests/s); beyond it → 429 with ``Retry-After``.
- Bodies must be ``application/json``. Unknown keys are rejected at the top level and in
  ``general_data``, ``*_data`` and ``location_data`` (``options`` and ``custom_data`` are
  open). ``null`` is never accepted for an optional field: omit it. ``event_time`` must be
  an integer between 2000-01-01 and 2100-01-01 (catches milliseconds). Currencies are
  3-10 alphanumerics in either case (Unit21's own examples are lower case).
- Errors: ``{"error_code": ..., "message": "<field path>: <reason>"}``; codes
  ``invalid_input`` 400, ``rate_limited`` 429, else the snake-cased HTTP reason
  (``unauthorized``, ``forbidden``, ``not_found``, ``conflict``, ``locked``,
  ``internal_server_error``, ``service_unavailable``).
- ``POST /v1/events/create`` with one event → 200 ``{event_id, unit21_id,
  previously_existed}`` or 409. With ``{"events": [...]}`` (1-250, validated as a whole:
  one invalid item → 400 naming ``events[i]``) → 200 ``{"events": [...]}`` with one
  result per item in order: the single-event body plus ``"status": 200``, or
  ``{"event_id", "status": 409, "error_code": "conflict", "message"}``. Items are stored
  in order, so a repeated id in one batch conflicts unless it asks for an upsert.
- ``PUT /v1/events/{id}/update`` replaces the whole event (same validation; the body's
  ``general_data.event_id`` may be omitted but must match when given); unknown id → 404.
- ``GET /v1/events/{id}`` and ``GET /v1/{org}/events/{id}``: the event as last sent and
  processed. A new event is 423 (with ``Retry-After``) until ``processing_delay_s`` has
  passed; after an upsert or update the old version is served until then.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.client import responses
from typing import Any

from aiohttp import web

from riskrelay.sandbox.contract import (
    Check,
    Invalid,
    Obj,
    read_json,
)
from riskrelay.sandbox.contract import (
    boolean as _boolean,
)
from riskrelay.sandbox.contract import (
    country as _country,
)
from riskrelay.sandbox.contract import (
    currency as _currency,
)
from riskrelay.sandbox.contract import (
    enum as _enum,
)
from riskrelay.sandbox.contract import (
    ip_address as _ip,
)
from riskrelay.sandbox.contract import (
    json_object as _object,
)
from riskrelay.sandbox.contract import (
    kind as _kind,
)
from riskrelay.sandbox.contract import (
    non_negative as _amount,
)
from riskrelay.sandbox.contract import (
    nonempty as _nonempty,
)
from riskrelay.sandbox.contract import (
    positive as _rate,
)
from riskrelay.sandbox.contract import (
    shown as _shown,
)
from riskrelay.sandbox.contract import (
    string as _string,
)
from riskrelay.sandbox.contract import (
    strings as _strings,
)
from riskrelay.sandbox.faults import WindowLimit
from riskrelay.sandbox.recorder import EVENTS_KEY
from riskrelay.sandbox.server import CONTROL_PREFIX, Handler, SandboxConfig, build_sandbox_app
from riskrelay.sandbox.server import json_response as _json

DEFAULT_API_KEY = "sandbox-unit21-key"
DEFAULT_RATE_LIMIT = 200
MAX_BATCH = 250
_EVENT_TIME_RANGE = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01 UTC
_IDS = ("sender_entity_id", "sender_instrument_id", "receiver_entity_id", "receiver_instrument_id")
_ACTION_TYPES = (
    "SIGNUP", "LOGIN", "LOGOUT", "BLOCK", "CLOSE", "ACTIVATE", "FORGOT_PASSWORD",
    "PASSWORD_RESET", "PROMO_CODE_USE", "PROFILE_CHANGE",
)  # fmt: skip
_ERROR_CODES = {400: "invalid_input", 429: "rate_limited"}  # else the snake-cased reason


def _epoch(value: Any, path: str) -> None:
    if type(value) is not int:
        raise Invalid(path, f"must be an integer (epoch seconds), got {_kind(value)}")
    low, high = _EVENT_TIME_RANGE
    if not low <= value < high:
        raise Invalid(path, f"must be epoch seconds between {low} and {high}, got {value}")


def _verified_on(value: Any, path: str) -> None:
    if type(value) is int:
        _epoch(value, path)
    elif type(value) is not str:
        raise Invalid(path, f"must be epoch seconds or a date string, got {_kind(value)}")


def _tags(value: Any, path: str) -> None:
    _strings(value, path)
    for index, tag in enumerate(value):
        key, colon, rest = tag.partition(":")
        if not colon or not key.strip() or not rest.strip():
            raise Invalid(f"{path}[{index}]", f"must be 'key:value', got {_shown(tag)}")


_entity_type = _enum("user", "business")
_GENERAL_FIELDS: dict[str, Check] = {
    "event_id": _nonempty,
    "event_type": _enum("transaction", "action"),
    "event_time": _epoch,
    "event_subtype": _string,
    "status": _string,
    "parents": _strings,
    "tags": _tags,
}
_TRANSACTION = Obj(
    {
        "amount": _amount,
        "sent_amount": _amount,
        "received_amount": _amount,
        "sent_currency": _currency,
        "received_currency": _currency,
        **dict.fromkeys(_IDS, _nonempty),
        "sender_entity_type": _entity_type,
        "receiver_entity_type": _entity_type,
        "exchange_rate": _rate,
        "internal_fee": _amount,
        "external_fee": _amount,
        "transaction_hash": _string,
    },
    required=("amount",),
)
_ACTION = Obj(
    {
        "entity_id": _nonempty,
        "entity_type": _entity_type,
        "action_type": _enum(*_ACTION_TYPES),
        "action_details": _string,
        "instrument_id": _nonempty,
    },
    required=("entity_id", "entity_type"),
)
_LOCATION_TEXT = ("type", "building_number", "unit_number", "street_name", "city", "state")
_REST: dict[str, Check] = {
    "transaction_data": _TRANSACTION,
    "action_data": _ACTION,
    "digital_data": Obj({"ip_address": _ip, "client_fingerprint": _string}),
    "location_data": Obj(
        {
            **dict.fromkeys((*_LOCATION_TEXT, "postal_code"), _string),
            "country": _country,
            "verified_on": _verified_on,
        }
    ),
    "custom_data": _object,
    "options": Obj(
        {
            "upsert_on_conflict": _boolean,
            "resolve_geoip": _boolean,
            "merge_custom_data": _boolean,
            "list_merge_strategy": _string,
            "monitor": _boolean,
        },
        open=True,
    ),
}
_CREATE = Obj(
    {"general_data": Obj(_GENERAL_FIELDS, ("event_id", "event_type", "event_time")), **_REST},
    required=("general_data",),
)
_UPDATE = Obj(
    {"general_data": Obj(_GENERAL_FIELDS, ("event_type", "event_time")), **_REST},
    required=("general_data",),
)


def validate_event(event: Any, path: str = "", *, update: bool = False) -> None:
    """Raise ``Invalid`` unless ``event`` is one valid Unit21 event (create or update)."""
    (_UPDATE if update else _CREATE)(event, path)
    prefix = f"{path}." if path else ""
    event_type = event["general_data"]["event_type"]
    if "transaction_data" in event and "action_data" in event:
        raise Invalid(prefix + "action_data", "not allowed together with transaction_data")
    block = f"{event_type}_data"
    other = "action_data" if event_type == "transaction" else "transaction_data"
    if other in event:
        raise Invalid(prefix + other, f"not allowed when general_data.event_type is {event_type!r}")
    if block not in event:
        raise Invalid(prefix + block, f"required when general_data.event_type is {event_type!r}")
    if block == "transaction_data" and not any(key in event[block] for key in _IDS):
        raise Invalid(prefix + block, f"at least one of {', '.join(_IDS)} is required")


def validate_create(body: Any) -> list[dict[str, Any]]:
    """The events of a create body (one event or an ``events`` batch), all valid."""
    if type(body) is dict and "events" in body:
        for name in body:
            if name != "events":
                raise Invalid(name, "unknown field in a batch body (only 'events')")
        events = body["events"]
        if type(events) is not list:
            raise Invalid("events", f"must be an array, got {_kind(events)}")
        if not 1 <= len(events) <= MAX_BATCH:
            raise Invalid("events", f"must hold 1 to {MAX_BATCH} events, got {len(events)}")
        for index, event in enumerate(events):
            validate_event(event, f"events[{index}]")
        return events
    validate_event(body)
    return [body]


def error_body(status: int, message: str) -> dict[str, str]:
    code = _ERROR_CODES.get(status) or responses.get(status, "error").lower().replace(" ", "_")
    return {"error_code": code, "message": message}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(error_body(status, message), status, headers)


@dataclass(slots=True)
class StoredEvent:
    """An event's processed (visible) version and the one still being processed."""

    unit21_id: str
    visible: dict[str, Any] | None
    pending: dict[str, Any] | None
    ready_at: float

    def settle(self, now: float) -> None:
        if self.pending is not None and now >= self.ready_at:
            self.visible, self.pending = self.pending, None


def _accepted(event_id: str, stored: StoredEvent, *, existed: bool) -> dict[str, Any]:
    return {"event_id": event_id, "unit21_id": stored.unit21_id, "previously_existed": existed}


class Unit21Sandbox:
    """State and handlers of one Unit21 sandbox (events kept in memory)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.api_key = config.api_key or DEFAULT_API_KEY
        self.delay_s = config.processing_delay_s
        limit = DEFAULT_RATE_LIMIT if config.rate_limit_per_s is None else config.rate_limit_per_s
        self.limit = WindowLimit(limit) if limit else None
        self.reset()

    def reset(self) -> None:
        self.events: dict[str, StoredEvent] = {}
        self._ids = itertools.count(1)

    @web.middleware
    async def limit_and_auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Fixed-window rate limit with Unit21's headers, then the ``u21-key`` check."""
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        headers: dict[str, str] = {}
        if self.limit is not None:
            headers, over = self.limit.hit()
            if over:
                message = f"rate limit of {self.limit.limit} requests/s exceeded"
                return _error(429, message, headers)
        key = request.headers.get("u21-key")
        if key is None:
            return _error(401, "missing u21-key header", headers)
        if key != self.api_key:
            return _error(403, "u21-key is not accepted", headers)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    def _store(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        event_id: str = event["general_data"]["event_id"]
        now = time.monotonic()
        stored = self.events.get(event_id)
        if stored is None:
            stored = StoredEvent(str(next(self._ids)), None, event, now + self.delay_s)
            stored.settle(now)
            self.events[event_id] = stored
            return 200, _accepted(event_id, stored, existed=False)
        if event.get("options", {}).get("upsert_on_conflict") is not True:
            message = (
                f"event {event_id!r} already exists (set options.upsert_on_conflict to update it)"
            )
            return 409, {"event_id": event_id, **error_body(409, message)}
        self._replace(stored, event, now)
        return 200, _accepted(event_id, stored, existed=True)

    def _replace(self, stored: StoredEvent, event: dict[str, Any], now: float) -> None:
        stored.settle(now)
        stored.pending, stored.ready_at = event, now + self.delay_s
        stored.settle(now)

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await read_json(request)
            events = validate_create(body)
        except Invalid as exc:
            return _error(400, str(exc))
        if type(body) is dict and "events" in body:
            request[EVENTS_KEY] = len(events)
            results = []
            for event in events:
                status, result = self._store(event)
                results.append({**result, "status": status})
            return _json({"events": results})
        status, result = self._store(events[0])
        return _json(result, status)

    async def update(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        try:
            event = await read_json(request)
            validate_event(event, update=True)
            given = event["general_data"].get("event_id", event_id)
            if given != event_id:
                raise Invalid(
                    "general_data.event_id", f"{given!r} does not match the path's {event_id!r}"
                )
        except Invalid as exc:
            return _error(400, str(exc))
        stored = self.events.get(event_id)
        if stored is None:
            return _error(404, f"event {event_id!r} does not exist")
        event["general_data"]["event_id"] = event_id
        self._replace(stored, event, time.monotonic())
        return _json(_accepted(event_id, stored, existed=True))

    async def get(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        stored = self.events.get(event_id)
        if stored is None:
            return _error(404, f"event {event_id!r} does not exist")
        now = time.monotonic()
        stored.settle(now)
        if stored.visible is None:
            retry = {"Retry-After": str(max(1, math.ceil(stored.ready_at - now)))}
            return _error(423, f"event {event_id!r} is still being processed", retry)
        return _json(stored.visible)


def per_event(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded requests (``GET /_sandbox/requests``) with each batch create expanded
    into one record per event it carried: the item as ``json`` and that item's own
    result's status as ``status`` (the batch's, when refused as a whole), plus
    ``batch``: how many events its request carried. What Unit21 received per event."""
    expanded: list[dict[str, Any]] = []
    for record in records:
        body = record.get("json")
        items = body.get("events") if type(body) is dict else None
        if type(items) is not list:
            expanded.append(record)
            continue
        response = record.get("response")
        results = response.get("events") if type(response) is dict else None
        for index, item in enumerate(items):
            status = record["status"]
            if type(results) is list and index < len(results):
                status = results[index].get("status", status)
            expanded.append({**record, "json": item, "status": status, "batch": len(items)})
    return expanded


def create_app(config: SandboxConfig) -> web.Application:
    """The Unit21 sandbox application (the ``riskrelay.sandbox`` provider entry point)."""
    sandbox = Unit21Sandbox(config)
    routes = [
        web.post("/v1/events/create", sandbox.create),
        web.put("/v1/events/{event_id}/update", sandbox.update),
        web.get("/v1/events/{event_id}", sandbox.get),
        web.get("/v1/{org}/events/{event_id}", sandbox.get),
    ]
    return build_sandbox_app(
        "unit21",
        config,
        routes,
        error_body=error_body,
        middlewares=[sandbox.limit_and_auth],
        on_reset=sandbox.reset,
    )
