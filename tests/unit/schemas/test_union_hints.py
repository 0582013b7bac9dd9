"""Union branch hints must change the encoding's speed, never its bytes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from riskrelay.dev.demo import (
    EVALUATION_KINDS,
    LIFECYCLE_KINDS,
    PAYMENT_KINDS,
    evaluation_event,
    lifecycle_event,
    payment_event,
)
from riskrelay.models import Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.schemas import SCHEMA_NAMES, parsed_schema, union_hints, with_union_hints
from tests.fixtures.avro import avro_bytes
from tests.fixtures.enrichment import WHEN, memory_enrichment


def _bodies() -> list[dict[str, Any]]:
    rng = random.Random(5)
    records = [
        *((Family.LIFECYCLE, lifecycle_event(rng, "user-1", k, WHEN)) for k in LIFECYCLE_KINDS),
        *((Family.PAYMENT, payment_event(rng, "user-1", k, WHEN)) for k in PAYMENT_KINDS),
        *(
            (Family.EVALUATION, evaluation_event(rng, "user-1", k, WHEN, "pay-1"))
            for k in EVALUATION_KINDS
        ),
    ]
    source = SourcePosition("t", 0, 0)
    return [
        {**normalize(family, record, source, WHEN).body, "version": 1, "operation": "CREATE"}
        for family, record in records
    ]


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: str(b["kind"]))
def test_hinted_normalized_events_encode_to_the_same_bytes(body: dict[str, Any]) -> None:
    schema = parsed_schema("normalized")
    hinted = with_union_hints(body, union_hints(schema))
    assert avro_bytes(schema, hinted) == avro_bytes(schema, body)
    assert isinstance(hinted["session"], tuple)
    assert isinstance(body["session"], dict)  # the caller's record is left alone


def test_hints_name_the_record_branches_of_every_contract() -> None:
    hints = {name: union_hints(parsed_schema(name)) for name in SCHEMA_NAMES}
    normalized = {field: (branch, inner) for field, branch, _, inner in hints["normalized"]}
    assert normalized["user"][0] == "riskrelay.v1.UserInfo"
    inner = {field for field, _, _, _ in normalized["payment"][1]}
    assert {"card", "redeem", "fee", "billing_address"} <= inner
    assert [field for field, _, _, _ in hints["event_state"]] == ["current", "pending"]


def test_hints_name_the_timestamp_branches_and_no_other_primitive() -> None:
    hints = {field: inner for field, _, _, inner in union_hints(parsed_schema("normalized"))}
    profile = {field: (branch, kind) for field, branch, kind, _ in hints["profile"]}
    assert profile == {
        "registered_at": ("long", datetime),
        "first_seen_at": ("long", datetime),
        "last_seen_at": ("long", datetime),
        "session_started_at": ("long", datetime),
    }
    assert ("session_started_at", "long", datetime, ()) in hints["session"]
    assert hints["enrichment"] and all(kind is dict for _, _, kind, _ in hints["enrichment"])


def _enriched_bodies() -> list[dict[str, Any]]:
    """Real enriched events: the stateless signals and the subject profile's, over one
    subject's history (first sighting, then sessions, failures, payments)."""
    stage = memory_enrichment()
    return [stage.apply(body, 0) for body in _bodies()]


def test_hinted_enriched_events_encode_to_the_same_bytes() -> None:
    schema = parsed_schema("normalized")
    hints = union_hints(schema)
    bodies = _enriched_bodies()
    assert any(body["profile"]["last_seen_at"] is not None for body in bodies)
    for enriched in bodies:
        # The stage's signals are a FrozenRecord (which the normalized writer does not
        # write again); as the plain dict of a replayed snapshot they are hinted.
        body = {**enriched, "profile": dict(enriched["profile"])}
        hinted = with_union_hints(body, hints)
        assert (
            avro_bytes(schema, hinted) == avro_bytes(schema, body) == avro_bytes(schema, enriched)
        )
        assert hinted["profile"][1]["registered_at"] == ("long", body["profile"]["registered_at"])
        assert isinstance(body["profile"]["registered_at"], datetime)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 21, 12, 0, 0, 999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2026, 11, 21, 12, 0),  # naive: fastavro's own reading, either way
    ],
    ids=["micros", "offset", "before-epoch", "naive"],
)
def test_hinted_timestamps_encode_like_fastavros_own_choice(when: datetime) -> None:
    schema = parsed_schema("normalized")
    body = _enriched_bodies()[0]
    profile = {**body["profile"], "registered_at": when, "last_seen_at": when}
    changed = {
        **body,
        "profile": profile,
        "session": {**body["session"], "session_started_at": when},
    }
    assert avro_bytes(schema, with_union_hints(changed, union_hints(schema))) == avro_bytes(
        schema, changed
    )


def test_values_of_another_type_are_left_to_fastavro() -> None:
    hints = (("at", "long", datetime, ()),)
    assert with_union_hints({"at": 5}, hints) == {"at": 5}
    assert with_union_hints({"at": None}, hints) == {"at": None}


def test_null_values_stay_null() -> None:
    schema = parsed_schema("event_state")
    record = {"current": None, "pending": None}
    assert with_union_hints(record, union_hints(schema)) == record
