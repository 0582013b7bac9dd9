"""``GET /v1/events/{event_id}``: its answer, and the ASGI fast path that serves it.

Reads are the API's hot path (the target is 5,000 GET/s on one core). Profiled under the
bench's load, FastAPI's dependency solving and parameter validation cost about as much
per request as the read itself, and the middleware and routing around them as much
again. ``FastReads`` therefore answers these GETs as a plain ASGI middleware, placed
inside the app's server-error handler (an exception still becomes the documented 500)
and ahead of everything else, making the documented route's checks in the documented
route's order: the key (401/403), the id (422, pydantic's messages for the route's own
constraints), readiness (503), then the view. The route stays in the OpenAPI document
and answers the same through FastAPI when the fast path is off
(``create_app(fast_reads=False)``), which the tests compare the fast path against.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Protocol

import orjson
from fastapi import Path
from pydantic import TypeAdapter, ValidationError
from starlette import types as asgi

from riskrelay.api.accepted import AcceptedOverlay
from riskrelay.api.auth import API_KEY_HEADER, ApiKeys, AuthError, Scope, authorize, presented_key
from riskrelay.api.ingest import ID_PATTERN
from riskrelay.api.responses import JSON, invalid_body, problem_body, www_authenticate
from riskrelay.models import AvroRecord
from riskrelay.normalize.common import MAX_ID_LENGTH
from riskrelay.state.snapshot import public_view

log = logging.getLogger(__name__)

EVENTS_PREFIX = "/v1/events/"

EventId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description="The event id (URL-encoded; may contain '/').",
    ),
]

# (status, JSON body, extra headers)
Answer = tuple[int, dict[str, Any], dict[str, str] | None]


class View(Protocol):
    ready: threading.Event

    def get(self, event_id: str) -> AvroRecord | None: ...


def _locked(event_id: str, pending_version: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "status": "locked",
        "pending_version": pending_version,
        "message": "the event's first version is not fully processed yet; retry later",
    }


class EventReader:
    """What a GET answers for an id that passed the key and id checks: 503 while the
    view catches up, 404, 423 or 200 from the view merged with this process's accepted
    writes (read-your-writes)."""

    def __init__(self, view: View, overlay: AcceptedOverlay, retry_after_s: int) -> None:
        self._view = view
        self._overlay = overlay
        self._retry_after = {"Retry-After": str(retry_after_s)}

    def answer(self, event_id: str) -> Answer:
        if not self._view.ready.is_set():
            message = "catching up with the state topic; retry"
            return 503, problem_body(503, message), self._retry_after
        state = self._view.get(event_id)
        entry = self._overlay.get(event_id, state)
        if state is None:
            if entry is None:
                return 404, problem_body(404, "no such event", event_id=event_id), None
            return 423, _locked(event_id, 1), self._retry_after
        status, body = public_view(state)
        if status == 200 and entry is not None:
            body["update_pending"] = True
            body["pending_version"] = max(body["pending_version"] or 0, entry.expected_version)
        return status, body, self._retry_after if status == 423 else None


_ID = TypeAdapter(EventId)
_KEY_HEADER = API_KEY_HEADER.lower().encode("latin-1")
_JSON_TYPE = (b"content-type", JSON.encode("latin-1"))


class FastReads:
    """ASGI middleware answering ``GET /v1/events/{event_id}``; anything else goes on to
    ``app``. Same answers as the documented route, bytes for bytes (headers included)."""

    def __init__(self, app: asgi.ASGIApp, reader: EventReader, keys: ApiKeys) -> None:
        self._app = app
        self._reader = reader
        self._keys = keys

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("root_path")  # left to the router, which knows what to strip
            or not scope["path"].startswith(EVENTS_PREFIX)
        ):
            await self._app(scope, receive, send)
            return
        status, body, headers = self._answer(scope)
        payload = orjson.dumps(body)
        # What Starlette's Response would send: the given headers, then length and type.
        extra = headers or {}
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        raw.append((b"content-length", str(len(payload)).encode("latin-1")))
        raw.append(_JSON_TYPE)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, scope: asgi.Scope) -> Answer:
        header_key = authorization = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers
            if name == _KEY_HEADER and header_key is None:
                header_key = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        try:
            authorize(self._keys, Scope.READ, presented_key(header_key, authorization))
        except AuthError as exc:
            return exc.status, problem_body(exc.status, exc.message), www_authenticate(exc.status)
        event_id: str = scope["path"][len(EVENTS_PREFIX) :]
        try:
            _ID.validate_python(event_id)
        except ValidationError as exc:
            errors = [{**e, "loc": ("path", "event_id", *e["loc"])} for e in exc.errors()]
            return 422, invalid_body(errors), None
        return self._reader.answer(event_id)
