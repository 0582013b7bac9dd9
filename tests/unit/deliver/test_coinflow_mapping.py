"""The Coinflow mappings against the contract in providers.md §1-2 (seeds 000 and 001).

Every rendered body is also run through the sandbox's own validators, the executable
contract, so a field the contract does not have or a wrong format fails here first.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from riskrelay.deliver.providers.coinflow import (
    CREDITS_AUTH_PATH,
    EVENT_TYPES,
    EVENTS_PATH,
    ChallengeFields,
    CoinflowAdapter,
    end_user_headers,
    to_coinflow_event,
    to_credits_request,
)
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.dev.demo import LIFECYCLE_KINDS, lifecycle_event, payment_event
from riskrelay.enrich.stateless import EnrichOptions, enrich
from riskrelay.errors import PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.coinflow import validate_credits_request, validate_event
from riskrelay.state.identities import NoIdentities

WHEN = datetime(2026, 11, 21, 12, 0, 30, 999000, tzinfo=UTC)
SOURCE = SourcePosition("risk.lifecycle.v1", 0, 0)
PAYMENT_SOURCE = SourcePosition("risk.payment.v1", 0, 0)
SUBJECT = "user-00007"
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
TO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CALL_DATA = "0xa9059cbb" + "00" * 32
WALLET = "0x" + "ab" * 20
SESSION_KEY = "eyJhbGciOiJIUzI1NiJ9.payload.signature"


def lifecycle_body(kind: str, seed: int = 3) -> AvroRecord:
    record = lifecycle_event(random.Random(seed), SUBJECT, kind, WHEN)
    return normalize(Family.LIFECYCLE, record, SOURCE, WHEN).body


def redeem(**changes: Any) -> AvroRecord:
    """A normalized ``payment.redeem`` (normalized.avsc RedeemRequest): FIAT, wallet auth."""
    base: AvroRecord = {
        "merchant_id": "merchant_abc123",
        "subtotal_kind": "FIAT",
        "fiat_subtotal": {"amount_minor": 2500, "currency": "USD"},
        "cents_subtotal": None,
        "token_subtotal": None,
        "transaction_data": {
            "kind": "TRANSACTION",
            "to": TO,
            "data": CALL_DATA,
            "extra_json": None,
        },
        "usdc_amount": None,
        "auth_wallet": WALLET,
        "auth_blockchain": "eth",
        "auth_session_key": None,
    }
    return {**base, **changes}


def redeem_body(**changes: Any) -> AvroRecord:
    """A normalized demo REDEEM payment carrying ``redeem(**changes)`` as its request."""
    record = payment_event(random.Random(5), SUBJECT, "REDEEM", WHEN)
    body = normalize(Family.PAYMENT, record, PAYMENT_SOURCE, WHEN).body
    return {**body, "payment": {**body["payment"], "redeem": redeem(**changes)}}


def envelope(family: Family, kind: str) -> Envelope:
    return Envelope("e", SUBJECT, family, kind, Operation.CREATE, False, WHEN, SOURCE)


# --- lifecycle → /api/events ------------------------------------------------------------


def expected_event(body: AvroRecord) -> dict[str, Any]:
    """The contract's fields per eventType, read independently of the adapter's code."""
    user, kind = body["user"], body["kind"]
    if kind == "buyer_challenge":
        challenge = body["lifecycle"]["challenge"]
        return {
            "eventType": "BuyerChallenge",
            "customerId": SUBJECT,
            "challengeType": challenge["kind"],
            "outcome": challenge["outcome"],
        }
    common = {"customerId": SUBJECT, "country": user["country"], "email": user["email"]}
    if kind == "sign_up":
        return {
            "eventType": "SignUp",
            **common,
            "username": user["username"],
            "firstName": user["first_name"],
            "lastName": user["last_name"],
        }
    return {"eventType": {"sign_in": "SignIn", "sign_in_failure": "SignInFailure"}[kind], **common}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["SIGN_UP", "SIGN_IN", "SIGN_IN_FAILURE", "BUYER_CHALLENGE"])
def test_each_lifecycle_kind_maps_to_its_event_type_fields(kind: str, seed: int) -> None:
    body = lifecycle_body(kind, seed)
    event = to_coinflow_event(body)
    assert event == expected_event(body)
    assert validate_event(event) == event["eventType"]
    if "country" in event:
        assert event["country"].isupper() and len(event["country"]) == 2
        assert event["email"] == f"user{SUBJECT[-5:]}@example.com"  # normalized lower case


def test_the_four_documented_event_types_and_no_other() -> None:
    assert set(EVENT_TYPES.values()) == {"SignUp", "SignIn", "SignInFailure", "BuyerChallenge"}
    assert set(EVENT_TYPES) <= {kind.lower() for kind in LIFECYCLE_KINDS}


def test_absent_user_fields_are_omitted_never_null() -> None:
    body = lifecycle_body("SIGN_UP")
    body["user"] = {**body["user"], "email": None, "country": None, "last_name": None}
    event = to_coinflow_event(body)
    assert set(event) == {"eventType", "customerId", "username", "firstName"}
    assert validate_event(event) == "SignUp"
    assert to_coinflow_event({**body, "user": None}) == {
        "eventType": "SignUp",
        "customerId": SUBJECT,
    }


def test_country_is_sent_upper_case() -> None:
    body = lifecycle_body("SIGN_IN")
    body["user"] = {**body["user"], "country": "gb"}
    assert to_coinflow_event(body)["country"] == "GB"


@pytest.mark.parametrize(
    ("kind", "outcome"), [("EMAIL_LINK", "PASSED"), ("SMS_2FA", "FAILED"), ("KYC", "PENDING")]
)
def test_buyer_challenge_carries_kind_and_outcome_only(kind: str, outcome: str) -> None:
    body = lifecycle_body("BUYER_CHALLENGE")
    body["lifecycle"] = {**body["lifecycle"], "challenge": {"kind": kind, "outcome": outcome}}
    event = to_coinflow_event(body)
    assert event == {
        "eventType": "BuyerChallenge",
        "customerId": SUBJECT,
        "challengeType": kind,
        "outcome": outcome,
    }
    validate_event(event)
    renamed = to_coinflow_event(body, ChallengeFields(challenge_type="method", outcome="result"))
    assert renamed == {
        "eventType": "BuyerChallenge",
        "customerId": SUBJECT,
        "method": kind,
        "result": outcome,
    }


def test_a_buyer_challenge_without_its_challenge_is_refused() -> None:
    body = lifecycle_body("BUYER_CHALLENGE")
    body["lifecycle"] = {**body["lifecycle"], "challenge": None}
    with pytest.raises(PermanentDeliveryError, match=r"lifecycle\.challenge: required"):
        to_coinflow_event(body)


def test_a_lifecycle_kind_without_event_type_is_refused() -> None:
    with pytest.raises(PermanentDeliveryError, match="'sign_out'"):
        CoinflowAdapter().build_request(lifecycle_body("SIGN_OUT"), 1, NoIdentities())


# --- malformed values (kept by normalization, flagged by enrichment) ---------------------

MALFORMED = {"email": "Not-An-Email", "country": "zz"}


def malformed_body(kind: str, **user: Any) -> AvroRecord:
    """A lifecycle event normalized from a record with these (malformed) user values."""
    record = lifecycle_event(random.Random(3), SUBJECT, kind, WHEN)
    record["user"] = {**record["user"], **(user or MALFORMED)}
    return normalize(Family.LIFECYCLE, record, SOURCE, WHEN).body


def enriched(body: AvroRecord) -> AvroRecord:
    return enrich(body, EnrichOptions(ip_country=None))


@pytest.mark.parametrize("with_enrichment", [True, False], ids=["enriched", "not-enriched"])
@pytest.mark.parametrize("kind", ["SIGN_UP", "SIGN_IN", "SIGN_IN_FAILURE"])
def test_a_malformed_email_and_country_are_left_out(kind: str, with_enrichment: bool) -> None:
    body = malformed_body(kind)
    assert (body["user"]["email"], body["user"]["country"]) == ("not-an-email", "ZZ")  # kept
    if with_enrichment:
        body = enriched(body)
        assert {"email_invalid", "country_invalid:user.country"} <= set(body["enrichment"]["flags"])
    event = to_coinflow_event(body)
    assert "email" not in event and "country" not in event
    assert event["customerId"] == SUBJECT
    assert validate_event(event) == EVENT_TYPES[kind.lower()]  # the sandbox takes it
    if kind == "SIGN_UP":  # the rest of the user is still sent
        assert event["username"] == body["user"]["username"]


@pytest.mark.parametrize(("field", "value"), [("email", "a@b"), ("country", "EU")])
def test_one_malformed_value_leaves_the_other_in(field: str, value: str) -> None:
    body = enriched(malformed_body("SIGN_IN", **{field: value}))
    event = to_coinflow_event(body)
    assert field not in event
    other = "country" if field == "email" else "email"
    assert event[other] == body["user"][other]
    validate_event(event)


def test_the_enrichment_flags_decide_what_is_malformed() -> None:
    """A flagged value is left out even where the adapter would have taken it, and a value
    enrichment did not flag is sent: one judgment, the enrichment stage's."""
    body = enriched(lifecycle_body("SIGN_IN"))
    assert body["enrichment"]["flags"] == []
    assert to_coinflow_event(body) == expected_event(body)
    flagged = {**body["enrichment"], "flags": ["email_invalid", "country_invalid:user.country"]}
    event = to_coinflow_event({**body, "enrichment": flagged})
    assert event == {"eventType": "SignIn", "customerId": SUBJECT}
    other_field = {**body["enrichment"], "flags": ["country_invalid:address.country"]}
    assert to_coinflow_event({**body, "enrichment": other_field}) == expected_event(body)


