from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastavro.validation import validate

from riskrelay.dev.demo import (
    EVALUATION_KINDS,
    LIFECYCLE_KINDS,
    PAYMENT_KINDS,
    demo_events,
    demo_stream,
    evaluation_event,
    payment_event,
)
from riskrelay.normalize.money import to_major
from riskrelay.schemas import parsed_schema
from tests.fixtures.avro import avro_round_trip

WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_subjects_keep_their_devices_and_country_like_real_users() -> None:
    """One or two devices per subject, each with one IP address, browser and fingerprint;
    consecutive events share a session; lifecycle and payment events agree on the
    user's country. (Until 2026-11-22 every event came from a new device and IP.)"""
    devices: dict[str, set[tuple[str, str, str, str]]] = {}
    sessions: Counter[str] = Counter()
    countries: dict[str, set[str]] = {}
    for _, event in demo_stream(2_000, seed=3):
        subject, session = event["subject_id"], event["session"]
        if session is None:
            continue
        devices.setdefault(subject, set()).add(
            (
                session["device_id"],
                session["ip_address"],
                session["user_agent"],
                session["client_fingerprint"],
            )
        )
        sessions[session["session_id"]] += 1
        assert session["session_started_at"] <= event["occurred_at"]
        countries.setdefault(subject, set()).add(event["user"]["country"])
    assert max(len(seen) for seen in devices.values()) == 2
    assert min(len(seen) for seen in devices.values()) == 1
    assert max(sessions.values()) > 1
    assert all(len(seen) == 1 for seen in countries.values())


def test_demo_covers_every_kind_and_is_valid_avro() -> None:
    events = list(demo_events(300))
    assert len(events) == 300
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == set(LIFECYCLE_KINDS)
    schema = parsed_schema("lifecycle")
    for event in events:
        assert avro_round_trip(schema, event)["event_id"] == event["event_id"]


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


def _valid(schema_name: str, record: dict[str, object]) -> bool:
    return bool(validate(record, parsed_schema(schema_name), raise_errors=True))


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_payment_event_of_every_kind_is_valid_avro(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(20):
        event = payment_event(rng, "user-00042", kind, WHEN)
        assert _valid("payment", event)
        assert event["event_type"] == kind
        assert (event["card"] is not None) == (event["rail"] == "CARD")
        assert (event["wallet"] is not None) == (event["rail"] == "CRYPTO")
        assert (event["redeem"] is not None) == (kind == "REDEEM")


def test_payment_kinds_are_the_schema_enum() -> None:
    field = next(f for f in parsed_schema("payment")["fields"] if f["name"] == "event_type")
    assert set(PAYMENT_KINDS) == set(field["type"]["symbols"])
    field = next(f for f in parsed_schema("evaluation")["fields"] if f["name"] == "event_type")
    assert set(EVALUATION_KINDS) == set(field["type"]["symbols"])


def test_redeems_use_every_subtotal_form_and_exactly_one_auth_mode() -> None:
    rng = random.Random(3)
    forms: set[str] = set()
    modes: set[str] = set()
    for _ in range(60):
        redeem = payment_event(rng, "user-00001", "REDEEM", WHEN)["redeem"]
        kind = redeem["subtotal_kind"]
        forms.add(kind)
        subtotals = {
            "FIAT": redeem["fiat_subtotal"],
            "CENTS": redeem["cents_subtotal"],
            "TOKEN": redeem["token_subtotal"],
        }
        assert [k for k, v in subtotals.items() if v is not None] == [kind]
        wallet = redeem["auth_wallet"] is not None and redeem["auth_blockchain"] is not None
        session_key = redeem["auth_session_key"] is not None
        assert wallet != session_key
        modes.add("wallet" if wallet else "session_key")
    assert forms == {"FIAT", "CENTS", "TOKEN"}
    assert modes == {"wallet", "session_key"}


def test_payments_carry_currencies_of_every_exponent() -> None:
    rng = random.Random(5)
    currencies = {
        payment_event(rng, "user-00001", kind, WHEN)["amount"]["currency"]
        for kind in PAYMENT_KINDS * 20
    }
    assert {"USD", "EUR", "JPY", "KWD"} <= currencies


def test_transfer_has_a_receiver_and_consistent_fx() -> None:
    rng = random.Random(11)
    transfers = [payment_event(rng, "user-00001", "TRANSFER", WHEN) for _ in range(40)]
    assert all(t["receiver"]["entity_id"] != "user-00001" for t in transfers)
    cross = [t for t in transfers if t["received"] is not None]
    assert cross
    for t in cross:
        expected = to_major(t["amount"]) * Decimal(str(t["exchange_rate"]))
        assert abs(to_major(t["received"]) - expected) <= Decimal("0.005")


def test_payment_event_keeps_a_given_payment_id_and_refuses_unknown_kinds() -> None:
    rng = random.Random(1)
    assert payment_event(rng, "user-1", "PURCHASE", WHEN, "pay-7")["payment_id"] == "pay-7"
    with pytest.raises(ValueError, match="REFUNDED"):
        payment_event(rng, "user-1", "REFUNDED", WHEN)
    with pytest.raises(ValueError, match="PURCHASE"):
        evaluation_event(rng, "user-1", "PURCHASE", WHEN, "pay-7")


DETAIL_OF = {
    "DISPUTE_OPENED": "dispute",
    "EARLY_FRAUD_WARNING_RECEIVED": "early_fraud_warning",
    "REFUNDED": "refund",
    "USER_INTERVENTION_RAISED": "intervention_raised",
    "USER_INTERVENTION_RESOLVED": "intervention_resolved",
}


@pytest.mark.parametrize("kind", EVALUATION_KINDS)
def test_evaluation_event_of_every_kind_is_valid_avro(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(20):
        event = evaluation_event(rng, "user-00042", kind, WHEN, "pay-1")
        assert _valid("evaluation", event)
        assert event["payment_id"] == "pay-1"
        present = [name for name in DETAIL_OF.values() if event[name] is not None]
        assert present == [DETAIL_OF[kind]]


def test_intervention_events_share_a_given_id_and_custom_ones_name_their_type() -> None:
    rng = random.Random(2)
    raised = [
        evaluation_event(rng, "u-1", "USER_INTERVENTION_RAISED", WHEN, "pay-1", "intv-9")
        for _ in range(30)
    ]
    assert {r["intervention_raised"]["intervention_id"] for r in raised} == {"intv-9"}
    customs = [
        r["intervention_raised"] for r in raised if r["intervention_raised"]["type"] == "CUSTOM"
    ]
    assert customs
    assert all(c["custom_type"] for c in customs)
    resolved = evaluation_event(rng, "u-1", "USER_INTERVENTION_RESOLVED", WHEN, "pay-1", "intv-9")
    assert resolved["intervention_resolved"]["intervention_id"] == "intv-9"


def test_generators_are_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[dict[str, object]]:
        rng = random.Random(seed)
        return [payment_event(rng, "user-1", k, WHEN) for k in PAYMENT_KINDS] + [
            evaluation_event(rng, "user-1", k, WHEN, "pay-1") for k in EVALUATION_KINDS
        ]

    assert run(4) == run(4)
    assert run(4) != run(5)
