"""The Unit21 mapping (actions, payment and evaluation transactions) against the contract
in providers.md §3, seed 002 and the sandbox's validator."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from riskrelay.deliver.http import classify
from riskrelay.deliver.providers.unit21 import (
    ACTION_TYPES,
    PAYMENT_EVENTS,
    Unit21Adapter,
    to_unit21_action,
    to_unit21_evaluation,
    to_unit21_payment,
)
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.dev.demo import (
    EVALUATION_KINDS,
    LIFECYCLE_KINDS,
    PAYMENT_KINDS,
    evaluation_event,
    lifecycle_event,
    payment_event,
)
from riskrelay.errors import PermanentDeliveryError, TransientDeliveryError
from riskrelay.models import Envelope, Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.contract import Invalid
from riskrelay.sandbox.unit21 import validate_event
from riskrelay.state.identities import NoIdentities

WHEN = datetime(2026, 11, 21, 12, 0, 30, 999000, tzinfo=UTC)
EPOCH = 1795262430  # WHEN in epoch seconds, milliseconds dropped
SUBJECT = "user-00007"
UNIT21_ACTION_TYPES = {
    "SIGNUP", "LOGIN", "LOGOUT", "BLOCK", "CLOSE", "ACTIVATE",
    "FORGOT_PASSWORD", "PASSWORD_RESET", "PROMO_CODE_USE", "PROFILE_CHANGE",
}  # fmt: skip
# Seed 002's recommended transaction subtypes, and what each payment kind must become.
SEED_TRANSACTION_SUBTYPES = {
    "ach", "deposit", "withdrawal", "p2p", "purchase", "refund", "reversal", "debit",
    "loan_issued", "loan_payment",
}  # fmt: skip
PAYMENT_SUBTYPE = {
    "PURCHASE": "purchase",
    "DEPOSIT": "deposit",
    "WITHDRAWAL": "withdrawal",
    "REFUND": "refund",
    "REDEEM": "purchase",
    "TRANSFER": "p2p",
    "REVERSAL": "reversal",
    "DEBIT": "debit",
    "LOAN_ISSUED": "loan_issued",
    "LOAN_PAYMENT": "loan_payment",
}
EVALUATION_SUBTYPE = {
    "DISPUTE_OPENED": "reversal",
    "REFUNDED": "refund",
    "EARLY_FRAUD_WARNING_RECEIVED": "early_fraud_warning_received",
    "USER_INTERVENTION_RAISED": "user_intervention_raised",
    "USER_INTERVENTION_RESOLVED": "user_intervention_resolved",
}
MONEY_DETAIL = {"DISPUTE_OPENED": "dispute", "REFUNDED": "refund"}


class Identities:
    """An identity lookup over a plain dict keyed by (table, key)."""

    def __init__(self, entries: dict[tuple[str, str], str]) -> None:
        self.entries = entries

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))


def body_of(kind: str) -> dict[str, Any]:
    record = lifecycle_event(random.Random(3), SUBJECT, kind, WHEN)
    source = SourcePosition("risk.lifecycle.v1", 0, 0)
    return normalize(Family.LIFECYCLE, record, source, WHEN).body


def payment_body(kind: str, seed: int = 3, **changes: Any) -> dict[str, Any]:
    """A normalized payment of ``kind`` (demo traffic), its input record changed first."""
    record = payment_event(random.Random(seed), SUBJECT, kind, WHEN)
    record.update(changes)
    source = SourcePosition("risk.payment.v1", 0, 0)
    return normalize(Family.PAYMENT, record, source, WHEN).body


def evaluation_body(kind: str, seed: int = 3, **changes: Any) -> dict[str, Any]:
    record = evaluation_event(random.Random(seed), SUBJECT, kind, WHEN, "pay-0001")
    record.update(changes)
    source = SourcePosition("risk.evaluation.v1", 0, 0)
    return normalize(Family.EVALUATION, record, source, WHEN).body


def major(money: dict[str, Any], places: int) -> float:
    """The expected major-unit float, computed apart from the code under test."""
    return float(Decimal(money["amount_minor"]) / (Decimal(10) ** places))


EXPONENTS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}


def side(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
    """The ``<prefix>*`` fields of ``data`` without the prefix."""
    return {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}


# ---------------------------------------------------------------- lifecycle → action


def test_every_unit21_action_type_has_a_lifecycle_kind() -> None:
    assert set(ACTION_TYPES.values()) == UNIT21_ACTION_TYPES


@pytest.mark.parametrize("kind", LIFECYCLE_KINDS)
def test_every_kind_maps_to_an_action_event(kind: str) -> None:
    body = body_of(kind)
    event = to_unit21_action(body)
    general = event["general_data"]
    assert general["event_id"] == body["event_id"]
    assert general["event_type"] == "action"
    assert general["event_time"] == EPOCH
    assert isinstance(general["event_time"], int)
    assert general["tags"] == ["source:demo"]
    action = event["action_data"]
    assert action["entity_id"] == SUBJECT
    assert action["entity_type"] == "user"
    assert action.get("action_type") == ACTION_TYPES.get(kind.lower())
    assert "transaction_data" not in event
    assert event["digital_data"]["ip_address"] == body["session"]["ip_address"]
    validate_event(event)


def test_challenge_and_profile_details_are_carried() -> None:
    challenge = to_unit21_action(body_of("BUYER_CHALLENGE"))["action_data"]["action_details"]
    assert challenge.startswith("challenge=")
    profile = to_unit21_action(body_of("PROFILE_CHANGE"))
    assert profile["action_data"]["action_details"] == "changed=address"
    assert profile["location_data"] == {
        "street_name": profile["location_data"]["street_name"],
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94103",
        "country": "US",
    }


def test_an_ip_is_sent_in_canonical_form_and_a_malformed_one_left_out() -> None:
    body = body_of("SIGN_IN")
    canonical = {**body, "session": {**body["session"], "ip_address": " 2001:DB8::0:1 "}}
    assert to_unit21_action(canonical)["digital_data"]["ip_address"] == "2001:db8::1"
    malformed = {**body, "session": {**body["session"], "ip_address": "203.0.113"}}
    event = to_unit21_action(malformed)
    assert "ip_address" not in event["digital_data"]
    validate_event(event)


def test_without_an_address_the_location_is_the_ip_country_from_enrichment() -> None:
    body = body_of("SIGN_IN")
    assert body["address"] is None
    ip_signal = {"valid": True, "version": 4, "private": False, "reserved": False}
    located = {**body, "enrichment": {"ip": {**ip_signal, "country": "DE"}}}
    event = to_unit21_action(located)
    assert event["location_data"] == {"country": "DE"}
    validate_event(event)
    unknown = {**body, "enrichment": {"ip": {**ip_signal, "country": None}}}
    assert "location_data" not in to_unit21_action(unknown)


def test_an_address_wins_over_the_ip_country_and_an_unknown_country_is_left_out() -> None:
    body = body_of("PROFILE_CHANGE")
    ip_signal = {"valid": True, "version": 4, "private": False, "reserved": False}
    body = {
        **body,
        "address": {**body["address"], "country": "ZZ"},
        "enrichment": {"ip": {**ip_signal, "country": "DE"}},
    }
    event = to_unit21_action(body)
    assert event["location_data"]["city"] == "San Francisco"
    assert "country" not in event["location_data"]
    validate_event(event)


def test_version_one_creates_with_upsert_later_versions_update() -> None:
    adapter = Unit21Adapter()
    body = body_of("SIGN_IN")
    create = adapter.build_request(body, 1, NoIdentities())
    assert (create.method, create.path) == ("POST", "/v1/events/create")
    assert create.json["options"] == {"upsert_on_conflict": True}
    update = adapter.build_request({**body, "event_id": "evt/with space"}, 2, NoIdentities())
    assert (update.method, update.path) == ("PUT", "/v1/events/evt%2Fwith%20space/update")
    assert "options" not in update.json
    assert adapter.auth_headers("k") == {"u21-key": "k"}


def test_response_ref_reads_the_event_id() -> None:
    adapter = Unit21Adapter()
    ok = ProviderResponse(200, orjson.dumps({"event_id": "e1"}).decode(), {})
    assert adapter.response_ref(ok) == "e1"
    assert adapter.response_ref(ProviderResponse(200, "not json", {})) is None


# ---------------------------------------------------------------- payment → transaction


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_every_payment_kind_maps_to_a_transaction_event(kind: str) -> None:
    body = payment_body(kind)
    payment = body["payment"]
    event = to_unit21_payment(body)
    validate_event(event)
    general = event["general_data"]
    assert general["event_id"] == body["event_id"]
    assert general["event_type"] == "transaction"
    assert general["event_time"] == EPOCH and isinstance(general["event_time"], int)
    ach = kind in ("DEPOSIT", "WITHDRAWAL") and payment["rail"] == "ACH"
    assert general["event_subtype"] == ("ach" if ach else PAYMENT_SUBTYPE[kind])
    assert general["event_subtype"] in SEED_TRANSACTION_SUBTYPES
    assert general["status"] == payment["status"]
    parent = payment["parent_event_id"]
    assert general.get("parents") == ([parent] if parent else None)
    assert (parent is not None) == (kind in ("REFUND", "REVERSAL"))
    assert general["tags"] == ["source:demo"]

    data = event["transaction_data"]
    amount = payment["amount"]
    places = EXPONENTS[amount["currency"]]
    assert data["amount"] == data["sent_amount"] == major(amount, places)
    assert data["sent_currency"] == amount["currency"].lower()
    for source, target in (("fee", "internal_fee"), ("external_fee", "external_fee")):
        money = payment[source]
        assert data.get(target) == (None if money is None else major(money, places))
    received = payment["received"]
    if received is None:
        assert "received_amount" not in data and "received_currency" not in data
    else:
        assert data["received_amount"] == major(received, EXPONENTS[received["currency"]])
        assert data["received_currency"] == received["currency"].lower()
    assert data.get("exchange_rate") == payment["exchange_rate"]
    assert data.get("transaction_hash") == payment["transaction_hash"]
    for name in ("sender", "receiver"):
        party = payment[name]
        assert side(f"{name}_", data) == {
            "entity_id": party["entity_id"],
            "entity_type": party["entity_type"].lower(),
            **({"instrument_id": party["instrument_id"]} if party["instrument_id"] else {}),
        }
    assert event["digital_data"] == {
        "ip_address": body["session"]["ip_address"],
        "client_fingerprint": body["session"]["client_fingerprint"],
    }
    billing = payment["billing_address"]
    if billing is None:
        assert "location_data" not in event
    else:
        assert event["location_data"] == {
            k: v
            for k, v in {
                "street_name": billing["street"],
                "unit_number": billing["unit"],
                "city": billing["city"],
                "state": billing["state"],
                "postal_code": billing["postal_code"],
                "country": billing["country"],
            }.items()
            if v is not None
        }
    custom = event["custom_data"]
    assert custom["kind"] == kind.lower()
    assert custom["payment_id"] == payment["payment_id"]
    assert custom["rail"] == payment["rail"].lower()
    assert custom["is_guest"] is payment["is_guest"]
    assert "action_data" not in event


CASES = [
    # (amount_minor, currency, major float, its JSON text)
    (1050, "USD", 10.5, b"10.5"),
    (1500, "JPY", 1500.0, b"1500.0"),
    (12345, "KWD", 12.345, b"12.345"),
    (1, "BHD", 0.001, b"0.001"),
    (0, "EUR", 0.0, b"0.0"),
    (123456789012345, "USD", 1234567890123.45, b"1234567890123.45"),
]


@pytest.mark.parametrize(("minor", "currency", "expected", "text"), CASES)
def test_money_is_a_float_in_major_units(
    minor: int, currency: str, expected: float, text: bytes
) -> None:
    money = {"amount_minor": minor, "currency": currency}
    body = payment_body(
        "TRANSFER",
        amount=money,
        fee=money,
        external_fee=money,
        received=money,
        exchange_rate=1.0,
    )
    data = to_unit21_payment(body)["transaction_data"]
    for name in ("amount", "sent_amount", "received_amount", "internal_fee", "external_fee"):
        assert type(data[name]) is float
        assert data[name] == expected
        assert orjson.dumps(data[name]) == text
    assert data["sent_currency"] == data["received_currency"] == currency.lower()


def test_cross_currency_amounts_and_rate() -> None:
    body = payment_body(
        "TRANSFER",
        amount={"amount_minor": 150000, "currency": "JPY"},
        received={"amount_minor": 1005, "currency": "USD"},
        exchange_rate=0.0067,
        fee={"amount_minor": 250, "currency": "USD"},
    )
    event = to_unit21_payment(body)
    data = event["transaction_data"]
    assert (data["amount"], data["sent_currency"]) == (150000.0, "jpy")
    assert (data["received_amount"], data["received_currency"]) == (10.05, "usd")
    assert data["exchange_rate"] == 0.0067
    # Unit21 fees have no currency: a fee in another one says which in custom_data
    assert data["internal_fee"] == 2.5
    assert event["custom_data"]["internal_fee_currency"] == "usd"
    validate_event(event)


@pytest.mark.parametrize(
    ("kind", "rail", "subtype"),
    [
        ("DEPOSIT", "ACH", "ach"),
        ("WITHDRAWAL", "ACH", "ach"),
        ("DEPOSIT", "WIRE", "deposit"),
        ("WITHDRAWAL", "SEPA", "withdrawal"),
        ("REVERSAL", "ACH", "reversal"),
        ("LOAN_PAYMENT", "ACH", "loan_payment"),
    ],
)
def test_ach_deposits_and_withdrawals_take_the_ach_subtype(
    kind: str, rail: str, subtype: str
) -> None:
    body = payment_body(kind)
    body["payment"]["rail"] = rail
    event = to_unit21_payment(body)
    assert event["general_data"]["event_subtype"] == subtype
    assert event["custom_data"]["kind"] == kind.lower()  # the direction stays


USER = {"entity_id": SUBJECT, "entity_type": "USER", "instrument_id": None}
SHOP = {"entity_id": "shop-1", "entity_type": "BUSINESS", "instrument_id": "shop-acct"}
CARD = {"bin": "424242", "last4": "4242", "network": "visa", "fingerprint": "cfp_1"}
BANK = {"bank_name": "B", "routing_number": "021000021", "account_last4": "6789"}
WALLET = {"wallet_address": "0xabc", "blockchain": "base"}


@pytest.mark.parametrize(
    ("kind", "sender", "receiver", "instrument", "expected"),
    [
        # the subject defaults to the side its money leaves from...
        ("PURCHASE", None, SHOP, {"card": CARD}, {"sender_entity_id": SUBJECT,
         "sender_entity_type": "user", "sender_instrument_id": "card:cfp_1"}),
        ("LOAN_PAYMENT", None, SHOP, {"bank_account": BANK}, {"sender_entity_id": SUBJECT,
         "sender_entity_type": "user", "sender_instrument_id": "bank:021000021:6789"}),
        # ...or arrives at, for the inbound kinds
        ("REFUND", SHOP, None, {"card": {**CARD, "fingerprint": None}}, {
         "receiver_entity_id": SUBJECT, "receiver_entity_type": "user",
         "receiver_instrument_id": "card:424242:4242"}),
        ("WITHDRAWAL", SHOP, None, {"wallet": WALLET}, {"receiver_entity_id": SUBJECT,
         "receiver_entity_type": "user", "receiver_instrument_id": "wallet:base:0xabc"}),
        # a given subject keeps its side and gets the instrument when it names none
        ("DEBIT", USER, SHOP, {"card": CARD}, {"sender_entity_id": SUBJECT,
         "sender_entity_type": "user", "sender_instrument_id": "card:cfp_1"}),
        ("PURCHASE", {**USER, "instrument_id": "mine"}, SHOP, {"card": CARD},
         {"sender_entity_id": SUBJECT, "sender_entity_type": "user",
          "sender_instrument_id": "mine"}),
    ],
)  # fmt: skip
def test_the_subject_and_its_instrument_default_to_their_side(
    kind: str,
    sender: dict[str, Any] | None,
    receiver: dict[str, Any] | None,
    instrument: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    instruments = {"card": None, "bank_account": None, "wallet": None, **instrument}
    body = payment_body(kind, sender=sender, receiver=receiver, **instruments)
    data = to_unit21_payment(body)["transaction_data"]
    assert {k: v for k, v in data.items() if k in expected} == expected
    other = receiver if "sender_entity_id" in expected else sender
    prefix = "receiver_" if "sender_entity_id" in expected else "sender_"
    assert other is not None
    assert data[f"{prefix}entity_id"] == other["entity_id"]
    assert data[f"{prefix}instrument_id"] == other["instrument_id"]


def test_redeem_credentials_never_reach_unit21() -> None:
    for seed in range(6):  # both auth forms of the demo's redeems
        body = payment_body("REDEEM", seed=seed)
        redeem = body["payment"]["redeem"]
        secrets = [redeem[k] for k in ("auth_wallet", "auth_session_key") if redeem[k]]
        assert secrets
        sent = orjson.dumps(Unit21Adapter().build_request(body, 1, NoIdentities()).json)
        assert not any(secret.encode() in sent for secret in secrets)


def test_blank_tags_are_left_out() -> None:
    body = payment_body("PURCHASE", tags={"source": "demo", "empty": " ", "": "x", "b": "2"})
    event = to_unit21_payment(body)
    assert event["general_data"]["tags"] == ["b:2", "source:demo"]
    validate_event(event)


def test_a_transaction_without_any_party_id_is_refused() -> None:
    body = payment_body("PURCHASE")
    body["payment"]["sender"] = {"entity_id": None, "entity_type": "USER", "instrument_id": None}
    body["payment"]["receiver"] = None
    body["payment"].update(card=None, bank_account=None, wallet=None)
    with pytest.raises(PermanentDeliveryError, match="sender or receiver"):
        to_unit21_payment(body)


# ---------------------------------------------------------------- evaluation → transaction


@pytest.mark.parametrize("kind", EVALUATION_KINDS)
def test_every_evaluation_kind_maps_to_a_transaction_event(kind: str) -> None:
    body = evaluation_body(kind)
    evaluation = body["evaluation"]
    adapter = Unit21Adapter()
    known = Identities({(PAYMENT_EVENTS, "pay-0001"): "evt-the-payment"})
    event = adapter.build_request(body, 1, known).json
    validate_event(event)
    general = event["general_data"]
    assert general["event_type"] == "transaction"
    assert general["event_id"] == body["event_id"]
    assert general["event_time"] == EPOCH
    assert general["event_subtype"] == EVALUATION_SUBTYPE[kind]
    assert general["parents"] == ["evt-the-payment"]
    assert "status" not in general
    data = event["transaction_data"]
    detail = MONEY_DETAIL.get(kind)
    if detail is None:  # no money moves: amount 0, no currency
        assert data == {"amount": 0.0, "sender_entity_id": SUBJECT, "sender_entity_type": "user"}
    else:
        money = evaluation[detail]["amount"]
        assert data == {
            "amount": major(money, EXPONENTS[money["currency"]]),
            "sent_amount": major(money, EXPONENTS[money["currency"]]),
            "sent_currency": money["currency"].lower(),
            "receiver_entity_id": SUBJECT,
            "receiver_entity_type": "user",
        }
    custom = event["custom_data"]
    assert custom["kind"] == kind.lower()
    assert custom["payment_id"] == "pay-0001"
    assert event["digital_data"]["ip_address"] == body["session"]["ip_address"]
    # without a known payment event there is no parent
    assert "parents" not in to_unit21_evaluation(body, None)["general_data"]


def test_evaluation_specifics_land_in_custom_data() -> None:
    def custom(kind: str, **detail: Any) -> dict[str, Any]:
        return to_unit21_evaluation(evaluation_body(kind, **detail), None)["custom_data"]

    money = {"amount_minor": 1050, "currency": "USD"}
    assert custom("DISPUTE_OPENED", dispute={"amount": money, "reason": "FRAUDULENT"}) == {
        "kind": "dispute_opened",
        "payment_id": "pay-0001",
        "dispute_reason": "fraudulent",
    }
    assert (
        custom("REFUNDED", refund={"amount": money, "reason": "DUPLICATE"})["refund_reason"]
        == "duplicate"
    )
    warning = {"fraud_type": "MADE_WITH_STOLEN_CARD"}
    assert (
        custom("EARLY_FRAUD_WARNING_RECEIVED", early_fraud_warning=warning)["fraud_type"]
        == "made_with_stolen_card"
    )
    raised = {"intervention_id": "iv-1", "type": "CUSTOM", "custom_type": "manual_review"}
    assert custom("USER_INTERVENTION_RAISED", intervention_raised=raised) == {
        "kind": "user_intervention_raised",
        "payment_id": "pay-0001",
        "intervention_id": "iv-1",
        "intervention_type": "custom",
        "intervention_custom_type": "manual_review",
    }
    resolved = {"intervention_id": "iv-1", "outcome": "FAILED"}
    assert custom("USER_INTERVENTION_RESOLVED", intervention_resolved=resolved) == {
        "kind": "user_intervention_resolved",
        "payment_id": "pay-0001",
        "intervention_id": "iv-1",
        "intervention_outcome": "failed",
    }


def test_dispute_and_refund_amounts_are_major_units() -> None:
    money = {"amount_minor": 12345, "currency": "KWD"}
    dispute = evaluation_body("DISPUTE_OPENED", dispute={"amount": money, "reason": "GENERAL"})
    data = to_unit21_evaluation(dispute, None)["transaction_data"]
    assert (data["amount"], data["sent_currency"]) == (12.345, "kwd")


# ---------------------------------------------------------------- requests, learning, 423


def envelope(family: Family) -> Envelope:
    source = SourcePosition("t", 0, 0)
    return Envelope("e", SUBJECT, family, "k", Operation.CREATE, False, WHEN, source)


def test_every_family_is_accepted() -> None:
    adapter = Unit21Adapter()
    assert all(adapter.accepts(envelope(family)) for family in Family)


@pytest.mark.parametrize(
    "body",
    [payment_body(k) for k in PAYMENT_KINDS]
    + [evaluation_body(k) for k in EVALUATION_KINDS]
    + [body_of("SIGN_IN")],
    ids=[*PAYMENT_KINDS, *EVALUATION_KINDS, "SIGN_IN"],
)
def test_creates_upsert_and_updates_retry_423(body: dict[str, Any]) -> None:
    adapter = Unit21Adapter()
    create = adapter.build_request(body, 1, NoIdentities())
    assert (create.method, create.path) == ("POST", "/v1/events/create")
    assert create.json["options"] == {"upsert_on_conflict": True}
    assert create.retry_statuses == frozenset()
    validate_event(create.json)
    update = adapter.build_request(body, 3, NoIdentities())
    assert (update.method, update.path) == ("PUT", f"/v1/events/{body['event_id']}/update")
    assert "options" not in update.json
    validate_event(update.json, update=True)
    locked = ProviderResponse(423, '{"error_code": "locked"}', {})
    assert isinstance(classify(locked, update), TransientDeliveryError)
    assert isinstance(classify(locked, create), PermanentDeliveryError)


def test_the_sandbox_refuses_what_unit21_would() -> None:
    # the validator the tests lean on is strict: a float event_time or a missing id fails
    event = to_unit21_payment(payment_body("PURCHASE"))
    with pytest.raises(Invalid, match="event_time"):
        validate_event({**event, "general_data": {**event["general_data"], "event_time": 1.5}})
    with pytest.raises(Invalid, match="at least one of"):
        validate_event({**event, "transaction_data": {"amount": 1.0}})


def test_a_parentless_payment_create_teaches_its_event_id() -> None:
    adapter = Unit21Adapter()
    ok = ProviderResponse(200, "{}", {})
    purchase = payment_body("PURCHASE")
    create = adapter.build_request(purchase, 1, NoIdentities())
    [learned] = adapter.learn(purchase, create, ok)
    assert (learned.table, learned.key, learned.value) == (
        PAYMENT_EVENTS,
        purchase["payment"]["payment_id"],
        purchase["event_id"],
    )
    update = adapter.build_request(purchase, 2, NoIdentities())
    assert adapter.learn(purchase, update, ok) == []
    refund = payment_body("REFUND")  # alters another payment: not the payment's own event
    assert adapter.learn(refund, adapter.build_request(refund, 1, NoIdentities()), ok) == []
    sign_in = body_of("SIGN_IN")
    assert adapter.learn(sign_in, adapter.build_request(sign_in, 1, NoIdentities()), ok) == []


def test_requests_are_json_serializable() -> None:
    request = Unit21Adapter().build_request(payment_body("PURCHASE"), 1, NoIdentities())
    assert isinstance(request, ProviderRequest)
    assert orjson.loads(orjson.dumps(request.json)) == request.json
