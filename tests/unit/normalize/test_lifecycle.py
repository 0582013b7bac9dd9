from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from riskrelay.dev.demo import lifecycle_event
from riskrelay.errors import ValidationError
from riskrelay.models import Family, Operation, SourcePosition
from riskrelay.normalize import normalize

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SOURCE = SourcePosition("risk.lifecycle.v1", 2, 41)


def event(kind: str = "SIGN_IN", **changes: object) -> dict[str, object]:
    record = lifecycle_event(random.Random(1), "user-00042", kind, NOW - timedelta(minutes=5))
    record.update(changes)
    return record


def test_envelope_and_body_carry_the_event() -> None:
    record = event("SIGN_IN")
    result = normalize(Family.LIFECYCLE, record, SOURCE, NOW)
    env = result.envelope
    assert (env.event_id, env.subject_id, env.kind) == (record["event_id"], "user-00042", "sign_in")
    assert env.operation is Operation.CREATE
    assert env.source == SOURCE
    assert result.body["family"] == "LIFECYCLE"
    assert result.body["normalized_at"] == NOW
    assert result.body["source"] == {"topic": "risk.lifecycle.v1", "partition": 2, "offset": 41}


def test_email_is_trimmed_and_lower_cased_country_upper_cased() -> None:
    record = event(user={**event()["user"], "email": "  Jane.Doe@Example.COM ", "country": "de"})  # type: ignore[dict-item]
    body = normalize(Family.LIFECYCLE, record, SOURCE, NOW).body
    assert body["user"]["email"] == "jane.doe@example.com"
    assert body["user"]["country"] == "DE"


@pytest.mark.parametrize(
    ("changes", "path", "kept"),
    [
        ({"user": {"email": " NoBody ", "risk_score": None}}, ("user", "email"), "nobody"),
        (
            {"user": {"phone": " not a phone ", "risk_score": None}},
            ("user", "phone"),
            "not a phone",
        ),
        ({"user": {"country": " usa", "risk_score": None}}, ("user", "country"), "USA"),
        ({"session": {"ip_address": " 999.1.1.1 "}}, ("session", "ip_address"), "999.1.1.1"),
        ({"address": {"country": "1x"}}, ("address", "country"), "1X"),
    ],
)
def test_malformed_descriptive_fields_are_kept_in_canonical_spelling(
    changes: dict[str, object], path: tuple[str, str], kept: str
) -> None:
    """Enrichment flags them; the event itself still reaches the providers."""
    body = normalize(Family.LIFECYCLE, event(**changes), SOURCE, NOW).body
    assert body[path[0]][path[1]] == kept


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_descriptive_fields_are_absent(blank: str) -> None:
    user = {"email": blank, "phone": blank, "country": blank, "risk_score": None}
    record = event(user=user, session={"ip_address": blank})
    body = normalize(Family.LIFECYCLE, record, SOURCE, NOW).body
    assert (body["user"]["email"], body["user"]["phone"], body["user"]["country"]) == (
        None,
        None,
        None,
    )
    assert body["session"]["ip_address"] is None


def test_ipv6_is_canonicalised() -> None:
    session = {**event()["session"], "ip_address": "2001:0DB8:0000::0001"}  # type: ignore[dict-item]
    body = normalize(Family.LIFECYCLE, event(session=session), SOURCE, NOW).body
    assert body["session"]["ip_address"] == "2001:db8::1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_id": ""}, "event_id: must be a non-empty string"),
        ({"event_id": "x" * 256}, "event_id: longer than 255"),
        ({"subject_id": "  "}, "subject_id: must be a non-empty string"),
        ({"event_type": "BUYER_CHALLENGE", "challenge": None}, "challenge: required"),
        ({"event_type": "PROFILE_CHANGE", "changed_fields": []}, "changed_fields: PROFILE_CHANGE"),
        ({"user": {"risk_score": 101}}, "user.risk_score: 101 is outside 0..100"),
        (
            {"session": {"session_started_at": NOW + timedelta(hours=1)}},
            "session.session_started_at: after",
        ),
    ],
)
def test_invalid_fields_are_named_in_the_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(Family.LIFECYCLE, event(**changes), SOURCE, NOW)
    assert message in str(caught.value)
    assert caught.value.reason == "invalid_field"
