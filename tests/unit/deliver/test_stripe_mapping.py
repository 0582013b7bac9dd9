"""The Stripe payment-evaluation mapping against seed 004, providers.md §5 and the
sandbox's validation (the executable contract)."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskrelay.deliver.providers.stripe import (
    EVALUATIONS,
    INTERVENTIONS,
    STRIPE_VERSION,
    StripeAdapter,
    idempotency_key,
)
from riskrelay.deliver.request import NothingToSend, ProviderRequest, ProviderResponse
from riskrelay.dev.demo import EVALUATION_KINDS, PAYMENT_KINDS, evaluation_event, payment_event
from riskrelay.enrich.stateless import EnrichOptions, enrich
from riskrelay.errors import AwaitingIdentityError, PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.forms import parse_form
from riskrelay.sandbox.stripe import validate_event
from riskrelay.schemas import schema_text
from riskrelay.state.identities import Identity, NoIdentities

WHEN = datetime(2026, 11, 21, 12, 0, 30, 999000, tzinfo=UTC)
EPOCH_S = "1795262430"  # WHEN in whole seconds: the milliseconds are dropped
PAYMENT_ID = "pay-0007"
EVALUATION_ID = "peval_d78144f3a17bfdd0f6c9e760"
KEY = "dfd3503f-b2cb-4382-a3e2-d1dc254f0ff2"
SOURCE = SourcePosition("risk.test.v1", 0, 0)


class Known:
    """An identity lookup over a dict, as the worker's partition table answers."""

    def __init__(self, *identities: Identity) -> None:
        self.entries = {(i.table, i.key): i.value for i in identities}

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))


EVALUATED = Known(Identity(EVALUATIONS, PAYMENT_ID, EVALUATION_ID))
RAISED_BEFORE = Known(
    Identity(EVALUATIONS, PAYMENT_ID, EVALUATION_ID), Identity(INTERVENTIONS, "intv-1", KEY)
)


def known_for(kind: str) -> Known:
    """What the worker knows when ``kind`` is reported: the payment's evaluation, and for
    a resolution the key its raised intervention got."""
    return RAISED_BEFORE if kind == "USER_INTERVENTION_RESOLVED" else EVALUATED


def payment(kind: str = "PURCHASE", seed: int = 3, **fields: Any) -> AvroRecord:
    record = payment_event(random.Random(seed), "user-00007", kind, WHEN, payment_id=PAYMENT_ID)
    return normalize(Family.PAYMENT, {**record, **fields}, SOURCE, WHEN).body


def evaluation(kind: str, seed: int = 3, **details: Any) -> AvroRecord:
    record = evaluation_event(
        random.Random(seed), "user-00007", kind, WHEN, PAYMENT_ID, intervention_id="intv-1"
    )
    for name, value in details.items():
        record[name] = {**record[name], **value} if isinstance(value, dict) else value
    return normalize(Family.EVALUATION, record, SOURCE, WHEN).body


def form(request: ProviderRequest) -> dict[str, str]:
    assert request.form is not None
    return dict(request.form)


def parsed(request: ProviderRequest) -> dict[str, Any]:
    """The request body as the sandbox reads it."""
    assert request.form is not None
    return parse_form(urlencode(request.form).encode())


