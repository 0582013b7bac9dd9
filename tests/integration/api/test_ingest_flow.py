"""POST/PUT through the API, the worker processing what it published, and GET answering
423 / the old version / the new one, on a real broker with the Unit21 sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerThread, wait_for
from tests.integration.api.conftest import IngestApi


def sign_up(event_id: str, subject_id: str = "user-1", country: str = "US") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "SIGN_UP",
        "subject_id": subject_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "user": {"email": f"{subject_id}@example.com", "country": country},
        "session": {"ip_address": "203.0.113.7"},
    }


def status(api: IngestApi, event_id: str) -> int:
    return api.get(event_id).status_code


def test_create_then_update_through_the_api_follows_the_read_contract(
    pipeline_settings: Settings,
    ingest_api: IngestApi,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    unit21.set_faults({"latency_ms": 1500})  # keeps each version in flight for a while
    worker_factory(pipeline_settings)
    assert status(ingest_api, "evt-a") == 404

    created = ingest_api.post(sign_up("evt-a"))
    assert created.status_code == 202, created.text
    assert created.json()["expected_version"] == 1
    locked = ingest_api.get("evt-a")  # at once: read-your-writes, never 404
    assert (locked.status_code, locked.json()["status"]) == (423, "locked")
    assert locked.headers["Retry-After"] == "1"

    wait_for(lambda: status(ingest_api, "evt-a") == 200, 30, "the create to be processed")
    done = ingest_api.get("evt-a").json()
    assert (done["version"], done["status"], done["update_pending"]) == (1, "processed", False)
    assert done["data"]["user"]["country"] == "US"
    assert done["deliveries"][0]["outcome"] == "delivered"

    updated = ingest_api.put("evt-a", sign_up("evt-a", country="FR"))
    assert (updated.status_code, updated.json()["expected_version"]) == (202, 2)
    during = ingest_api.get("evt-a").json()  # at once: the old data, update pending
    assert (during["version"], during["update_pending"], during["pending_version"]) == (1, True, 2)
    assert during["data"]["user"]["country"] == "US"
    wait_for(lambda: ingest_api.get("evt-a").json()["version"] == 2, 30, "the update")
    after = ingest_api.get("evt-a").json()
    assert (after["data"]["user"]["country"], after["update_pending"]) == ("FR", False)


def test_conflicts_upserts_and_unknown_updates(
    pipeline_settings: Settings,
    ingest_api: IngestApi,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    worker_factory(pipeline_settings)
    assert ingest_api.post(sign_up("evt-b")).status_code == 202
    duplicate = ingest_api.post(sign_up("evt-b"))
    assert (duplicate.status_code, duplicate.json()["status"]) == (409, "conflict")
    wait_for(lambda: status(ingest_api, "evt-b") == 200, 30, "the create")
    assert ingest_api.post(sign_up("evt-b")).status_code == 409  # now from the view

    upsert = ingest_api.post({**sign_up("evt-b", country="DE"), "upsert_on_conflict": True})
    assert (upsert.status_code, upsert.json()["operation"]) == (202, "update")
    assert ingest_api.get("evt-b").json()["update_pending"] is True
    wait_for(lambda: ingest_api.get("evt-b").json()["version"] == 2, 30, "the upsert")
    assert ingest_api.get("evt-b").json()["data"]["user"]["country"] == "DE"

    unknown = ingest_api.put("evt-nobody", sign_up("evt-nobody"))
    assert (unknown.status_code, unknown.json()["status"]) == (404, "not_found")


def test_events_published_straight_to_kafka_follow_the_same_contract(
    pipeline_settings: Settings,
    ingest_api: IngestApi,
    producer: EventProducer,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    worker_factory(pipeline_settings)
    event = {**sign_up("evt-k"), "occurred_at": datetime.now(UTC)}
    producer.send(Family.LIFECYCLE, event)
    producer.flush()
    wait_for(lambda: status(ingest_api, "evt-k") == 200, 30, "the Kafka event")
    assert ingest_api.post(sign_up("evt-k")).status_code == 409
    assert ingest_api.put("evt-k", sign_up("evt-k", country="NL")).status_code == 202
    wait_for(lambda: ingest_api.get("evt-k").json()["version"] == 2, 30, "the API update")
    assert ingest_api.get("evt-k").json()["data"]["user"]["country"] == "NL"


def test_a_slow_provider_keeps_the_event_locked_about_that_long(
    pipeline_settings: Settings,
    ingest_api: IngestApi,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    worker_factory(pipeline_settings)
    unit21.set_faults({"latency_ms": 5000})
    started = time.monotonic()
    assert ingest_api.post(sign_up("evt-slow")).status_code == 202
    statuses = set()
    while time.monotonic() - started < 30:
        code = status(ingest_api, "evt-slow")
        statuses.add(code)
        if code == 200:
            break
        time.sleep(0.1)
    unlocked_after = time.monotonic() - started
    assert statuses == {423, 200}, statuses  # never 404
    assert 5.0 <= unlocked_after < 12.0, unlocked_after
    assert ingest_api.get("evt-slow").json()["deliveries"][0]["outcome"] == "delivered"
