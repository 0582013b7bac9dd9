"""The Dataspike mapping against the contract in providers.md §4 and seed 003, checked
with the Dataspike sandbox's own validators (pure functions, no HTTP)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from riskrelay.deliver.dispatcher import Dispatcher, Provider
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.providers.dataspike import (
    APPLICANT_TABLE,
    APPLICANTS_PATH,
    PAYMENT_PATH,
    TRANSACTION_PATH,
    DataspikeAdapter,
    to_dataspike_applicant,
    to_dataspike_payment,
)
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.dev.demo import PAYMENT_KINDS, lifecycle_event, payment_event
from riskrelay.errors import PermanentDeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Envelope, Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.dataspike import APPLICANT, PAYMENT, validate_transaction
from riskrelay.state.identities import NoIdentities
from tests.unit.deliver.fakes import ScriptedHttp

WHEN = datetime(2026, 11, 21, 12, 0, 30, 999000, tzinfo=UTC)
SUBJECT = "user-00042"
APPLICANT_ID = "6f1c2a3e-8b4d-4c5e-9f60-718293a4b5c6"
SOURCE = SourcePosition("risk.payment.v1", 0, 0)
SEED_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"


class Identities:
    """An ``IdentityLookup`` over a plain dict."""

    def __init__(self, entries: dict[tuple[str, str], str] | None = None) -> None:
        self.entries = dict(entries or {})

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))


KNOWN = Identities({(APPLICANT_TABLE, SUBJECT): APPLICANT_ID})


def raw_payment(kind: str = "PURCHASE", seed: int = 5) -> AvroRecord:
    """A ``payment.avsc`` record with the rail-dependent parts pinned (card payment)."""
    record = payment_event(random.Random(seed), SUBJECT, kind, WHEN)
    record.update(
        rail="CARD",
        card={
            "bin": "25970312",
            "last4": "4242",
            "network": "visa",
            "fingerprint": None,
            "country": "GB",
            "three_ds": None,
        },
        bank_account=None,
        wallet=None,
        transaction_hash=None,
        billing_address={
            "street": "8247 Christopher Mountains",
            "unit": "Apt. 462",
            "city": "Anytown",
            "state": "NC",
            "postal_code": "27315",
            "country": "us",
        },
    )
    return record


def normalized(record: AvroRecord) -> AvroRecord:
    body: AvroRecord = normalize(Family.PAYMENT, record, SOURCE, WHEN).body
    return {**body, "version": 1, "operation": "CREATE"}


def with_path(record: AvroRecord, path: str, value: Any) -> AvroRecord:
    """A deep copy of ``record`` with the dotted ``path`` set to ``value``."""
    head, _, rest = path.partition(".")
    copy = dict(record)
    copy[head] = with_path(copy[head] or {}, rest, value) if rest else value
    return copy


# canonical input path, value → Dataspike payment field, value sent
PAYMENT_FIELDS: list[tuple[str, Any, str, Any]] = [
    ("session.ip_address", " 27.134.25.17 ", "user_ip_address", "27.134.25.17"),
    ("session.ip_address", "2001:DB8::0:1", "user_ip_address", "2001:db8::1"),
    ("session.user_agent", SEED_UA, "user_agent", SEED_UA),
    ("session.device_id", "nmljasfdKsed8keM#@2k", "user_device_id", "nmljasfdKsed8keM#@2k"),
    ("session.session_started_at", WHEN - timedelta(seconds=7200.9), "session_duration", 7200),
    ("session.session_started_at", WHEN, "session_duration", 0),
    ("user.email", "MyVeryNiceLogin@Example.com", "user_email_address",
     "myverynicelogin@example.com"),
    ("user.phone", "+1 123 456-898-87", "user_phone_number", "+1 123 456-898-87"),
    ("user.risk_score", 27, "user_current_risk_score", 27),
    ("user.risk_score", 0, "user_current_risk_score", 0),
    ("amount", {"amount_minor": 56000, "currency": "USD"}, "checkout_price", "560.00"),
    ("amount", {"amount_minor": 1500, "currency": "jpy"}, "checkout_price", "1500"),
    ("amount", {"amount_minor": 12345, "currency": "KWD"}, "checkout_price", "12.345"),
    ("amount", {"amount_minor": 5, "currency": "EUR"}, "checkout_price", "0.05"),
    ("amount", {"amount_minor": 0, "currency": "USD"}, "checkout_price", "0.00"),
    ("is_guest", True, "checkout_isguest", True),
    ("is_guest", False, "checkout_isguest", False),
    ("billing_address.street", "8247 Christopher Mountains", "checkout_billing_address",
     "8247 Christopher Mountains, Apt. 462"),
    ("billing_address.unit", None, "checkout_billing_address", "8247 Christopher Mountains"),
    ("billing_address.postal_code", "27315", "checkout_billing_zip", "27315"),
    ("billing_address.country", "de", "checkout_billing_country", "DE"),
    ("card.bin", "25970312", "checkout_card_bin", "259703"),
    ("card.bin", "424242", "checkout_card_bin", "424242"),
    ("shipping_address", {"street": "9143 Wendy Park", "unit": "Suite 894",
                          "postal_code": "84639", "country": "US"},
     "checkout_shipping_address", "9143 Wendy Park, Suite 894"),
    ("shipping_address.postal_code", "84639", "checkout_shipping_zip", "84639"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "field", "sent"), PAYMENT_FIELDS)
def test_each_canonical_field_lands_in_its_dataspike_field(
    path: str, value: Any, field: str, sent: Any
) -> None:
    body = normalized(with_path(raw_payment(), path, value))
    event = to_dataspike_payment(body)
    assert event[field] == sent
    assert type(event[field]) is type(sent)
    PAYMENT({"applicant_id": APPLICANT_ID, **event}, "")


def test_a_full_purchase_is_exactly_the_seed_shape() -> None:
    record = raw_payment()
    record["amount"] = {"amount_minor": 56000, "currency": "USD"}
    record["is_guest"] = True
    record["user"] = {**record["user"], "email": "a@example.com", "phone": "+1 415 555 0100"}
    record["user"]["risk_score"] = 27
    record["session"] = {
        "session_id": "s-1",
        "session_started_at": WHEN - timedelta(hours=2),
        "ip_address": "27.134.25.17",
        "user_agent": SEED_UA,
        "device_id": "dev-1",
        "client_fingerprint": "fp-1",
    }
    record["shipping_address"] = {"street": "9143 Wendy Park Suite 894", "postal_code": "84639"}
    request = DataspikeAdapter().build_request(normalized(record), 1, KNOWN)
    assert (request.method, request.path, request.prerequisite) == ("POST", PAYMENT_PATH, False)
    assert request.json == {
        "applicant_id": APPLICANT_ID,
        "user_ip_address": "27.134.25.17",
        "user_agent": SEED_UA,
        "user_device_id": "dev-1",
        "session_duration": 7200,
        "user_email_address": "a@example.com",
        "user_phone_number": "+1 415 555 0100",
        "user_current_risk_score": 27,
        "checkout_price": "560.00",
        "checkout_isguest": True,
        "checkout_billing_address": "8247 Christopher Mountains, Apt. 462",
        "checkout_billing_zip": "27315",
        "checkout_billing_country": "US",
        "checkout_card_bin": "259703",
        "checkout_shipping_address": "9143 Wendy Park Suite 894",
        "checkout_shipping_zip": "84639",
    }
    PAYMENT(request.json, "")


def test_without_a_profile_registration_and_initial_score_are_omitted() -> None:
    event = to_dataspike_payment(normalized(raw_payment()))
    assert "user_ds_registration" not in event and "user_initial_risk_score" not in event


def profile_signals(**values: Any) -> AvroRecord:
    """A ``ProfileSignals`` record (normalized.avsc) with ``values`` set."""
    return {
        "registered_at": None,
        "registration_source": "first_seen",
        "first_seen_at": None,
        "last_seen_at": None,
        "days_since_registration": None,
        "session_started_at": None,
        "seconds_since_session_start": None,
        "failed_sign_ins_1h": 0,
        "failed_sign_ins_24h": 0,
        "new_device": False,
        "new_ip": False,
        "new_country": False,
        "velocity_1h": 1,
        "initial_risk_score": None,
        "current_risk_score": None,
        "countries": [],
        **values,
    }


def test_profile_signals_fill_registration_session_and_both_scores() -> None:
    record = raw_payment()
    record["user"]["risk_score"] = 80  # the event's own score: the profile's latest wins
    record["session"]["session_started_at"] = WHEN - timedelta(hours=5)
    profile = profile_signals(
        days_since_registration=3,
        seconds_since_session_start=900,
        initial_risk_score=15.0,
        current_risk_score=27.0,
    )
    event = to_dataspike_payment({**normalized(record), "profile": profile})
    assert event["user_ds_registration"] == 3
    assert event["session_duration"] == 900
    assert (event["user_initial_risk_score"], event["user_current_risk_score"]) == (15, 27)
    assert all(
        type(event[k]) is int for k in ("user_initial_risk_score", "user_current_risk_score")
    )
    PAYMENT({"applicant_id": APPLICANT_ID, **event}, "")


def test_a_profile_without_session_or_scores_sends_none_of_them() -> None:
    record = raw_payment()
    record["user"]["risk_score"] = 80
    record["session"]["session_started_at"] = WHEN - timedelta(hours=5)
    event = to_dataspike_payment({**normalized(record), "profile": profile_signals()})
    for field in ("user_ds_registration", "session_duration", "user_initial_risk_score"):
        assert field not in event
    assert event["user_current_risk_score"] == 80  # no profile score: the event's


@pytest.mark.parametrize(
    ("signal", "value", "field"),
    [
        ("days_since_registration", -1, "user_ds_registration"),
        ("seconds_since_session_start", -5, "session_duration"),
        ("initial_risk_score", 100.6, "user_initial_risk_score"),
        ("initial_risk_score", float("nan"), "user_initial_risk_score"),
        ("current_risk_score", -0.6, "user_current_risk_score"),
    ],
)
def test_a_profile_value_dataspike_would_refuse_is_omitted(
    signal: str, value: Any, field: str
) -> None:
    record = raw_payment()
    record["user"]["risk_score"] = None
    body = {**normalized(record), "profile": profile_signals(**{signal: value})}
    event = to_dataspike_payment(body)
    assert field not in event
    PAYMENT({"applicant_id": APPLICANT_ID, **event}, "")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("user.email", "a@b@example.com", "user_email_address"),
        ("user.email", "ada@example.", "user_email_address"),
        ("user.phone", "   ", "user_phone_number"),
        ("session.ip_address", "27.134.25", "user_ip_address"),
        ("session.session_started_at", WHEN + timedelta(seconds=5), "session_duration"),
        ("user.risk_score", 101, "user_current_risk_score"),
        ("payment.card.bin", "12ab56", "checkout_card_bin"),
        ("payment.card.bin", "12345", "checkout_card_bin"),
    ],
)
def test_a_field_dataspike_would_refuse_is_omitted_not_sent(
    path: str, value: Any, field: str
) -> None:
    """Hand-built bodies: the normalizer rejects some of these before any adapter."""
    body = with_path(normalized(raw_payment()), path, value)
    event = to_dataspike_payment(body)
    assert field not in event
    PAYMENT({"applicant_id": APPLICANT_ID, **event}, "")


@pytest.mark.parametrize(
    ("billing", "card", "user", "expected"),
    [
        ("fr", "GB", "US", "FR"),
        (None, "gb", "US", "GB"),
        (None, None, "us", "US"),
        ("XX", None, "JP", "JP"),
    ],
)
def test_billing_country_falls_back_to_card_then_user(
    billing: str | None, card: str | None, user: str, expected: str
) -> None:
    body = normalized(raw_payment())
    body = with_path(body, "payment.billing_address.country", billing)
    body = with_path(body, "payment.card.country", card)
    body = with_path(body, "user.country", user)
    assert to_dataspike_payment(body)["checkout_billing_country"] == expected


def test_no_country_anywhere_fails_permanently_before_any_call() -> None:
    body = normalized(raw_payment())
    body = with_path(body, "payment.billing_address.country", None)
    body = with_path(body, "payment.card.country", "ZZ")
    body = with_path(body, "user.country", None)
    for identities in (NoIdentities(), KNOWN):  # no applicant is created for it either
        with pytest.raises(PermanentDeliveryError) as raised:
            DataspikeAdapter().build_request(body, 1, identities)
        message = str(raised.value)
        assert "checkout_billing_country is required" in message
        assert "payment.billing_address.country is not set" in message
        assert "payment.card.country 'ZZ' is unknown" in message
        assert "user.country is not set" in message


@pytest.mark.parametrize("kind", ["DEPOSIT", "WITHDRAWAL", "TRANSFER"])
def test_transaction_kinds_map_to_transaction_events(kind: str) -> None:
    record = raw_payment(kind)
    record["amount"] = {"amount_minor": 12345, "currency": "kwd"}
    body = normalized(record)
    request = DataspikeAdapter().build_request(body, 1, KNOWN)
    assert (request.path, request.prerequisite) == (TRANSACTION_PATH, False)
    event = request.json
    payment, session = body["payment"], body["session"]
    assert event["applicant_id"] == APPLICANT_ID
    assert event["transaction_type"] == kind
    assert (event["currency_code"], event["amount"]) == ("KWD", "12.345")
    assert event["session_id"] == session["session_id"]
    assert event["channel"] == payment["channel"]
    assert event["session_login_name"] == body["user"]["username"]
    assert event["payor_entity_id"] == payment["sender"]["entity_id"]
    assert event["payee_entity_id"] == payment["receiver"]["entity_id"]
    assert event.get("payor_account_id") == payment["sender"]["instrument_id"]
    assert event.get("payee_account_id") == payment["receiver"]["instrument_id"]
    assert event["payor_address_line_1"] == "8247 Christopher Mountains, Apt. 462"
    assert (event["payor_zip"], event["payor_city"], event["payor_state"]) == (
        "27315",
        "Anytown",
        "NC",
    )
    assert event["payor_country_cd"] == "US"
    assert event["user_ip_address"] == session["ip_address"]
    assert not any(name.startswith("checkout_") for name in event)
    validate_transaction(event)


@pytest.mark.parametrize("seed", range(60))
def test_demo_payments_satisfy_the_sandbox_contract(seed: int) -> None:
    rng = random.Random(seed)
    kind = rng.choice(["PURCHASE", "DEPOSIT", "WITHDRAWAL", "TRANSFER"])
    body = normalized(payment_event(rng, f"user-{seed:05d}", kind, WHEN))
    adapter = DataspikeAdapter()
    create = adapter.build_request(body, 1, NoIdentities())
    APPLICANT(create.json, "")
    subject = Identities({(APPLICANT_TABLE, body["subject_id"]): APPLICANT_ID})
    request = adapter.build_request(body, 1, subject)
    if kind == "PURCHASE":
        PAYMENT(request.json, "")
    else:
        validate_transaction(request.json)


def envelope(family: Family, kind: str) -> Envelope:
    return Envelope("e", SUBJECT, family, kind, Operation.CREATE, False, WHEN, SOURCE)


def test_accepts_purchases_and_transactions_only() -> None:
    adapter = DataspikeAdapter()
    kinds = [kind.lower() for kind in PAYMENT_KINDS]
    accepted = {kind for kind in kinds if adapter.accepts(envelope(Family.PAYMENT, kind))}
    assert accepted == {"purchase", "deposit", "withdrawal", "transfer"}
    assert not adapter.accepts(envelope(Family.LIFECYCLE, "sign_up"))
    assert not adapter.accepts(envelope(Family.EVALUATION, "refunded"))
    assert adapter.auth_headers("k") == {"ds-api-token": "k"}


def test_an_unknown_subject_first_creates_its_applicant() -> None:
    record = raw_payment()
    record["user"] = {
        **record["user"],
        "email": "Ada@Example.com",
        "phone": "+44 20 7946 0000",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": date(1815, 12, 10),
    }
    request = DataspikeAdapter().build_request(normalized(record), 1, NoIdentities())
    assert (request.method, request.path) == ("POST", APPLICANTS_PATH)
    assert request.prerequisite and request.accept_statuses == frozenset({409})
    assert request.json == {
        "external_id": SUBJECT,
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "info": {"first_name": "Ada", "last_name": "Lovelace", "dob": "1815-12-10"},
    }
    APPLICANT(request.json, "")


def test_an_applicant_without_details_is_just_the_external_id() -> None:
    body = {**normalized(raw_payment()), "user": None}
    assert to_dataspike_applicant(body) == {"external_id": SUBJECT}
    body = with_path(normalized(raw_payment()), "user.email", "not@valid")
    assert "email" not in to_dataspike_applicant(body)


def test_a_known_subject_reuses_its_applicant() -> None:
    body = normalized(raw_payment())
    request = DataspikeAdapter().build_request(body, 1, KNOWN)
    assert request.path == PAYMENT_PATH and request.json["applicant_id"] == APPLICANT_ID
    other = {**body, "subject_id": "user-00043"}
    assert DataspikeAdapter().build_request(other, 1, KNOWN).path == APPLICANTS_PATH


def applicant_create() -> ProviderRequest:
    return DataspikeAdapter().build_request(normalized(raw_payment()), 1, NoIdentities())


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, {"id": APPLICANT_ID}),
        (409, {"error": "external_id: 'user-00042' is already registered", "id": APPLICANT_ID}),
        (200, {"id": APPLICANT_ID.upper()}),
    ],
)
def test_learns_the_applicant_from_a_create_or_its_409(status: int, answer: Any) -> None:
    response = ProviderResponse(status, orjson.dumps(answer).decode(), {})
    learned = DataspikeAdapter().learn(normalized(raw_payment()), applicant_create(), response)
    assert [(i.table, i.key, i.value) for i in learned] == [
        (APPLICANT_TABLE, SUBJECT, APPLICANT_ID)
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, '{"error": "external_id: already registered"}'),
        (200, '{"id": "applicant-7"}'),
        (200, "not json"),
    ],
)
def test_an_answer_without_a_usable_id_fails_permanently(status: int, body: str) -> None:
    response = ProviderResponse(status, body, {})
    with pytest.raises(PermanentDeliveryError, match="without a usable applicant id"):
        DataspikeAdapter().learn(normalized(raw_payment()), applicant_create(), response)


def test_other_answers_teach_nothing() -> None:
    adapter, body = DataspikeAdapter(), normalized(raw_payment())
    payment = adapter.build_request(body, 1, KNOWN)
    event_id = str(uuid.uuid4())
    answer = ProviderResponse(200, orjson.dumps({"event_id": event_id}).decode(), {})
    assert adapter.learn(body, payment, answer) == []
    assert adapter.response_ref(answer) == event_id
    refused = ProviderResponse(400, '{"error": "email: must be a valid email address"}', {})
    assert adapter.learn(body, applicant_create(), refused) == []
    assert adapter.response_ref(refused) is None


def test_a_create_answered_without_an_id_ends_the_delivery_after_one_call() -> None:
    """The scripted 200 carries no ``id``: one call, then a clear permanent error
    rather than the same create again until the dispatcher's step cap."""
    http = ScriptedHttp([200])
    target = Provider(DataspikeAdapter(), ProviderLane("dataspike", http, ProviderPolicy()))
    event = normalize(Family.PAYMENT, raw_payment(), SOURCE, WHEN)

    async def scenario() -> Any:
        dispatcher = Dispatcher([target], WorkerMetrics())
        [outcome] = await dispatcher.deliver(
            [target], event.envelope, normalized(raw_payment()), 1, NoIdentities()
        )
        await dispatcher.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert [r.path for r in http.sent] == [APPLICANTS_PATH]
    assert isinstance(outcome.error, PermanentDeliveryError)
    assert "without a usable applicant id" in str(outcome.error)
    assert outcome.learned == ()


def test_other_payment_kinds_and_families_are_refused() -> None:
    adapter = DataspikeAdapter()
    body = {**normalized(raw_payment()), "kind": "refund"}
    with pytest.raises(PermanentDeliveryError, match="takes no PAYMENT refund events"):
        adapter.build_request(body, 1, KNOWN)
    lifecycle = lifecycle_event(random.Random(1), SUBJECT, "SIGN_IN", WHEN)
    body = normalize(Family.LIFECYCLE, lifecycle, SourcePosition("t", 0, 0), WHEN).body
    with pytest.raises(PermanentDeliveryError):
        adapter.build_request(body, 1, KNOWN)