def enum_symbols(name: str) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum" and node.get("name") == name:
                found.extend(node["symbols"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(schema_text("normalized")))
    assert found, name
    return found


# -- payments → create ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_minor", "currency"), [(1050, "USD"), (1050, "JPY"), (1050, "KWD"), (1, "EUR")]
)
def test_payment_fields_land_in_the_create_parameters(amount_minor: int, currency: str) -> None:
    body = payment(amount={"amount_minor": amount_minor, "currency": currency}, details="order 7")
    request = StripeAdapter().build_request(body, 1, NoIdentities())
    assert (request.method, request.path) == ("POST", "/v1/radar/payment_evaluations")
    user, shipping = body["user"], body["payment"]["shipping_address"]
    expected = {
        "customer_details[email]": user["email"],
        "customer_details[name]": f"{user['first_name']} {user['last_name']}",
        "customer_details[phone]": user["phone"],
        "payment_details[amount]": str(amount_minor),  # minor units, whatever the exponent
        "payment_details[currency]": currency.lower(),
        "payment_details[description]": "order 7",
        "payment_details[shipping_details][address][line1]": shipping["street"],
        "payment_details[shipping_details][address][city]": shipping["city"],
        "payment_details[shipping_details][address][state]": shipping["state"],
        "payment_details[shipping_details][address][postal_code]": shipping["postal_code"],
        "payment_details[shipping_details][address][country]": shipping["country"],
        "metadata[payment_id]": PAYMENT_ID,
        "metadata[event_id]": body["event_id"],
        "metadata[subject_id]": "user-00007",
        "metadata[source]": "demo",  # the event's tags
    }
    if shipping["unit"]:
        expected["payment_details[shipping_details][address][line2]"] = shipping["unit"]
    assert form(request) == expected
    assert "customer_details[customer]" not in form(request)  # a Stripe id we do not have


def test_create_leaves_out_what_the_payment_lacks() -> None:
    body = payment(user=None, shipping_address=None, tags={})
    assert form(StripeAdapter().build_request(body, 1, NoIdentities())) == {
        "payment_details[amount]": str(body["payment"]["amount"]["amount_minor"]),
        "payment_details[currency]": body["payment"]["amount"]["currency"].lower(),
        "metadata[payment_id]": PAYMENT_ID,
        "metadata[event_id]": body["event_id"],
        "metadata[subject_id]": "user-00007",
    }


def test_tags_that_stripe_metadata_cannot_hold_are_left_out() -> None:
    tags = {"k" * 41: "long key", "empty": "", "big": "v" * 501, "payment_id": "clash", "ok": "1"}
    tags |= {f"t{i:02d}": "x" for i in range(60)}
    metadata = parsed(StripeAdapter().build_request(payment(tags=tags), 1, NoIdentities()))[
        "metadata"
    ]
    assert len(metadata) == 50
    assert metadata["payment_id"] == PAYMENT_ID and metadata["ok"] == "1"
    assert not {"k" * 41, "empty", "big"} & metadata.keys()


# -- malformed values (kept by normalization, flagged by enrichment) ----------------------


def enriched(body: AvroRecord) -> AvroRecord:
    return enrich(body, EnrichOptions(ip_country=None))


def with_user(body: AvroRecord, **user: Any) -> AvroRecord:
    return {**body, "user": {**body["user"], **user}}


def malformed_payment() -> AvroRecord:
    """A purchase normalized from a record with a malformed e-mail, phone and shipping
    country (normalization keeps them)."""
    record = payment_event(random.Random(3), "user-00007", "PURCHASE", WHEN, payment_id=PAYMENT_ID)
    record["user"] = {**record["user"], "email": "Nobody@", "phone": "12"}
    record["shipping_address"] = {**record["shipping_address"], "country": "xx"}
    body = normalize(Family.PAYMENT, record, SOURCE, WHEN).body
    assert (body["user"]["email"], body["user"]["phone"]) == ("nobody@", "12")
    assert body["payment"]["shipping_address"]["country"] == "XX"
    return body


@pytest.mark.parametrize("with_enrichment", [True, False], ids=["enriched", "not-enriched"])
def test_a_malformed_email_phone_and_shipping_country_are_left_out(with_enrichment: bool) -> None:
    body = malformed_payment()
    if with_enrichment:
        body = enriched(body)
        assert {
            "email_invalid",
            "phone_invalid",
            "country_invalid:payment.shipping_address.country",
        } <= set(body["enrichment"]["flags"])
    sent = parsed(StripeAdapter().build_request(body, 1, NoIdentities()))
    user, shipping = body["user"], body["payment"]["shipping_address"]
    assert sent["customer_details"] == {"name": f"{user['first_name']} {user['last_name']}"}
    address = sent["payment_details"]["shipping_details"]["address"]
    assert "country" not in address  # the rest of the address still goes
    assert (address["line1"], address["postal_code"]) == (
        shipping["street"],
        shipping["postal_code"],
    )