# --- redeem → /api/redeem/evm/creditsAuthMsg --------------------------------------------


@pytest.mark.parametrize(
    ("changes", "subtotal"),
    [
        ({}, {"cents": 2500, "currency": "USD"}),
        (
            {"fiat_subtotal": {"amount_minor": 199, "currency": "eur"}},
            {"cents": 199, "currency": "EUR"},
        ),
        ({"subtotal_kind": "CENTS", "fiat_subtotal": None, "cents_subtotal": 0}, {"cents": 0}),
        (
            {
                "subtotal_kind": "TOKEN",
                "fiat_subtotal": None,
                "token_subtotal": {
                    "token_address": TOKEN,
                    "token_amount": "25000000",
                    "token_decimals": 6,
                },
            },
            {"address": TOKEN, "amount": "25000000", "decimals": 6},
        ),
        (
            {
                "subtotal_kind": "TOKEN",
                "fiat_subtotal": None,
                "token_subtotal": {
                    "token_address": TOKEN,
                    "token_amount": "12345678901234567890.5",
                    "token_decimals": None,
                },
            },
            {"address": TOKEN, "amount": "12345678901234567890.5"},
        ),
    ],
    ids=["fiat", "fiat-lower-currency", "cents", "token", "token-no-decimals"],
)
def test_each_subtotal_kind_renders_its_form(changes: AvroRecord, subtotal: AvroRecord) -> None:
    request = to_credits_request(redeem(**changes))
    assert request["subtotal"] == subtotal
    assert all(type(v) is int for k, v in request["subtotal"].items() if k in ("cents", "decimals"))
    assert request["merchantId"] == "merchant_abc123"
    validate_credits_request(request)


