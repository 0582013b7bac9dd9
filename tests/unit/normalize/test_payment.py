from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastavro.validation import validate

from riskrelay.dev.demo import PAYMENT_KINDS, payment_event
from riskrelay.errors import ValidationError
from riskrelay.models import Family, Operation, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.schemas import parsed_schema
from tests.fixtures.avro import avro_round_trip

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SOURCE = SourcePosition("risk.payment.v1", 1, 7)


def event(kind: str = "PURCHASE", seed: int = 1, **changes: Any) -> dict[str, Any]:
    record = payment_event(random.Random(seed), "user-00042", kind, NOW - timedelta(minutes=5))
    record.update(changes)
    return record


def redeem(mode: str = "wallet", subtotal: str = "CENTS", **changes: Any) -> dict[str, Any]:
    """A REDEEM record with a chosen auth mode and subtotal form."""
    record = event("REDEEM")
    amount = record["amount"]
    record["redeem"] = {
        **record["redeem"],
        "subtotal_kind": subtotal,
        "fiat_subtotal": amount if subtotal == "FIAT" else None,
        "cents_subtotal": amount["amount_minor"] if subtotal == "CENTS" else None,
        "token_subtotal": {
            "token_address": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
            "token_amount": "25000000",
            "token_decimals": 6,
        }
        if subtotal == "TOKEN"
        else None,
        "auth_wallet": "0xabc" if mode == "wallet" else None,
        "auth_blockchain": "eth" if mode == "wallet" else None,
        "auth_session_key": "eyJ.session.key" if mode == "session_key" else None,
        **changes,
    }
    return record