def test_a_shipping_address_of_only_a_malformed_country_is_left_out() -> None:
    body = malformed_payment()
    body["payment"]["shipping_address"] = {
        name: None for name in body["payment"]["shipping_address"]
    } | {"country": "XX"}
    sent = parsed(StripeAdapter().build_request(enriched(body), 1, NoIdentities()))
    assert "shipping_details" not in sent["payment_details"]


def test_the_phone_goes_in_the_e164_form_enrichment_found() -> None:
    body = enriched(with_user(payment(), phone="020 7946 0018", country="GB"))
    assert "phone_invalid" not in body["enrichment"]["flags"]
    sent = form(StripeAdapter().build_request(body, 1, NoIdentities()))
    assert sent["customer_details[phone]"] == "+442079460018"


def test_the_enrichment_flags_decide_what_is_malformed() -> None:
    """A flagged value is left out even where it looks fine, and a value enrichment did not
    flag is sent: one judgment, the enrichment stage's."""
    body = enriched(payment())
    assert body["enrichment"]["flags"] == []
    before = form(StripeAdapter().build_request(body, 1, NoIdentities()))
    assert before["customer_details[email]"] == body["user"]["email"]
    flags = ["phone_invalid", "country_invalid:payment.shipping_address.country"]
    after = form(
        StripeAdapter().build_request(
            {**body, "enrichment": {**body["enrichment"], "flags": flags}}, 1, NoIdentities()
        )
    )
    gone = {"customer_details[phone]", "payment_details[shipping_details][address][country]"}
    assert gone <= before.keys()
    assert after == {k: v for k, v in before.items() if k not in gone}


# -- evaluation events → report_events -----------------------------------------------

REPORT_PATH = f"/v1/payment_evaluations/{EVALUATION_ID}/report_events"


