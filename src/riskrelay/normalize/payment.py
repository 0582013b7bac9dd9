"""Payment events (purchase, deposit, withdrawal, refund, redeem, transfer, ...).

The schema makes every kind-specific record optional, so what a kind needs (a redeem
request for REDEEM, a receiver for TRANSFER) is checked here, where a failure names the
field and sends the record to the DLQ instead of to a provider that would refuse it.
Money is made canonical once (upper-case ISO 4217 code with a minor unit, amount >= 0) so
that adapters only render it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import orjson

from riskrelay.errors import ValidationError
from riskrelay.models import AvroRecord, CanonicalEvent, Family, SourcePosition
from riskrelay.normalize.common import (
    canonical_event,
    envelope_of,
    lower_or_none,
    normalize_address,
    normalize_country,
    require_id,
)
from riskrelay.normalize.money import normalize_money

# Amount of an on-chain token: base units, or a decimal when the token's decimals apply.
_TOKEN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_HEX_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# The field that carries the subtotal of each RedeemSubtotalKind.
_SUBTOTAL_FIELDS = {"FIAT": "fiat_subtotal", "CENTS": "cents_subtotal", "TOKEN": "token_subtotal"}
_OPTIONAL_MONEY = ("fee", "external_fee", "received")


def normalize_payment(record: AvroRecord, source: SourcePosition, now: datetime) -> CanonicalEvent:
    envelope = envelope_of(record, Family.PAYMENT, source)
    event_type = record["event_type"]
    redeem = record.get("redeem")
    if event_type == "REDEEM":
        if redeem is None:
            raise ValidationError("redeem: required for REDEEM")
        redeem = _redeem(redeem)
    elif redeem is not None:
        raise ValidationError(f"redeem: only for REDEEM, not {event_type}")
    sender, receiver = record.get("sender"), record.get("receiver")
    if event_type == "TRANSFER" and not _identified(receiver):
        raise ValidationError("receiver: TRANSFER needs a receiver with entity_id or instrument_id")
    if not (_identified(sender) or _identified(receiver)):
        raise ValidationError(
            "sender: a payment needs entity_id or instrument_id on the sender or the receiver"
        )
    parent = record.get("parent_event_id")
    payment: AvroRecord = {
        "payment_id": require_id(record["payment_id"], "payment_id"),
        "status": lower_or_none(record.get("status")),
        "amount": normalize_money(record["amount"], "amount"),
        "exchange_rate": _rate(record.get("exchange_rate")),
        "rail": record.get("rail"),
        "card": _card(record.get("card")),
        "bank_account": _bank_account(record.get("bank_account")),
        "wallet": _wallet(record.get("wallet")),
        "transaction_hash": record.get("transaction_hash"),
        "sender": sender,
        "receiver": receiver,
        "is_guest": bool(record.get("is_guest")),
        "billing_address": normalize_address(record.get("billing_address"), "billing_address"),
        "shipping_address": normalize_address(record.get("shipping_address"), "shipping_address"),
        "channel": lower_or_none(record.get("channel")),
        "parent_event_id": None if parent is None else require_id(parent, "parent_event_id"),
        "redeem": redeem,
        "details": record.get("details"),
    }
    for name in _OPTIONAL_MONEY:
        money = record.get(name)
        payment[name] = None if money is None else normalize_money(money, name)
    return canonical_event(envelope, record, now, payment=payment)


def _identified(party: AvroRecord | None) -> bool:
    return party is not None and bool(party.get("entity_id") or party.get("instrument_id"))


def _rate(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ValidationError(f"exchange_rate: {value} is not a positive finite number")
    return value


def _digits(value: str, low: int, high: int) -> bool:
    return low <= len(value) <= high and value.isascii() and value.isdigit()


def _card(card: AvroRecord | None) -> AvroRecord | None:
    if card is None:
        return None
    if not _digits(card["bin"], 6, 8):
        raise ValidationError(f"card.bin: {card['bin']!r} is not 6 to 8 digits")
    if not _digits(card["last4"], 4, 4):
        raise ValidationError(f"card.last4: {card['last4']!r} is not 4 digits")
    return {
        **card,
        "network": lower_or_none(card.get("network")),
        "country": normalize_country(card.get("country"), "card.country"),
    }


def _bank_account(account: AvroRecord | None) -> AvroRecord | None:
    if account is None:
        return None
    last4 = account.get("account_last4")
    # A longer value is most likely the full account number, which must not travel.
    if last4 is not None and len(last4) > 4:
        raise ValidationError("bank_account.account_last4: longer than 4 characters")
    return {
        **account,
        "account_type": lower_or_none(account.get("account_type")),
        "country": normalize_country(account.get("country"), "bank_account.country"),
    }


def _wallet(wallet: AvroRecord | None) -> AvroRecord | None:
    if wallet is None:
        return None
    return {
        "wallet_address": require_id(wallet["wallet_address"], "wallet.wallet_address"),
        "blockchain": require_id(wallet["blockchain"], "wallet.blockchain").strip().lower(),
    }


def _redeem(redeem: AvroRecord) -> AvroRecord:
    require_id(redeem["merchant_id"], "redeem.merchant_id")
    kind = redeem["subtotal_kind"]
    expected = _SUBTOTAL_FIELDS[kind]
    for name in _SUBTOTAL_FIELDS.values():
        present = redeem.get(name) is not None
        if name == expected and not present:
            raise ValidationError(f"redeem.{name}: required when subtotal_kind is {kind}")
        if name != expected and present:
            raise ValidationError(f"redeem.{name}: set, but subtotal_kind is {kind}")
    out = dict(redeem)
    if kind == "FIAT":
        out["fiat_subtotal"] = normalize_money(redeem["fiat_subtotal"], "redeem.fiat_subtotal")
    elif kind == "CENTS":
        _non_negative(redeem["cents_subtotal"], "redeem.cents_subtotal")
    else:
        _token_subtotal(redeem["token_subtotal"])
    if redeem.get("usdc_amount") is not None:
        _non_negative(redeem["usdc_amount"], "redeem.usdc_amount")
    _transaction_data(redeem["transaction_data"])
    _auth(redeem)
    return out


def _non_negative(value: int, path: str) -> None:
    if value < 0:
        raise ValidationError(f"{path}: {value} is negative")


def _token_subtotal(token: AvroRecord) -> None:
    require_id(token["token_address"], "redeem.token_subtotal.token_address")
    amount = token["token_amount"]
    if not _TOKEN_AMOUNT.fullmatch(amount):
        raise ValidationError(
            f"redeem.token_subtotal.token_amount: {amount!r} is not a non-negative decimal"
        )
    decimals = token.get("token_decimals")
    if decimals is not None and not 0 <= decimals <= 255:
        raise ValidationError(f"redeem.token_subtotal.token_decimals: {decimals} is not 0..255")


def _transaction_data(data: AvroRecord) -> None:
    kind = data["kind"]
    if kind == "TRANSACTION" and not (data.get("to") and data.get("data")):
        raise ValidationError("redeem.transaction_data: TRANSACTION needs to and data")
    call_data = data.get("data")
    if call_data is not None and not _HEX_DATA.fullmatch(call_data):
        raise ValidationError("redeem.transaction_data.data: not 0x-prefixed hex bytes")
    extra = data.get("extra_json")
    if extra is None:
        if kind == "OTHER":
            raise ValidationError("redeem.transaction_data.extra_json: required for OTHER")
        return
    try:
        parsed: Any = orjson.loads(extra)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValidationError("redeem.transaction_data.extra_json: not a JSON object")


def _auth(redeem: AvroRecord) -> None:
    """Coinflow takes the end user's wallet + blockchain, or a session key: never both,
    never half of the first."""
    wallet, chain = redeem.get("auth_wallet"), redeem.get("auth_blockchain")
    session_key = redeem.get("auth_session_key")
    if session_key:
        if wallet or chain:
            raise ValidationError(
                "redeem.auth_session_key: give it or auth_wallet + auth_blockchain, not both"
            )
        return
    if not wallet and not chain:
        raise ValidationError(
            "redeem.auth_wallet: REDEEM needs auth_wallet + auth_blockchain or auth_session_key"
        )
    if not wallet:
        raise ValidationError("redeem.auth_wallet: required with auth_blockchain")
    if not chain:
        raise ValidationError("redeem.auth_blockchain: required with auth_wallet")
