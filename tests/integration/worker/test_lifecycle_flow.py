"""The walking skeleton end to end: real broker, registry, Unit21 sandbox, worker, API."""

from __future__ import annotations

import random
import struct
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from riskrelay.deliver.providers.unit21 import ACTION_TYPES
from riskrelay.dev.demo import demo_events, lifecycle_event
from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import ApiThread, WorkerThread, read_topic, wait_for


def provider_calls(sandbox: SandboxThread) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in per_event(sandbox.requests()) if r["path"].startswith("/v1/events")]


def test_200_events_reach_unit21_as_the_contract_wants_and_the_normalized_topic(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    events = list(demo_events(200, seed=11))
    for event in events:
        producer.send(Family.LIFECYCLE, event)
    producer.flush()
    worker_factory(pipeline_settings)

    wait_for(lambda: len(provider_calls(unit21)) >= 200, 60, "200 Unit21 calls")
    calls = provider_calls(unit21)
    assert len(calls) == 200
    assert {c["status"] for c in calls} == {200}, [c for c in calls if c["status"] != 200][:3]

    by_id = defaultdict(list)
    for call in calls:
        by_id[call["json"]["general_data"]["event_id"]].append(call)
    creates = [e for e in events if e["operation"] == "CREATE"]
    updates = [e for e in events if e["operation"] == "UPDATE"]
    assert updates, "the demo mix must include updates"
    for event in creates:
        (call, *_) = by_id[event["event_id"]]
        assert (call["method"], call["path"]) == ("POST", "/v1/events/create")
        assert call["headers"]["u21-key"].endswith(producer_key_tail())
        general, action = call["json"]["general_data"], call["json"]["action_data"]
        assert general["event_type"] == "action"
        assert general["event_time"] == int(event["occurred_at"].timestamp())
        assert action["entity_id"] == event["subject_id"]
        assert action["entity_type"] == "user"
        assert action.get("action_type") == ACTION_TYPES.get(event["event_type"].lower())
        assert call["json"]["digital_data"]["ip_address"] == event["session"]["ip_address"]
        assert call["json"]["options"] == {"upsert_on_conflict": True}
    for event in updates:
        update_call = by_id[event["event_id"]][-1]
        assert update_call["method"] == "PUT"
        assert update_call["path"] == f"/v1/events/{event['event_id']}/update"

    # Per-subject order: the sandbox saw each subject's events in publication order.
    sent_order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        sent_order[event["subject_id"]].append(event["event_id"])
    seen_order: dict[str, list[str]] = defaultdict(list)
    for call in calls:
        body = call["json"]
        seen_order[body["action_data"]["entity_id"]].append(body["general_data"]["event_id"])
    assert seen_order == sent_order

    topic = pipeline_settings.topics.name(pipeline_settings.topics.normalized)
    normalized = read_topic(pipeline_settings, topic, "normalized", 200)
    assert len(normalized) == 200
    assert sorted((r["event_id"], r["version"]) for _, r in normalized) == sorted(
        (e["event_id"], 2 if e["operation"] == "UPDATE" else 1) for e in events
    )
    assert all(key == r["subject_id"].encode() for key, r in normalized)
    assert all(r["user"]["email"] == r["user"]["email"].lower() for _, r in normalized)


def producer_key_tail() -> str:
    from tests.fixtures.pipeline import UNIT21_KEY

    return UNIT21_KEY[-4:]


def test_get_answers_423_until_processed_then_old_data_while_an_update_is_in_flight(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    api: ApiThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    worker_factory(pipeline_settings)
    unit21.set_faults({"latency_ms": 1500})
    event = lifecycle_event(random.Random(5), "user-locked", "SIGN_UP", datetime.now(UTC))
    url = f"{api.url}/v1/events/{event['event_id']}"

    assert httpx.get(url, headers=api.headers).status_code == 404
    producer.send(Family.LIFECYCLE, event)
    producer.flush()
    wait_for(
        lambda: httpx.get(url, headers=api.headers).status_code != 404,
        20,
        "the event to be accepted",
    )
    locked = httpx.get(url, headers=api.headers)
    assert locked.status_code == 423
    assert locked.headers["Retry-After"] == "1"
    assert locked.json()["status"] == "locked"

    wait_for(
        lambda: httpx.get(url, headers=api.headers).status_code == 200,
        20,
        "the event to be processed",
    )
    done = httpx.get(url, headers=api.headers).json()
    assert (done["version"], done["status"], done["update_pending"]) == (1, "processed", False)
    assert done["data"]["event_id"] == event["event_id"]
    assert done["data"]["kind"] == "sign_up"
    assert done["deliveries"][0]["provider"] == "unit21"
    assert done["deliveries"][0]["outcome"] == "delivered"
    assert done["deliveries"][0]["response_ref"] == event["event_id"]

    update = {**event, "operation": "UPDATE", "user": {**event["user"], "country": "FR"}}
    producer.send(Family.LIFECYCLE, update)
    producer.flush()
    wait_for(
        lambda: httpx.get(url, headers=api.headers).json()["update_pending"],
        20,
        "the update to be accepted",
    )
    during = httpx.get(url, headers=api.headers).json()
    assert (during["version"], during["pending_version"]) == (1, 2)
    assert during["data"]["user"]["country"] == event["user"]["country"]
    wait_for(
        lambda: httpx.get(url, headers=api.headers).json()["version"] == 2,
        20,
        "the update to be processed",
    )
    after = httpx.get(url, headers=api.headers).json()
    assert after["data"]["user"]["country"] == "FR"
    assert after["update_pending"] is False


def test_bad_records_go_to_the_dlq_with_their_reason_and_the_next_event_is_delivered(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    topic = producer.topic(Family.LIFECYCLE)
    rng = random.Random(9)
    garbage = b"definitely not avro"
    unknown_schema = struct.pack(">bI", 0, 987654) + b"\x02\x04"
    invalid = lifecycle_event(rng, "user-poison", "SIGN_IN", datetime.now(UTC))
    invalid["user"] = {**invalid["user"], "risk_score": 250}
    # A malformed e-mail is kept (and flagged by enrichment): not a reason to dead-letter.
    kept = lifecycle_event(rng, "user-poison", "SIGN_IN", datetime.now(UTC))
    kept["user"] = {**kept["user"], "email": "not-an-email"}
    good = lifecycle_event(rng, "user-poison", "SIGN_IN", datetime.now(UTC))
    producer.send_raw(topic, b"user-poison", garbage)
    producer.send_raw(topic, b"user-poison", unknown_schema)
    producer.send(Family.LIFECYCLE, invalid)
    producer.send(Family.LIFECYCLE, kept)
    producer.send(Family.LIFECYCLE, good)
    producer.flush()
    worker = worker_factory(pipeline_settings)

    dlq_topic = pipeline_settings.topics.name(pipeline_settings.topics.dlq)
    dead = read_topic(pipeline_settings, dlq_topic, "dlq", 3)
    reasons = {r["reason"]: r for _, r in dead}
    assert set(reasons) == {"undecodable", "unknown_schema", "invalid_field"}
    assert reasons["undecodable"]["original_value"] == garbage
    assert reasons["undecodable"]["original_key"] == b"user-poison"
    assert reasons["undecodable"]["source_topic"] == topic
    assert reasons["undecodable"]["source_offset"] >= 0
    assert reasons["unknown_schema"]["original_value"] == unknown_schema
    assert "987654" in reasons["unknown_schema"]["message"]
    assert "user.risk_score" in reasons["invalid_field"]["message"]
    assert reasons["invalid_field"]["error_class"] == "ValidationError"

    wait_for(
        lambda: any(
            c["json"]["general_data"]["event_id"] == good["event_id"]
            for c in provider_calls(unit21)
        ),
        30,
        "the good event to reach Unit21",
    )
    assert worker.counter("riskrelay_dlq_records", reason="undecodable") == 1
    assert worker.counter("riskrelay_dlq_records", reason="invalid_field") == 1
    delivered = [c["json"]["general_data"]["event_id"] for c in provider_calls(unit21)]
    assert delivered == [kept["event_id"], good["event_id"]]
