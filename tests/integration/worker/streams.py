"""Event streams for the worker tests: many subjects, each with an ordered history."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from riskrelay.dev.demo import lifecycle_event
from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.sdk.producer import EventProducer

KINDS = ("SIGN_IN", "SIGN_IN_FAILURE", "SIGN_OUT", "PASSWORD_RESET", "USER_ACCESS")


def subject_histories(subjects: int, per_subject: int, seed: int = 1) -> list[dict[str, Any]]:
    """``subjects x per_subject`` events, interleaved across subjects, each subject's
    events in a known order (a sign-up first)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for round_ in range(per_subject):
        for s in range(subjects):
            kind = "SIGN_UP" if round_ == 0 else rng.choice(KINDS)
            when = start + timedelta(milliseconds=round_ * 1000 + s)
            events.append(lifecycle_event(rng, f"user-{s:05d}", kind, when))
    return events


def publish(producer: EventProducer, events: list[dict[str, Any]]) -> None:
    for event in events:
        producer.send(Family.LIFECYCLE, event)
    producer.flush()


def delivered_ids(sandbox: SandboxThread) -> list[str]:
    """Event ids of every successful Unit21 call, in the order the sandbox received them."""
    return [
        r["json"]["general_data"]["event_id"]
        for r in per_event(sandbox.requests())
        if r["path"].startswith("/v1/events") and r["status"] == 200
    ]


def first_seen_order(sandbox: SandboxThread) -> dict[str, list[str]]:
    """Per subject, event ids in the order the sandbox first saw them (a redelivery after a
    crash repeats an id; its first sighting is what ordering is about)."""
    order: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for r in per_event(sandbox.requests()):
        if not r["path"].startswith("/v1/events") or r["status"] != 200:
            continue
        body = r["json"]
        event_id = body["general_data"]["event_id"]
        if event_id not in seen:
            seen.add(event_id)
            order[body["action_data"]["entity_id"]].append(event_id)
    return order


def sent_order(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        order[event["subject_id"]].append(event["event_id"])
    return order