@pytest.mark.parametrize("kind", ["FIAT", "CENTS", "TOKEN"])
def test_a_subtotal_kind_without_its_subtotal_is_refused(kind: str) -> None:
    field = {"FIAT": "fiat_subtotal", "CENTS": "cents_subtotal", "TOKEN": "token_subtotal"}[kind]
    with pytest.raises(PermanentDeliveryError, match=rf"redeem\.{field}: required.* {kind}"):
        to_credits_request(redeem(subtotal_kind=kind, fiat_subtotal=None))


@pytest.mark.parametrize(
    ("data", "rendered"),
    [
        (
            {"kind": "TRANSACTION", "to": TO, "data": CALL_DATA, "extra_json": None},
            {"transaction": {"to": TO, "data": CALL_DATA}},
        ),
        (
            {"kind": "TRANSACTION", "to": TO, "data": None, "extra_json": None},
            {"transaction": {"to": TO}},
        ),
        (
            {"kind": "SAFE_MINT", "to": None, "data": None, "extra_json": '{"nftContract": "0x1"}'},
            {"type": "safeMint", "nftContract": "0x1"},
        ),
        (
            {"kind": "SAFE_MINT", "to": TO, "data": CALL_DATA, "extra_json": None},
            {"type": "safeMint", "transaction": {"to": TO, "data": CALL_DATA}},
        ),
        (
            {"kind": "OTHER", "to": None, "data": None, "extra_json": '{"type": "token", "n": 2}'},
            {"type": "token", "n": 2},
        ),
        (  # the typed fields win over extra_json's keys of the same name
            {"kind": "SAFE_MINT", "to": TO, "data": None, "extra_json": '{"type": "x", "a": 1}'},
            {"type": "safeMint", "a": 1, "transaction": {"to": TO}},
        ),
    ],
    ids=["transaction", "transaction-no-data", "safe-mint", "safe-mint-tx", "other", "typed-wins"],
)
def test_transaction_data_forms(data: AvroRecord, rendered: AvroRecord) -> None:
    request = to_credits_request(redeem(transaction_data=data))
    assert request["transactionData"] == rendered
    validate_credits_request(request)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "TRANSACTION", "to": None, "data": CALL_DATA}, r"transaction_data\.to: required"),
        ({"kind": "OTHER", "to": None, "data": None}, "kind OTHER needs extra_json"),
        ({"kind": "OTHER", "extra_json": "[1, 2]"}, r"extra_json: must be a JSON object"),
        ({"kind": "OTHER", "extra_json": "{not json"}, r"extra_json: must be a JSON object"),
    ],
)
def test_unusable_transaction_data_is_refused(data: AvroRecord, message: str) -> None:
    with pytest.raises(PermanentDeliveryError, match=message):
        to_credits_request(redeem(transaction_data=data))


