"""The enrichment stage end to end: one subject's scripted history (sign-up, three failed
sign-ins, a sign-in from a new device, a purchase) through the real broker, registry,
worker and the Unit21 and Dataspike sandboxes.

Each normalized event must carry exactly the expected profile signals, and Dataspike must
receive the expected ``user_ds_registration`` and ``session_duration``; then the same with
the worker stopped after three events and a new one started in its place, which re-reads
every record from the start (a new consumer group): the profile must come back from
``risk.profiles.v1`` with nothing lost and nothing counted twice.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskrelay.dev.demo import lifecycle_event, payment_event
from riskrelay.models import AvroRecord, Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import DataspikeSettings, Settings
from tests.fixtures.pipeline import (
    WorkerThread,
    in_new_group,
    quick_sandbox,
    read_topic,
    wait_for,
    with_providers,
)

DATASPIKE_KEY = "test-dataspike-key"
# Two days ago, to the second: every event of the history is in the past.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
T1 = T0 + timedelta(days=1, hours=2)
SIGNED_IN = T1 + timedelta(minutes=30)
PURCHASED = T1 + timedelta(minutes=45)


@pytest.fixture
def dataspike() -> Iterator[SandboxThread]:
    with quick_sandbox("dataspike", DATASPIKE_KEY) as sandbox:
        yield sandbox


@pytest.fixture
def enriched_settings(pipeline_settings: Settings, dataspike: SandboxThread) -> Settings:
    """Unit21 (``pipeline_settings``) and Dataspike."""
    return with_providers(
        pipeline_settings,
        dataspike=DataspikeSettings(base_url=dataspike.base_url, api_key=DATASPIKE_KEY),
    )


def session(
    session_id: str, device: str | None, ip: str, started: datetime | None = None
) -> AvroRecord:
    return {
        "session_id": session_id,
        "session_started_at": started,
        "ip_address": ip,
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Firefox/126.0",
        "device_id": device,
        "client_fingerprint": None,
    }


def lifecycle(
    subject: str,
    kind: str,
    when: datetime,
    session_record: AvroRecord,
    risk: int | None,
    rng: random.Random,
) -> AvroRecord:
    event = lifecycle_event(rng, subject, kind, when)
    event["user"] = {**event["user"], "country": "US", "risk_score": risk}
    event["session"] = session_record
    return event


def history(subject: str) -> tuple[list[AvroRecord], AvroRecord]:
    """The lifecycle events in order, and the purchase that follows them. Session and
    device are explicit: documentation-range IPs, so no IP country takes part."""
    rng = random.Random(6)
    events = [
        lifecycle(subject, "SIGN_UP", T0, session("s-1", "dev-a", "198.51.100.1", T0), 15, rng),
        *(
            lifecycle(
                subject,
                "SIGN_IN_FAILURE",
                T1 + timedelta(minutes=10 * i),
                session("s-f", None, "203.0.113.9"),
                None,
                rng,
            )
            for i in range(3)
        ),
        lifecycle(
            subject,
            "SIGN_IN",
            SIGNED_IN,
            session("s-2", "dev-b", "203.0.113.9", SIGNED_IN),
            40,
            rng,
        ),
    ]
    purchase = payment_event(rng, subject, "PURCHASE", PURCHASED)
    purchase["user"] = {**purchase["user"], "country": "US", "risk_score": 27}
    purchase["session"] = session("s-2", "dev-b", "203.0.113.9")
    purchase["billing_address"] = {**purchase["billing_address"], "country": "US"}
    return events, purchase


# What each normalized event's ``profile`` must hold, in history order.
EXPECTED: list[dict[str, Any]] = [
    {  # sign-up
        "registered_at": T0,
        "registration_source": "sign_up",
        "first_seen_at": T0,
        "last_seen_at": None,
        "days_since_registration": 0,
        "session_started_at": T0,
        "seconds_since_session_start": 0,
        "failed_sign_ins_1h": 0,
        "failed_sign_ins_24h": 0,
        "new_device": True,
        "new_ip": True,
        "new_country": True,
        "velocity_1h": 1,
        "initial_risk_score": 15.0,
        "current_risk_score": 15.0,
        "countries": [],
    },
    *(
        {  # failed sign-ins: another session, no device, a new IP the first time
            "registered_at": T0,
            "registration_source": "sign_up",
            "first_seen_at": T0,
            "last_seen_at": T0 if i == 0 else T1 + timedelta(minutes=10 * (i - 1)),
            "days_since_registration": 1,
            "session_started_at": None,
            "seconds_since_session_start": None,
            "failed_sign_ins_1h": i + 1,
            "failed_sign_ins_24h": i + 1,
            "new_device": False,
            "new_ip": i == 0,
            "new_country": False,
            "velocity_1h": i + 1,
            "initial_risk_score": 15.0,
            "current_risk_score": 15.0,
            "countries": ["US"],
        }
        for i in range(3)
    ),
    {  # sign-in from a new device
        "registered_at": T0,
        "registration_source": "sign_up",
        "first_seen_at": T0,
        "last_seen_at": T1 + timedelta(minutes=20),
        "days_since_registration": 1,
        "session_started_at": SIGNED_IN,
        "seconds_since_session_start": 0,
        "failed_sign_ins_1h": 3,
        "failed_sign_ins_24h": 3,
        "new_device": True,
        "new_ip": False,
        "new_country": False,
        "velocity_1h": 1,
        "initial_risk_score": 15.0,
        "current_risk_score": 40.0,
        "countries": ["US"],
    },
    {  # purchase in the sign-in's session, on the device it introduced
        "registered_at": T0,
        "registration_source": "sign_up",
        "first_seen_at": T0,
        "last_seen_at": SIGNED_IN,
        "days_since_registration": 1,
        "session_started_at": SIGNED_IN,
        "seconds_since_session_start": 15 * 60,
        "failed_sign_ins_1h": 3,
        "failed_sign_ins_24h": 3,
        "new_device": False,
        "new_ip": False,
        "new_country": False,
        "velocity_1h": 1,
        "initial_risk_score": 15.0,
        "current_risk_score": 27.0,
        "countries": ["US"],
    },
]


def normalized_profiles(settings: Settings, count: int) -> dict[str, AvroRecord]:
    """The ``profile`` of each normalized event (this test's topics hold one subject's),
    by event id, once ``count`` of them are there (and exactly that many)."""
    topic = settings.topics.name(settings.topics.normalized)
    records = read_topic(settings, topic, "normalized", count, timeout_s=60)
    found = {record["event_id"]: record["profile"] for _, record in records}
    assert len(records) == len(found) == count, [r["event_id"] for _, r in records]
    return found


def dataspike_payments(sandbox: SandboxThread) -> list[dict[str, Any]]:
    return [
        r["json"]
        for r in sandbox.requests()
        if r["path"] == "/api/v3/transmon/payment" and r["status"] == 200
    ]


def finish_and_check(
    settings: Settings,
    producer: EventProducer,
    sandbox: SandboxThread,
    lifecycle_events: list[AvroRecord],
    purchase: AvroRecord,
    published: int = 0,
) -> None:
    """Publish the rest of the history (the lifecycle events from ``published`` on, then
    the purchase); check every normalized event's profile and the Dataspike payment."""
    publish(producer, Family.LIFECYCLE, lifecycle_events[published:])
    # Kafka orders a subject's events per topic only: the purchase goes once the
    # lifecycle events are through, as it would follow them in real time.
    normalized_profiles(settings, len(lifecycle_events))
    publish(producer, Family.PAYMENT, [purchase])
    profiles = normalized_profiles(settings, len(lifecycle_events) + 1)
    wait_for(lambda: len(dataspike_payments(sandbox)) == 1, 30, "the Dataspike payment")
    events = [*lifecycle_events, purchase]
    got = [profiles[event["event_id"]] for event in events]
    for index, (one, expected) in enumerate(zip(got, EXPECTED, strict=True)):
        assert one == expected, f"event {index} ({events[index]['event_type']})"
    (sent,) = dataspike_payments(sandbox)
    assert sent["user_ds_registration"] == 1
    assert sent["session_duration"] == 15 * 60
    assert (sent["user_initial_risk_score"], sent["user_current_risk_score"]) == (15, 27)


