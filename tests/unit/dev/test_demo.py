from __future__ import annotations

import io
from collections import Counter

import fastavro

from riskrelay.dev.demo import LIFECYCLE_KINDS, demo_events
from riskrelay.schemas import parsed_schema


def test_demo_covers_every_kind_and_is_valid_avro() -> None:
    events = list(demo_events(300))
    assert len(events) == 300
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == set(LIFECYCLE_KINDS)
    schema = parsed_schema("lifecycle")
    for event in events:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, event)
        buffer.seek(0)
        assert fastavro.schemaless_reader(buffer, schema)["event_id"] == event["event_id"]


def test_each_subject_signs_up_first_and_updates_follow_their_create() -> None:
    seen_creates: set[str] = set()
    first_kind: dict[str, str] = {}
    for event in demo_events(300):
        first_kind.setdefault(event["subject_id"], event["event_type"])
        if event["operation"] == "UPDATE":
            assert event["event_id"] in seen_creates
        else:
            seen_creates.add(event["event_id"])
    assert set(first_kind.values()) == {"SIGN_UP"}
    assert sum(1 for e in demo_events(300) if e["operation"] == "UPDATE") >= 5


def test_demo_is_deterministic_for_a_seed() -> None:
    a = [e["event_id"] for e in demo_events(50, seed=1)]
    b = [e["event_id"] for e in demo_events(50, seed=1)]
    assert a == b