def test_usdc_amount_is_cents_when_set_and_absent_otherwise() -> None:
    assert "usdcAmount" not in to_credits_request(redeem())
    request = to_credits_request(redeem(usdc_amount=1234))
    assert request["usdcAmount"] == {"cents": 1234}
    validate_credits_request(request)
    assert set(request) == {"merchantId", "subtotal", "transactionData", "usdcAmount"}


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        (
            {},
            {
                "x-coinflow-auth-wallet": WALLET,
                "x-coinflow-auth-blockchain": "eth",
                "Authorization": "",
            },
        ),
        (
            {"auth_wallet": None, "auth_blockchain": None, "auth_session_key": SESSION_KEY},
            {"x-coinflow-auth-session-key": SESSION_KEY, "Authorization": ""},
        ),
        (
            {"auth_session_key": SESSION_KEY},
            {"x-coinflow-auth-session-key": SESSION_KEY, "Authorization": ""},
        ),
    ],
    ids=["wallet", "session-key", "session-key-wins"],
)
def test_redeem_goes_with_end_user_auth_in_place_of_the_merchant_key(
    auth: AvroRecord, headers: dict[str, str]
) -> None:
    adapter = CoinflowAdapter()
    request = adapter.build_request(redeem_body(**auth), 1, NoIdentities())
    assert (request.method, request.path) == ("POST", CREDITS_AUTH_PATH)
    assert request.headers == headers
    assert {**adapter.auth_headers("merchant-key"), **request.headers}["Authorization"] == ""
    assert not request.prerequisite


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"auth_wallet": None, "auth_blockchain": None}, "no end-user auth"),
        ({"auth_blockchain": None}, r"auth_blockchain: required with the other wallet"),
        ({"auth_wallet": None}, r"auth_wallet: required with the other wallet"),
    ],
)
def test_a_redeem_without_usable_end_user_auth_is_refused(auth: AvroRecord, message: str) -> None:
    with pytest.raises(PermanentDeliveryError, match=message) as refused:
        CoinflowAdapter().build_request(redeem_body(**auth), 1, NoIdentities())
    assert WALLET not in str(refused.value)  # names the fields, never the credentials


