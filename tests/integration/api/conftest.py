"""The API as ``riskrelay api`` builds it (``build_app``: keys, state view, Kafka
publisher), served by uvicorn on a free port, on this test's broker namespace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from pydantic import SecretStr

from riskrelay.api.server import build_app
from riskrelay.kafka.embedded import free_port
from riskrelay.settings import ApiSettings, Settings

INGEST_KEY = "it-ingest-secret-0123456789"
READ_KEY = "it-read-secret-0123456789ab"
KEYS = f"svc:ingest+read:{INGEST_KEY},dash:read:{READ_KEY}"
HEADERS = {"X-API-Key": INGEST_KEY}


class IngestApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.app = build_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self.client = httpx.Client(base_url=self.url, headers=HEADERS, timeout=30)
        self._schema: schemathesis.BaseSchema | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> IngestApi:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started or self.client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "API did not become ready"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def _documented(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        """Every answer the flow tests see must match the OpenAPI document too."""
        if self._schema is None:
            self._schema = schemathesis.openapi.from_dict(self.app.openapi())
        self._schema[path][method].validate_response(response)
        return response

    def get(self, event_id: str) -> httpx.Response:
        response = self.client.get(f"/v1/events/{event_id}")
        return self._documented("GET", "/v1/events/{event_id}", response)

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return self._documented("POST", "/v1/events", self.client.post("/v1/events", json=body))

    def put(self, event_id: str, body: dict[str, Any]) -> httpx.Response:
        response = self.client.put(f"/v1/events/{event_id}", json=body)
        return self._documented("PUT", "/v1/events/{event_id}", response)


def api_settings(settings: Settings, **api: Any) -> Settings:
    return settings.model_copy(update={"api": ApiSettings(keys=SecretStr(KEYS), **api)})


@pytest.fixture
def ingest_api(pipeline_settings: Settings) -> Iterator[IngestApi]:
    server = IngestApi(api_settings(pipeline_settings)).start()
    yield server
    server.stop()