def round_trip(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked (every field set, none left to defaults), written and read back
    with the normalized schema, and read back unchanged (so no field the schema lacks)."""
    schema = parsed_schema("normalized")
    full = {**body, "version": 1, "operation": "CREATE"}
    validate(full, schema, strict=True)
    result = avro_round_trip(schema, full)
    assert result == full
    return result


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_every_kind_normalizes_to_a_valid_canonical_event(kind: str) -> None:
    for seed in range(8):
        record = event(kind, seed)
        result = normalize(Family.PAYMENT, record, SOURCE, NOW)
        assert result.envelope.kind == kind.lower()
        assert result.envelope.family is Family.PAYMENT
        assert result.envelope.operation is Operation.CREATE
        body = result.body
        assert body["payment"]["payment_id"] == record["payment_id"]
        assert body["lifecycle"] is None
        assert body["evaluation"] is None
        assert body["address"] is None
        read = round_trip(body)
        assert read["kind"] == kind.lower()
        assert read["payment"]["amount"] == record["amount"]
        assert read["payment"]["redeem"] == body["payment"]["redeem"]
        assert read["source"] == {"topic": "risk.payment.v1", "partition": 1, "offset": 7}


@pytest.mark.parametrize("mode", ["wallet", "session_key"])
@pytest.mark.parametrize("subtotal", ["FIAT", "CENTS", "TOKEN"])
def test_redeem_forms_normalize_and_keep_their_credentials(mode: str, subtotal: str) -> None:
    body = normalize(Family.PAYMENT, redeem(mode, subtotal), SOURCE, NOW).body
    out = body["payment"]["redeem"]
    assert out["subtotal_kind"] == subtotal
    if mode == "wallet":
        assert (out["auth_wallet"], out["auth_blockchain"]) == ("0xabc", "eth")
    else:
        assert out["auth_session_key"] == "eyJ.session.key"
    round_trip(body)


def test_codes_are_cased_the_way_the_contracts_spell_them() -> None:
    record = event(
        "PURCHASE",
        amount={"amount_minor": 56000, "currency": "usd"},
        fee={"amount_minor": 100, "currency": " eur "},
        status=" Succeeded",
        channel="WEB",
        rail="CARD",
        card={"bin": "42424242", "last4": "4242", "network": "VISA", "country": "us"},
        billing_address={"country": "gb"},
    )
    payment = normalize(Family.PAYMENT, record, SOURCE, NOW).body["payment"]
    assert payment["amount"] == {"amount_minor": 56000, "currency": "USD"}
    assert payment["fee"] == {"amount_minor": 100, "currency": "EUR"}
    assert (payment["status"], payment["channel"]) == ("succeeded", "web")
    assert (payment["card"]["network"], payment["card"]["country"]) == ("visa", "US")
    assert payment["billing_address"]["country"] == "GB"
    # The input record is left as it was.
    assert record["amount"]["currency"] == "usd"


def test_malformed_countries_are_kept_for_enrichment_to_flag() -> None:
    record = event(
        card={**CARD, "country": " usa "},
        bank_account={"country": "1x"},
        billing_address={"country": "xyz"},
        shipping_address={"country": "u"},
    )
    payment = normalize(Family.PAYMENT, record, SOURCE, NOW).body["payment"]
    assert payment["card"]["country"] == "USA"
    assert payment["bank_account"]["country"] == "1X"
    assert payment["billing_address"]["country"] == "XYZ"
    assert payment["shipping_address"]["country"] == "U"


def test_malformed_ip_and_email_are_kept() -> None:
    record = event(session={"ip_address": "1.2.3"}, user={"email": "Nobody", "risk_score": None})
    body = normalize(Family.PAYMENT, record, SOURCE, NOW).body
    assert (body["session"]["ip_address"], body["user"]["email"]) == ("1.2.3", "nobody")


def test_zero_amounts_and_exponent_zero_currencies_are_fine() -> None:
    record = event("DEPOSIT", amount={"amount_minor": 0, "currency": "JPY"})
    assert normalize(Family.PAYMENT, record, SOURCE, NOW).body["payment"]["amount"] == {
        "amount_minor": 0,
        "currency": "JPY",
    }


CARD = {"bin": "424242", "last4": "4242", "network": None, "country": None}
USER = {"entity_id": "user-00042", "entity_type": "USER", "instrument_id": None}
NOBODY = {"entity_id": None, "entity_type": "USER", "instrument_id": None}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            event(amount={"amount_minor": 1, "currency": "usd1"}),
            "amount.currency: 'usd1' is not an ISO 4217 code",
        ),
        (event(amount={"amount_minor": -1, "currency": "USD"}), "amount.amount_minor: -1"),
        (event(amount={"amount_minor": 1, "currency": "XAU"}), "amount.currency: 'XAU' has no"),
        (event(fee={"amount_minor": -5, "currency": "USD"}), "fee.amount_minor: -5 is negative"),
        (event(external_fee={"amount_minor": 5, "currency": "US"}), "external_fee.currency: 'US'"),
        (event(received={"amount_minor": 5, "currency": "ABC"}), "received.currency: 'ABC'"),
        (event(exchange_rate=0.0), "exchange_rate: 0.0 is not a positive"),
        (event(exchange_rate=float("nan")), "exchange_rate: nan"),
        (event(payment_id=""), "payment_id: must be a non-empty string"),
        (event(parent_event_id=" "), "parent_event_id: must be a non-empty string"),
        (event(card={**CARD, "bin": "42424"}), "card.bin: '42424' is not 6 to 8 digits"),
        (event(card={**CARD, "bin": "424242424"}), "card.bin: '424242424'"),
        (event(card={**CARD, "bin": "4242x2"}), "card.bin: '4242x2'"),
        (event(card={**CARD, "last4": "424"}), "card.last4: '424' is not 4 digits"),
        (event(card={**CARD, "last4": "42a4"}), "card.last4: '42a4'"),
        (event(bank_account={"account_last4": "123456789"}), "bank_account.account_last4"),
        (event(wallet={"wallet_address": "", "blockchain": "eth"}), "wallet.wallet_address"),
        (event("TRANSFER", receiver=None), "receiver: TRANSFER needs a receiver"),
        (event("TRANSFER", receiver=NOBODY), "receiver: TRANSFER needs a receiver"),
        (event(sender=None, receiver=NOBODY), "sender: a payment needs entity_id"),
        (event("REDEEM", redeem=None), "redeem: required for REDEEM"),
        (
            event("PURCHASE", redeem=redeem()["redeem"]),
            "redeem: only for REDEEM, not PURCHASE",
        ),
        (redeem(merchant_id=""), "redeem.merchant_id: must be a non-empty string"),
        (redeem("none"), "redeem.auth_wallet: REDEEM needs auth_wallet + auth_blockchain or"),
        (redeem(auth_blockchain=None), "redeem.auth_blockchain: required with auth_wallet"),
        (redeem(auth_wallet=None), "redeem.auth_wallet: required with auth_blockchain"),
        (redeem(auth_session_key="jwt"), "redeem.auth_session_key: give it or auth_wallet"),
        (redeem("session_key", auth_wallet="0x1"), "redeem.auth_session_key: give it or"),
        (redeem(subtotal="FIAT", fiat_subtotal=None), "redeem.fiat_subtotal: required when"),
        (redeem(subtotal="CENTS", fiat_subtotal=None, cents_subtotal=None), "cents_subtotal: req"),
        (redeem(subtotal="TOKEN", token_subtotal=None), "redeem.token_subtotal: required when"),
        (redeem(subtotal="CENTS", token_subtotal={}), "redeem.token_subtotal: set, but subtot"),
        (redeem(subtotal="TOKEN", cents_subtotal=5), "redeem.cents_subtotal: set, but"),
        (
            redeem(subtotal="FIAT", fiat_subtotal={"amount_minor": 1, "currency": "usd1"}),
            "redeem.fiat_subtotal.currency: 'usd1' is not an ISO 4217 code",
        ),
        (redeem(subtotal="CENTS", cents_subtotal=-1), "redeem.cents_subtotal: -1 is negative"),
        (redeem(usdc_amount=-3), "redeem.usdc_amount: -3 is negative"),
        (
            redeem(
                subtotal="TOKEN",
                token_subtotal={"token_address": "0x1", "token_amount": "1e18"},
            ),
            "redeem.token_subtotal.token_amount: '1e18' is not a non-negative decimal",
        ),
        (
            redeem(
                subtotal="TOKEN",
                token_subtotal={"token_address": "0x1", "token_amount": "5", "token_decimals": -1},
            ),
            "redeem.token_subtotal.token_decimals: -1",
        ),
        (
            redeem(transaction_data={"kind": "TRANSACTION", "to": None, "data": "0x00"}),
            "redeem.transaction_data: TRANSACTION needs to and data",
        ),
        (
            redeem(transaction_data={"kind": "SAFE_MINT", "to": "0x1", "data": "a9059cbb"}),
            "redeem.transaction_data.data: not 0x-prefixed hex",
        ),
        (
            redeem(transaction_data={"kind": "OTHER", "to": None, "data": None}),
            "redeem.transaction_data.extra_json: required for OTHER",
        ),
        (
            redeem(transaction_data={"kind": "OTHER", "extra_json": "[1, 2]"}),
            "redeem.transaction_data.extra_json: not a JSON object",
        ),
        (
            redeem(transaction_data={"kind": "OTHER", "extra_json": "{nope"}),
            "redeem.transaction_data.extra_json: not a JSON object",
        ),
    ],
)
def test_invalid_fields_are_named_in_the_error(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(Family.PAYMENT, record, SOURCE, NOW)
    assert message in str(caught.value)
    assert caught.value.reason == "invalid_field"


def test_one_identified_side_is_enough() -> None:
    record = event("PURCHASE", sender=NOBODY, receiver=USER)
    assert normalize(Family.PAYMENT, record, SOURCE, NOW).body["payment"]["receiver"] == USER
