"""FastAPI application factory.

FastAPI because the API's contract is its OpenAPI document: request and response models
generate it, and invalid input is answered with precise 4xx messages by the same models.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from riskrelay.state.snapshot import public_view
from riskrelay.state.view import StateView


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """orjson-encoded JSON: the read path is hot, and orjson handles datetimes."""
    return Response(
        orjson.dumps(body), status_code=status_code, headers=headers, media_type="application/json"
    )


def create_app(view: StateView, retry_after_s: int = 1) -> FastAPI:
    registry = CollectorRegistry()
    Gauge(
        "riskrelay_api_view_events", "Events in the API's state view", registry=registry
    ).set_function(lambda: len(view))
    Gauge(
        "riskrelay_api_view_ready",
        "1 once the view caught up with the state topic",
        registry=registry,
    ).set_function(lambda: 1 if view.ready.is_set() else 0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        view.start()
        try:
            yield
        finally:
            view.stop()

    app = FastAPI(
        title="riskrelay",
        version="1",
        lifespan=lifespan,
    )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        if view.ready.is_set():
            return json_response({"status": "ready", "events": len(view)})
        return json_response({"status": "catching up with the state topic"}, 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/events/{event_id}",
        tags=["events"],
        responses={404: {"description": "never accepted"}, 423: {"description": "locked"}},
    )
    async def get_event(event_id: str) -> Response:
        state = view.get(event_id)
        if state is None:
            return json_response(
                {"event_id": event_id, "status": "not_found", "message": "no such event"}, 404
            )
        status, body = public_view(state)
        headers = {"Retry-After": str(retry_after_s)} if status == 423 else None
        return json_response(body, status, headers)

    return app