@pytest.mark.parametrize(
    ("kind", "details", "expected"),
    [
        (
            "DISPUTE_OPENED",
            {
                "dispute": {
                    "amount": {"amount_minor": 1050, "currency": "JPY"},
                    "reason": "FRAUDULENT",
                }
            },
            {"amount": "1050", "currency": "jpy", "reason": "fraudulent"},
        ),
        (
            "EARLY_FRAUD_WARNING_RECEIVED",
            {"early_fraud_warning": {"fraud_type": "UNAUTHORIZED_USE_OF_CARD"}},
            {"fraud_type": "unauthorized_use_of_card"},
        ),
        (
            "REFUNDED",
            {
                "refund": {
                    "amount": {"amount_minor": 12345, "currency": "KWD"},
                    "reason": "DUPLICATE",
                }
            },
            {"amount": "12345", "currency": "kwd", "reason": "duplicate"},
        ),
        (
            "USER_INTERVENTION_RAISED",
            {"intervention_raised": {"type": "THREE_DS", "custom_type": None}},
            {"type": "3ds"},
        ),
        (
            "USER_INTERVENTION_RAISED",
            {"intervention_raised": {"type": "CUSTOM", "custom_type": "manual_review"}},
            {"type": "custom", "custom": {"type": "manual_review"}},
        ),
        (
            "USER_INTERVENTION_RESOLVED",
            {"intervention_resolved": {"outcome": "ABANDONED"}},
            {"key": KEY, "outcome": "abandoned"},
        ),
    ],
)
def test_evaluation_fields_land_in_the_reported_event(
    kind: str, details: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = evaluation(kind, metadata={"order_id": "ord-1"}, **details)
    request = StripeAdapter().build_request(body, 1, known_for(kind))
    assert (request.method, request.path) == ("POST", REPORT_PATH)
    stripe_kind = kind.lower()
    assert parsed(request) == {
        "events": [{"occurred_at": EPOCH_S, "type": stripe_kind, stripe_kind: expected}],
        "metadata": {"order_id": "ord-1"},
    }


@pytest.mark.parametrize(
    ("kind", "field", "enum", "attribute"),
    [
        ("DISPUTE_OPENED", "dispute", "DisputeReason", "reason"),
        ("EARLY_FRAUD_WARNING_RECEIVED", "early_fraud_warning", "FraudType", "fraud_type"),
        ("REFUNDED", "refund", "RefundReason", "reason"),
        ("USER_INTERVENTION_RAISED", "intervention_raised", "InterventionType", "type"),
        ("USER_INTERVENTION_RESOLVED", "intervention_resolved", "InterventionOutcome", "outcome"),
    ],
)
def test_every_schema_symbol_is_a_value_the_sandbox_accepts(
    kind: str, field: str, enum: str, attribute: str
) -> None:
    known = known_for(kind)
    for symbol in enum_symbols(enum):
        extra = {"custom_type": "manual_review" if symbol == "CUSTOM" else None}
        details = {attribute: symbol, **(extra if field == "intervention_raised" else {})}
        request = StripeAdapter().build_request(evaluation(kind, **{field: details}), 1, known)
        [event] = parsed(request)["events"]
        validate_event(event, "events[0]")  # raises Invalid on anything Stripe refuses


def test_an_evaluation_for_a_payment_stripe_has_not_seen_awaits_it() -> None:
    body = evaluation("REFUNDED")
    with pytest.raises(AwaitingIdentityError) as refused:
        StripeAdapter().build_request(body, 1, NoIdentities())
    assert str(refused.value) == (
        f"no Stripe payment evaluation for payment {PAYMENT_ID}"
        " (the payment was not delivered to Stripe)"
    )


def test_a_resolution_of_an_intervention_stripe_never_saw_is_refused() -> None:
    with pytest.raises(PermanentDeliveryError, match="no Stripe key for intervention intv-1"):
        StripeAdapter().build_request(evaluation("USER_INTERVENTION_RESOLVED"), 1, EVALUATED)


def test_evaluation_ids_are_quoted_in_the_path() -> None:
    known = Known(Identity(EVALUATIONS, PAYMENT_ID, "peval_a/b c"))
    request = StripeAdapter().build_request(evaluation("REFUNDED"), 1, known)
    assert request.path == "/v1/payment_evaluations/peval_a%2Fb%20c/report_events"


# -- headers, routing, updates -------------------------------------------------------


def test_headers() -> None:
    adapter = StripeAdapter()
    expected = "Basic " + base64.b64encode(b"sk_test_x:").decode()
    assert adapter.auth_headers("sk_test_x") == {"Authorization": expected}
    body = payment()
    request = adapter.build_request(body, 1, NoIdentities())
    assert request.headers == {
        "Idempotency-Key": f"riskrelay:{body['event_id']}:v1",
        "Stripe-Version": STRIPE_VERSION,
    }
    assert 409 in request.retry_statuses  # the first request with the key still runs
    assert STRIPE_VERSION == "2026-01-28.preview; payment_evaluations_beta=v1"
    other = StripeAdapter(stripe_version="2026-03-01.preview").build_request(
        body, 1, NoIdentities()
    )
    assert other.headers["Stripe-Version"] == "2026-03-01.preview"
    default = StripeAdapter(stripe_version=None).build_request(body, 1, NoIdentities())
    assert default.headers["Stripe-Version"] == STRIPE_VERSION  # report_events needs one


def _envelope(family: Family, kind: str) -> Envelope:
    return Envelope("evt-1", "user-1", family, kind, Operation.CREATE, False, WHEN, SOURCE)


def test_what_is_routed_to_stripe() -> None:
    adapter = StripeAdapter()
    payments = {k.lower() for k in PAYMENT_KINDS}
    taken = {k for k in payments if adapter.accepts(_envelope(Family.PAYMENT, k))}
    assert taken == {"purchase", "deposit"}
    assert all(adapter.accepts(_envelope(Family.EVALUATION, k.lower())) for k in EVALUATION_KINDS)
    assert not adapter.accepts(_envelope(Family.LIFECYCLE, "sign_in"))
    custom = StripeAdapter(payment_kinds=frozenset({"loan_payment"}))
    assert custom.accepts(_envelope(Family.PAYMENT, "loan_payment"))
    assert not custom.accepts(_envelope(Family.PAYMENT, "purchase"))


def test_a_payment_with_an_evaluation_gets_no_second_one() -> None:
    body = payment()
    for version in (1, 2):
        answer = StripeAdapter().build_request(body, version, EVALUATED)
        assert answer == NothingToSend(
            f"payment {PAYMENT_ID} already has Stripe payment evaluation {EVALUATION_ID},"
            " which cannot be updated"
        )


def test_a_later_version_creates_the_missing_evaluation_under_its_own_key() -> None:
    body = payment()
    request = StripeAdapter().build_request(body, 3, NoIdentities())
    assert request.path == "/v1/radar/payment_evaluations"
    assert request.headers["Idempotency-Key"] == f"riskrelay:{body['event_id']}:v3"


@pytest.mark.parametrize(
    "kind",
    ["DISPUTE_OPENED", "EARLY_FRAUD_WARNING_RECEIVED", "REFUNDED", "USER_INTERVENTION_RESOLVED"],
)
def test_later_versions_of_reported_events_send_nothing(kind: str) -> None:
    first = StripeAdapter().build_request(evaluation(kind), 1, known_for(kind))
    assert isinstance(first, ProviderRequest)
    later = StripeAdapter().build_request(evaluation(kind), 2, known_for(kind))
    assert isinstance(later, NothingToSend)
    assert later.reason.endswith("reported to Stripe cannot be updated")


def test_an_intervention_is_raised_once() -> None:
    body = evaluation("USER_INTERVENTION_RAISED")
    later = StripeAdapter().build_request(body, 2, EVALUATED)  # its key is not known yet
    assert isinstance(later, ProviderRequest)
    assert later.headers["Idempotency-Key"].endswith(":v2")
    for version in (1, 2):
        answer = StripeAdapter().build_request(body, version, RAISED_BEFORE)
        assert isinstance(answer, NothingToSend)
        assert "already raised at Stripe, which cannot update it" in answer.reason


# -- idempotency keys ----------------------------------------------------------------


def test_idempotency_keys_are_stable_and_per_version() -> None:
    assert idempotency_key("evt-1", 1) == "riskrelay:evt-1:v1"
    assert idempotency_key("evt-1", 1) == idempotency_key("evt-1", 1)
    assert len({idempotency_key("evt-1", 1), idempotency_key("evt-1", 2)}) == 2
    assert len({idempotency_key("evt-1", 1), idempotency_key("evt-2", 1)}) == 2


@pytest.mark.parametrize("event_id", ["e" * 255, "evt/ä b", "evt:1", "evt\n1"])
def test_long_or_unusual_ids_are_hashed(event_id: str) -> None:
    key = idempotency_key(event_id, 7)
    assert key.startswith("riskrelay:sha256:") and key.endswith(":v7")
    assert len(key) == len("riskrelay:sha256::v7") + 64
    assert key == idempotency_key(event_id, 7)


@given(st.text(min_size=1, max_size=255), st.integers(min_value=1, max_value=2**31 - 1))
def test_every_key_fits_stripe_and_an_http_header(event_id: str, version: int) -> None:
    key = idempotency_key(event_id, version)
    assert 1 <= len(key) <= 255
    assert key.isascii() and key.isprintable()


# -- identities learned from the sandbox's answers -----------------------------------

# Answers recorded from the Stripe sandbox.
CREATED = (
    '{"id":"peval_d78144f3a17bfdd0f6c9e760","object":"payment_evaluation",'
    '"created_at":1795286346,"events":[],"livemode":false,'
    '"metadata":{"payment_id":"pay-0007","event_id":"evt-1"},"status":"pending_outcome"}'
)
RAISED = (
    '{"id":"peval_d78144f3a17bfdd0f6c9e760","object":"payment_evaluation",'
    '"created_at":1795286346,"events":['
    '{"occurred_at":1795262430,"type":"user_intervention_raised","user_intervention_raised":'
    '{"key":"3abad024-cc63-4503-9b04-a3fbe2ea27d8","type":"3ds"}},'
    '{"occurred_at":1795262430,"type":"user_intervention_raised","user_intervention_raised":'
    '{"key":"dfd3503f-b2cb-4382-a3e2-d1dc254f0ff2","type":"custom","custom":'
    '{"type":"manual_review"}}}],'
    '"livemode":false,"metadata":{"payment_id":"pay-0007","order_id":"ord-1"},'
    '"status":"pending_outcome"}'
)
REFUSED = (
    '{"error":{"type":"invalid_request_error","code":null,'
    '"message":"Invalid events[0][refunded]: required when type is \'refunded\'",'
    '"param":"events[0][refunded]"}}'
)


def test_a_created_evaluation_is_learned_for_the_payment() -> None:
    adapter, body = StripeAdapter(), payment()
    request = adapter.build_request(body, 1, NoIdentities())
    response = ProviderResponse(200, CREATED, {})
    assert adapter.learn(body, request, response) == [
        Identity("stripe.evaluation", PAYMENT_ID, EVALUATION_ID)
    ]
    assert adapter.response_ref(response) == EVALUATION_ID
    assert adapter.learn(body, request, ProviderResponse(400, REFUSED, {})) == []
    assert adapter.response_ref(ProviderResponse(400, REFUSED, {})) is None
    assert adapter.learn(body, request, ProviderResponse(200, "not json", {})) == []


@pytest.mark.parametrize(
    ("details", "key"),
    [
        ({"type": "CUSTOM", "custom_type": "manual_review"}, KEY),
        ({"type": "THREE_DS", "custom_type": None}, "3abad024-cc63-4503-9b04-a3fbe2ea27d8"),
        ({"type": "CAPTCHA", "custom_type": None}, None),  # not in the answer
    ],
)
def test_a_raised_intervention_key_is_learned(details: dict[str, Any], key: str | None) -> None:
    adapter = StripeAdapter()
    body = evaluation("USER_INTERVENTION_RAISED", intervention_raised=details)
    request = adapter.build_request(body, 1, EVALUATED)
    learned = adapter.learn(body, request, ProviderResponse(200, RAISED, {}))
    assert learned == ([Identity("stripe.intervention", "intv-1", key)] if key else [])
    assert adapter.response_ref(ProviderResponse(200, RAISED, {})) == EVALUATION_ID


def test_other_reports_learn_nothing() -> None:
    adapter, body = StripeAdapter(), evaluation("REFUNDED")
    request = adapter.build_request(body, 1, EVALUATED)
    answer = orjson.loads(CREATED) | {"events": [{"type": "refunded"}]}
    assert (
        adapter.learn(body, request, ProviderResponse(200, orjson.dumps(answer).decode(), {})) == []
    )


def test_fields_stripe_adds_to_a_raised_event_do_not_hide_its_key() -> None:
    adapter = StripeAdapter()
    body = evaluation("USER_INTERVENTION_RAISED", intervention_raised={"type": "CAPTCHA"})
    raised = {"key": KEY, "type": "captcha", "custom": None}
    event = {"occurred_at": int(EPOCH_S), "type": "user_intervention_raised"}
    answer = orjson.loads(CREATED) | {"events": [event | {"user_intervention_raised": raised}]}
    response = ProviderResponse(200, orjson.dumps(answer).decode(), {})
    request = adapter.build_request(body, 1, EVALUATED)
    assert adapter.learn(body, request, response) == [Identity(INTERVENTIONS, "intv-1", KEY)]