def publish(producer: EventProducer, family: Family, events: list[AvroRecord]) -> None:
    for event in events:
        producer.send(family, event)
    producer.flush()


def test_a_scripted_history_gives_the_expected_signals_and_dataspike_fields(
    enriched_settings: Settings,
    producer: EventProducer,
    dataspike: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    subject = f"user-{uuid.uuid4().hex[:8]}"
    lifecycle_events, purchase = history(subject)
    worker_factory(enriched_settings)
    finish_and_check(enriched_settings, producer, dataspike, lifecycle_events, purchase)

    # The changelog holds the profile as of the last event (one record per subject and
    # commit, so fewer records than events, never more).
    changelog = enriched_settings.topics.name(enriched_settings.topics.profiles)
    purchase_id = purchase["event_id"]
    mine: list[AvroRecord] = []

    def written() -> bool:
        records = read_topic(enriched_settings, changelog, "profile", 1, timeout_s=5)
        mine[:] = [r for _, r in records if r["subject_id"] == subject]
        return bool(mine) and mine[-1]["applied_event_ids"][-1] == purchase_id

    wait_for(written, 30, "the profile changelog record of the purchase")
    assert 1 <= len(mine) <= 6
    last = mine[-1]
    assert last["devices"] == ["dev-a", "dev-b"]
    assert len(last["failed_sign_ins"]) == 3
    assert last["applied_event_ids"] == [e["event_id"] for e in [*lifecycle_events, purchase][-4:]]
    assert (last["initial_risk_score"], last["current_risk_score"]) == (15.0, 27.0)


def test_a_worker_restarted_mid_history_gives_the_same_signals(
    enriched_settings: Settings,
    producer: EventProducer,
    dataspike: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    subject = f"user-{uuid.uuid4().hex[:8]}"
    lifecycle_events, purchase = history(subject)
    first = worker_factory(enriched_settings)
    publish(producer, Family.LIFECYCLE, lifecycle_events[:3])
    normalized_profiles(enriched_settings, 3)
    first.stop()

    # A new group reads every record again, as after a crash before any offset commit:
    # the restored state skips the three done, the restored profile counts them once.
    second = worker_factory(in_new_group(enriched_settings))
    finish_and_check(
        enriched_settings, producer, dataspike, lifecycle_events, purchase, published=3
    )
    assert second.counter("riskrelay_events_skipped") >= 3