def test_a_payment_without_its_redeem_request_is_refused() -> None:
    body = redeem_body()
    body["payment"] = {**body["payment"], "redeem": None}
    with pytest.raises(PermanentDeliveryError, match=r"payment\.redeem: required"):
        CoinflowAdapter().build_request(body, 1, NoIdentities())
    with pytest.raises(PermanentDeliveryError, match="no PAYMENT event of kind 'purchase'"):
        CoinflowAdapter().build_request({**redeem_body(), "kind": "purchase"}, 1, NoIdentities())


def test_end_user_headers_never_include_the_merchant_key() -> None:
    headers = end_user_headers(redeem())
    assert headers["Authorization"] == ""


@pytest.mark.parametrize("seed", range(12))
def test_demo_redeems_map_to_valid_credits_requests(seed: int) -> None:
    """Every subtotal form, transaction form and auth mode the demo produces."""
    record = payment_event(random.Random(seed), SUBJECT, "REDEEM", WHEN)
    body = normalize(Family.PAYMENT, record, PAYMENT_SOURCE, WHEN).body
    source = body["payment"]["redeem"]
    request = CoinflowAdapter().build_request(body, 1, NoIdentities())
    validate_credits_request(request.json)
    assert request.json["merchantId"] == source["merchant_id"]
    cents = {
        "FIAT": (source["fiat_subtotal"] or {}).get("amount_minor"),
        "CENTS": source["cents_subtotal"],
    }
    if source["subtotal_kind"] == "TOKEN":
        assert request.json["subtotal"]["amount"] == source["token_subtotal"]["token_amount"]
    else:
        assert request.json["subtotal"]["cents"] == cents[source["subtotal_kind"]]
    if source["auth_session_key"]:
        assert request.headers["x-coinflow-auth-session-key"] == source["auth_session_key"]
    else:
        assert request.headers["x-coinflow-auth-wallet"] == source["auth_wallet"]
        assert request.headers["x-coinflow-auth-blockchain"] == source["auth_blockchain"]


# --- adapter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "accepted"),
    [
        *((Family.LIFECYCLE, k, True) for k in EVENT_TYPES),
        *(
            (Family.LIFECYCLE, k.lower(), False)
            for k in LIFECYCLE_KINDS
            if k.lower() not in EVENT_TYPES
        ),
        (Family.PAYMENT, "redeem", True),
        (Family.PAYMENT, "purchase", False),
        (Family.PAYMENT, "deposit", False),
        (Family.EVALUATION, "dispute_opened", False),
        (Family.EVALUATION, "redeem", False),
    ],
)
def test_accepts_the_four_lifecycle_kinds_and_redeems(
    family: Family, kind: str, accepted: bool
) -> None:
    assert CoinflowAdapter().accepts(envelope(family, kind)) is accepted


@pytest.mark.parametrize("version", [1, 2])
def test_lifecycle_events_post_to_events_under_the_raw_merchant_key(version: int) -> None:
    adapter = CoinflowAdapter()
    body = lifecycle_body("SIGN_IN")
    request = adapter.build_request(body, version, NoIdentities())
    assert (request.method, request.path, request.headers) == ("POST", EVENTS_PATH, {})
    assert request.json == to_coinflow_event(body)
    assert adapter.auth_headers("k-123") == {"Authorization": "k-123"}


def test_response_ref_is_the_credits_nonce() -> None:
    adapter = CoinflowAdapter()
    answer = {"message": "{}", "validBefore": "1700000000", "nonce": "n-1", "creditsRawAmount": 2.5}
    assert adapter.response_ref(ProviderResponse(200, orjson.dumps(answer).decode(), {})) == "n-1"
    assert adapter.response_ref(ProviderResponse(200, "{}", {})) is None
    assert adapter.response_ref(ProviderResponse(200, "[]", {})) is None
    assert adapter.response_ref(ProviderResponse(200, "not json", {})) is None


def test_learns_no_identities() -> None:
    request = ProviderRequest("POST", EVENTS_PATH, json={})
    response = ProviderResponse(200, "{}", {})
    assert CoinflowAdapter().learn(lifecycle_body("SIGN_IN"), request, response) == []
