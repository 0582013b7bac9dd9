"""The API served by uvicorn on a real port, over an in-memory view and a recording
publisher (the Kafka-backed ones are exercised in tests/integration/api)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from riskrelay.api.app import create_app
from riskrelay.api.auth import ApiKeys, parse_keys
from riskrelay.api.ingest import Delivery, Incoming, PublishUnavailable
from riskrelay.kafka.embedded import free_port
from riskrelay.models import AvroRecord, Envelope, Family, Operation, SourcePosition
from riskrelay.settings import ApiSettings
from riskrelay.state.snapshot import delivery_entry, with_completed, with_pending

INGEST_KEY = "ingest-secret-0123456789"
READ_KEY = "read-secret-0123456789ab"
BOTH_KEY = "both-secret-0123456789ab"
KEYS = f"writer:ingest:{INGEST_KEY},reader:read:{READ_KEY},ops:ingest+read:{BOTH_KEY}"
BOTH = {"X-API-Key": BOTH_KEY}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class DictView:
    """The state view's interface over a dict the test writes snapshots into."""

    def __init__(self) -> None:
        self.states: dict[str, AvroRecord] = {}
        self.ready = threading.Event()
        self.ready.set()

    def get(self, event_id: str) -> AvroRecord | None:
        return self.states.get(event_id)

    def __len__(self) -> int:
        return len(self.states)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class RecordingPublisher:
    """Keeps what it was asked to publish; ``fail`` makes it refuse like a broker outage."""

    def __init__(self) -> None:
        self.published: list[Incoming] = []
        self.fail = False
        self.delay_s = 0.0

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def publish(self, incoming: Incoming) -> Delivery:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise PublishUnavailable("broker unreachable")
        self.published.append(incoming)
        return Delivery("topic", 0, len(self.published))


class Served:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)


class Api:
    def __init__(self, served: Served, view: DictView, publisher: RecordingPublisher) -> None:
        self.client = served.client
        self.view = view
        self.publisher = publisher


def serve(settings: ApiSettings | None = None) -> tuple[Served, DictView, RecordingPublisher]:
    view, publisher = DictView(), RecordingPublisher()
    keys = ApiKeys(parse_keys(KEYS, "test"))
    app = create_app(view, settings or ApiSettings(), keys=keys, publisher=publisher)
    return Served(app), view, publisher


@pytest.fixture
def api() -> Iterator[Api]:
    served, view, publisher = serve(ApiSettings(max_body_bytes=4096, retry_after_s=2))
    yield Api(served, view, publisher)
    served.stop()


def sign_in(event_id: str = "evt-1", subject_id: str = "user-1", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "SIGN_IN",
        "subject_id": subject_id,
        "occurred_at": "2026-05-01T12:00:00Z",
        "session": {"ip_address": "203.0.113.7"},
        **extra,
    }


def purchase(event_id: str = "pay-1", subject_id: str = "user-1") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "PURCHASE",
        "subject_id": subject_id,
        "occurred_at": 1_777_636_800_000,
        "payment_id": "p-1",
        "amount": {"amount_minor": 1050, "currency": "USD"},
        "rail": "CARD",
        "card": {"bin": "424242", "last4": "4242"},
        "sender": {"entity_id": subject_id},
    }


def _envelope(event_id: str, subject_id: str, family: Family, kind: str) -> Envelope:
    return Envelope(
        event_id=event_id,
        subject_id=subject_id,
        family=family,
        kind=kind,
        operation=Operation.CREATE,
        upsert_on_conflict=False,
        occurred_at=NOW,
        source=SourcePosition("risk.lifecycle.v1", 0, 1),
    )


def processed(
    event_id: str = "evt-1",
    version: int = 1,
    subject_id: str = "user-1",
    family: Family = Family.LIFECYCLE,
    kind: str = "sign_in",
) -> AvroRecord:
    """The worker's snapshot once ``version`` is done."""
    envelope = _envelope(event_id, subject_id, family, kind)
    deliveries = [delivery_entry("unit21", "DELIVERED", 1, 200, event_id, None, NOW)]
    body = f'{{"event_id": "{event_id}", "version": {version}}}'
    return with_completed(None, envelope, version, body, deliveries, [], NOW)


def in_flight(state: AvroRecord | None, event_id: str = "evt-1", version: int = 1) -> AvroRecord:
    """The worker's snapshot while ``version`` is being delivered."""
    envelope = _envelope(event_id, "user-1", Family.LIFECYCLE, "sign_in")
    return with_pending(state, envelope, version, [delivery_entry("unit21", "PENDING")], NOW)
