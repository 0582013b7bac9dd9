"""Demo traffic: seeded, realistic events of every kind of the three input families, a
few updates, and a few deliberately malformed records so the DLQ path shows too."""

from __future__ import annotations

import json
import random
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from riskrelay.models import AvroRecord, Family
from riskrelay.normalize.money import exponent, to_major

LIFECYCLE_KINDS = (
    "SIGN_UP",
    "SIGN_IN",
    "SIGN_IN_FAILURE",
    "BUYER_CHALLENGE",
    "SIGN_OUT",
    "PROFILE_CHANGE",
    "ACCOUNT_BLOCKED",
    "ACCOUNT_SUSPENDED",
    "ACCOUNT_CLOSED",
    "ACCOUNT_ACTIVATED",
    "ACCOUNT_DELETED",
    "FORGOT_PASSWORD",
    "PASSWORD_RESET",
    "PROMO_CODE_USE",
    "REFERRAL",
    "COMMUNICATION",
    "USER_ACCESS",
)
# The kinds upstreams send most, weighted like a real day's traffic.
_COMMON = ("SIGN_IN",) * 6 + ("SIGN_IN_FAILURE",) * 2 + ("BUYER_CHALLENGE", "PROFILE_CHANGE")
_COUNTRIES = ("US", "GB", "DE", "FR", "BR", "JP", "IN", "NG", "CA", "AU")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Mobile Safari/537.36",
)
SESSION_HOURS = 4
_SESSION_SECONDS = SESSION_HOURS * 3600
_NETWORKS = ("198.51.100", "203.0.113")
"""Documentation address ranges (RFC 5737): no real host, no IP country."""
_CHALLENGES = ("EMAIL_LINK", "SMS_2FA", "TOTP", "KYC", "CAPTCHA", "THREE_DS")
_OUTCOMES = ("PASSED", "PASSED", "PASSED", "FAILED", "ABANDONED")


def lifecycle_event(
    rng: random.Random, subject_id: str, event_type: str, when: datetime
) -> AvroRecord:
    """One valid lifecycle event of ``event_type`` for ``subject_id``."""
    event: AvroRecord = {
        "event_id": f"evt-{uuid.UUID(int=rng.getrandbits(128))}",
        "event_type": event_type,
        "operation": "CREATE",
        "upsert_on_conflict": False,
        "subject_id": subject_id,
        "occurred_at": when,
        "user": _user_info(rng, subject_id),
        "session": _session_context(rng, subject_id, when),
        "address": None,
        "challenge": None,
        "failure_reason": None,
        "changed_fields": [],
        "details": None,
        "tags": {"source": "demo"},
    }
    if event_type == "BUYER_CHALLENGE":
        event["challenge"] = {"kind": rng.choice(_CHALLENGES), "outcome": rng.choice(_OUTCOMES)}
    elif event_type == "SIGN_IN_FAILURE":
        event["failure_reason"] = rng.choice(("bad_password", "unknown_user", "locked"))
    elif event_type == "PROFILE_CHANGE":
        event["changed_fields"] = ["address"]
        event["address"] = {
            "street": f"{rng.randint(1, 9999)} Market St",
            "unit": None,
            "city": "San Francisco",
            "state": "CA",
            "postal_code": "94103",
            "country": "US",
        }
    return event


def demo_events(count: int, seed: int = 7) -> Iterator[AvroRecord]:
    """``count`` events over ``count // 5`` subjects; every kind at least once, each
    subject's sign-up first, and one update (a corrected profile change) in every 25."""
    rng = random.Random(seed)
    subjects = [f"user-{i:05d}" for i in range(max(1, count // 5))]
    now = datetime.now(UTC).replace(microsecond=0)
    signed_up: set[str] = set()
    uncovered = list(LIFECYCLE_KINDS)
    last_profile_change: AvroRecord | None = None
    for i in range(count):
        subject = subjects[i % len(subjects)]
        when = now - timedelta(seconds=count - i)
        if i % 25 == 24 and last_profile_change is not None:
            update = {**last_profile_change, "operation": "UPDATE", "occurred_at": when}
            update["changed_fields"] = ["address", "phone"]
            last_profile_change = None
            yield update
            continue
        if subject not in signed_up:
            signed_up.add(subject)
            kind = "SIGN_UP"
        elif uncovered:
            kind = uncovered.pop()
        else:
            kind = rng.choice(_COMMON)
        event = lifecycle_event(rng, subject, kind, when)
        if kind == "PROFILE_CHANGE":
            last_profile_change = event
        yield event


def malformed_records() -> list[tuple[bytes, bytes]]:
    """(key, value) pairs the worker must dead-letter, not choke on."""
    return [
        (b"user-bad-1", b"this is not avro at all"),
        (b"user-bad-2", b"\x07\x00\x00\x00\x01garbage-after-a-wrong-magic-byte"),
    ]


PAYMENT_KINDS = (
    "PURCHASE",
    "DEPOSIT",
    "WITHDRAWAL",
    "REFUND",
    "REDEEM",
    "TRANSFER",
    "REVERSAL",
    "DEBIT",
    "LOAN_ISSUED",
    "LOAN_PAYMENT",
)
EVALUATION_KINDS = (
    "DISPUTE_OPENED",
    "EARLY_FRAUD_WARNING_RECEIVED",
    "REFUNDED",
    "USER_INTERVENTION_RAISED",
    "USER_INTERVENTION_RESOLVED",
)
# Mostly dollars, with the currencies whose exponents are not 2 (JPY 0, KWD 3) kept in
# the mix so every provider's money rendering gets exercised.
_CURRENCIES = ("USD",) * 5 + ("EUR", "EUR", "GBP", "JPY", "KWD")
# Units of USD per major unit, for the received side of cross-currency transfers.
_USD_RATES = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "JPY": Decimal("0.0067"),
    "KWD": Decimal("3.25"),
}
_RAILS = {
    "PURCHASE": ("CARD", "CARD", "CARD", "DIGITAL_WALLET"),
    "DEPOSIT": ("ACH", "ACH", "WIRE", "SEPA", "INSTANT_BANK", "CRYPTO", "CARD"),
    "WITHDRAWAL": ("ACH", "WIRE", "SEPA", "CRYPTO"),
    "REFUND": ("CARD",),
    "REDEEM": ("CRYPTO",),
    "TRANSFER": ("INTERNAL",),
    "REVERSAL": ("CARD", "ACH"),
    "DEBIT": ("CARD", "ACH"),
    "LOAN_ISSUED": ("ACH", "WIRE"),
    "LOAN_PAYMENT": ("ACH", "CARD"),
}
# Kinds in which money flows from the platform (a business) to the user.
_TO_USER = frozenset({"WITHDRAWAL", "REFUND", "REVERSAL", "LOAN_ISSUED"})
# (bin, network, country): test BINs of the big networks, 6 and 8 digits.
_CARDS = (
    ("424242", "visa", "US"),
    ("40000566", "visa", "US"),
    ("555555", "mastercard", "US"),
    ("22230031", "mastercard", "GB"),
    ("378282", "amex", "US"),
    ("601111", "discover", "US"),
    ("353011", "jcb", "JP"),
)
_BANKS = (
    ("Chase", "021000021", "US"),
    ("Wells Fargo", "121000248", "US"),
    ("Deutsche Bank", "DEUTDEFFXXX", "DE"),
    ("BNP Paribas", "BNPAFRPPXXX", "FR"),
    ("Barclays", "BARCGB22XXX", "GB"),
)
_CHAINS = ("eth", "polygon", "base", "arbitrum")
_USDC_ON_ETH = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
_DISPUTE_REASONS = (
    "FRAUDULENT",
    "FRAUDULENT",
    "PRODUCT_NOT_RECEIVED",
    "DUPLICATE",
    "SUBSCRIPTION_CANCELED",
    "CREDIT_NOT_PROCESSED",
    "GENERAL",
)
_FRAUD_TYPES = ("MADE_WITH_STOLEN_CARD", "UNAUTHORIZED_USE_OF_CARD", "MADE_WITH_LOST_CARD")
_REFUND_REASONS = ("REQUESTED_BY_CUSTOMER", "REQUESTED_BY_CUSTOMER", "DUPLICATE", "FRAUDULENT")
_INTERVENTIONS = ("THREE_DS", "THREE_DS", "CAPTCHA", "CUSTOM")
_CUSTOM_INTERVENTIONS = ("manual_review", "id_document_upload", "selfie_check")


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _event_id(rng: random.Random) -> str:
    return f"evt-{uuid.UUID(int=rng.getrandbits(128))}"


def _user_info(rng: random.Random, subject_id: str) -> AvroRecord:
    n = subject_id.rsplit("-", 1)[-1]
    return {
        "username": f"user{n}",
        "email": f"User{n}@Example.com",
        "phone": f"+1 415 555 {int(n) % 10000:04d}" if n.isdigit() else None,
        "first_name": "Demo",
        "last_name": f"User{n}",
        "date_of_birth": None,
        # crc32, not hash(): str hashes change from one process to the next.
        "country": _COUNTRIES[zlib.crc32(subject_id.encode()) % len(_COUNTRIES)],
        "risk_score": rng.randint(0, 100),
    }


def _session_context(rng: random.Random, subject_id: str, when: datetime) -> AvroRecord:
    """The subject's session at ``when``: on its usual device most of the time, now and
    then on its other one, each device with its own IP address, browser and fingerprint;
    a session lasts until the next ``SESSION_HOURS`` boundary, so a subject's events close
    together share it. Real users keep their devices: a new device and IP address on every
    event would make every event look like an account takeover to the profile (and give
    it twenty recent devices to remember per subject)."""
    device = 0 if rng.random() < 0.85 else 1
    tag = zlib.crc32(f"{subject_id}/{device}".encode())
    period = int(when.timestamp()) // _SESSION_SECONDS
    return {
        "session_id": f"sess-{tag:08x}{period & 0xFFFF:04x}",
        "session_started_at": datetime.fromtimestamp(period * _SESSION_SECONDS, UTC),
        "ip_address": f"{_NETWORKS[tag & 1]}.{tag % 254 + 1}",
        "user_agent": _AGENTS[tag % len(_AGENTS)],
        "device_id": f"dev-{tag:08x}",
        "client_fingerprint": f"fp-{tag:08x}{zlib.crc32(tag.to_bytes(4, 'big')):08x}",
    }


def _money(rng: random.Random, currency: str, low: int = 1, high: int = 500) -> AvroRecord:
    """Between ``low`` and ``high`` major units, with a random fractional part."""
    scale = 10 ** exponent(currency)
    minor = rng.randint(low, high) * scale + rng.randint(0, scale - 1)
    return {"amount_minor": minor, "currency": currency}


def _address(rng: random.Random, country: str) -> AvroRecord:
    return {
        "street": f"{rng.randint(1, 9999)} Market St",
        "unit": rng.choice((None, f"Apt {rng.randint(1, 40)}")),
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94103",
        "country": country,
    }


def _card(rng: random.Random) -> AvroRecord:
    bin_, network, country = rng.choice(_CARDS)
    return {
        "bin": bin_,
        "last4": f"{rng.randint(0, 9999):04d}",
        "network": network,
        "fingerprint": f"cfp_{_hex(rng, 16)}",
        "country": country,
        "three_ds": rng.choice((True, True, False, None)),
    }


def _bank_account(rng: random.Random) -> AvroRecord:
    name, routing, country = rng.choice(_BANKS)
    return {
        "bank_name": name,
        "routing_number": routing,
        "account_last4": f"{rng.randint(0, 9999):04d}",
        "account_type": rng.choice(("checking", "savings")),
        "country": country,
    }


def _redeem(rng: random.Random, amount: AvroRecord) -> AvroRecord:
    """A Coinflow creditsAuthMsg request in one of its subtotal and auth forms."""
    kind = rng.choice(("FIAT", "CENTS", "TOKEN"))
    minting = rng.random() < 0.5
    transaction = {
        "kind": "SAFE_MINT" if minting else "TRANSACTION",
        "to": f"0x{_hex(rng, 40)}",
        "data": f"0xa9059cbb{_hex(rng, 128)}",
        "extra_json": json.dumps({"nftContract": f"0x{_hex(rng, 40)}"}) if minting else None,
    }
    by_session_key = rng.random() < 0.5
    return {
        "merchant_id": "merchant_demo",
        "subtotal_kind": kind,
        "fiat_subtotal": amount if kind == "FIAT" else None,
        "cents_subtotal": amount["amount_minor"] if kind == "CENTS" else None,
        "token_subtotal": {
            "token_address": _USDC_ON_ETH,
            "token_amount": str(amount["amount_minor"] * 10**4),
            "token_decimals": 6,
        }
        if kind == "TOKEN"
        else None,
        "transaction_data": transaction,
        "usdc_amount": rng.choice((None, amount["amount_minor"])),
        "auth_wallet": None if by_session_key else f"0x{_hex(rng, 40)}",
        "auth_blockchain": None if by_session_key else rng.choice(_CHAINS),
        "auth_session_key": f"eyJhbGciOiJIUzI1NiJ9.{_hex(rng, 32)}.{_hex(rng, 43)}"
        if by_session_key
        else None,
    }


def payment_event(
    rng: random.Random,
    subject_id: str,
    event_type: str,
    when: datetime,
    payment_id: str | None = None,
) -> AvroRecord:
    """One valid payment event of ``event_type`` (``payment.avsc``) for ``subject_id``,
    with the instrument its rail implies and the sub-records its kind requires."""
    if event_type not in _RAILS:
        raise ValueError(f"unknown payment event type {event_type!r}")
    rail = rng.choice(_RAILS[event_type])
    currency = "USD" if event_type == "REDEEM" else rng.choice(_CURRENCIES)
    amount = _money(rng, currency)
    user_side: AvroRecord = {
        "entity_id": subject_id,
        "entity_type": "USER",
        "instrument_id": f"instr-{_hex(rng, 8)}",
    }
    platform_side: AvroRecord = {
        "entity_id": "riskrelay-demo-merchant",
        "entity_type": "BUSINESS",
        "instrument_id": None,
    }
    if event_type == "TRANSFER":
        other = f"user-{rng.randint(0, 99999):05d}"
        sender, receiver = user_side, {**user_side, "entity_id": other, "instrument_id": None}
    elif event_type in _TO_USER:
        sender, receiver = platform_side, user_side
    else:
        sender, receiver = user_side, platform_side
    user = _user_info(rng, subject_id)
    event: AvroRecord = {
        "event_id": _event_id(rng),
        "event_type": event_type,
        "operation": "CREATE",
        "upsert_on_conflict": False,
        "subject_id": subject_id,
        "occurred_at": when,
        "user": user,
        "session": _session_context(rng, subject_id, when),
        "payment_id": payment_id or f"pay-{_hex(rng, 16)}",
        "status": rng.choice(("succeeded", "succeeded", "succeeded", "pending", "failed")),
        "amount": amount,
        "fee": rng.choice(
            (None, {"amount_minor": amount["amount_minor"] // 50, "currency": currency})
        ),
        "external_fee": None,
        "received": None,
        "exchange_rate": None,
        "rail": rail,
        "card": _card(rng) if rail == "CARD" else None,
        "bank_account": _bank_account(rng)
        if rail in ("ACH", "WIRE", "SEPA", "INSTANT_BANK")
        else None,
        "wallet": {"wallet_address": f"0x{_hex(rng, 40)}", "blockchain": rng.choice(_CHAINS)}
        if rail == "CRYPTO"
        else None,
        "transaction_hash": f"0x{_hex(rng, 64)}" if rail == "CRYPTO" else None,
        "sender": sender,
        "receiver": receiver,
        "is_guest": event_type == "PURCHASE" and rng.random() < 0.2,
        "billing_address": _address(rng, user["country"]) if rail == "CARD" else None,
        "shipping_address": _address(rng, user["country"]) if event_type == "PURCHASE" else None,
        "channel": rng.choice(("web", "app", "app", "api")),
        "parent_event_id": _event_id(rng) if event_type in ("REFUND", "REVERSAL") else None,
        "redeem": _redeem(rng, amount) if event_type == "REDEEM" else None,
        "details": None,
        "tags": {"source": "demo"},
    }
    if rail == "CARD" and rng.random() < 0.5:
        event["external_fee"] = {"amount_minor": amount["amount_minor"] // 40, "currency": currency}
    if event_type == "TRANSFER" and currency != "USD":
        rate = _USD_RATES[currency]
        received = (to_major(amount) * rate * 100).to_integral_value()
        event["received"] = {"amount_minor": int(received), "currency": "USD"}
        event["exchange_rate"] = float(rate)
    return event


def evaluation_event(
    rng: random.Random,
    subject_id: str,
    event_type: str,
    when: datetime,
    payment_id: str,
    intervention_id: str | None = None,
) -> AvroRecord:
    """One valid evaluation event of ``event_type`` (``evaluation.avsc``) about
    ``payment_id``; a resolved intervention names ``intervention_id`` when given."""
    currency = rng.choice(_CURRENCIES)
    event: AvroRecord = {
        "event_id": _event_id(rng),
        "event_type": event_type,
        "operation": "CREATE",
        "upsert_on_conflict": False,
        "subject_id": subject_id,
        "occurred_at": when,
        "user": _user_info(rng, subject_id),
        "session": _session_context(rng, subject_id, when),
        "payment_id": payment_id,
        "dispute": None,
        "early_fraud_warning": None,
        "refund": None,
        "intervention_raised": None,
        "intervention_resolved": None,
        "metadata": {"order_id": f"ord-{_hex(rng, 10)}"},
        "tags": {"source": "demo"},
    }
    intervention = intervention_id or f"intv-{_hex(rng, 12)}"
    if event_type == "DISPUTE_OPENED":
        event["dispute"] = {"amount": _money(rng, currency), "reason": rng.choice(_DISPUTE_REASONS)}
    elif event_type == "EARLY_FRAUD_WARNING_RECEIVED":
        event["early_fraud_warning"] = {"fraud_type": rng.choice(_FRAUD_TYPES)}
    elif event_type == "REFUNDED":
        event["refund"] = {"amount": _money(rng, currency), "reason": rng.choice(_REFUND_REASONS)}
    elif event_type == "USER_INTERVENTION_RAISED":
        kind = rng.choice(_INTERVENTIONS)
        event["intervention_raised"] = {
            "intervention_id": intervention,
            "type": kind,
            "custom_type": rng.choice(_CUSTOM_INTERVENTIONS) if kind == "CUSTOM" else None,
        }
    elif event_type == "USER_INTERVENTION_RESOLVED":
        event["intervention_resolved"] = {
            "intervention_id": intervention,
            "outcome": rng.choice(("PASSED", "PASSED", "FAILED", "ABANDONED")),
        }
    else:
        raise ValueError(f"unknown evaluation event type {event_type!r}")
    return event


@dataclass
class _Subject:
    """What the stream has said about one subject so far."""

    signed_up: bool = False
    purchases: list[str] = field(default_factory=list)
    open_interventions: list[tuple[str, str]] = field(default_factory=list)  # (payment, id)


def _feasible(family: Family, kind: str, subject: _Subject) -> bool:
    if family is not Family.EVALUATION:
        return True
    if kind == "USER_INTERVENTION_RESOLVED":
        return bool(subject.open_interventions)
    return bool(subject.purchases)


def demo_stream(count: int, seed: int = 7) -> Iterator[tuple[Family, AvroRecord]]:
    """``count`` events of all three families over ``count // 8`` subjects, in an order an
    upstream could produce: a subject signs up first, evaluations follow one of its
    purchases, a resolved intervention follows its raised one. Every kind of every
    family appears at least once; one event in 25 updates an earlier profile change."""
    rng = random.Random(seed)
    subjects = [f"user-{i:05d}" for i in range(max(1, count // 8))]
    seen = {s: _Subject() for s in subjects}
    now = datetime.now(UTC).replace(microsecond=0)
    uncovered = [
        *((Family.LIFECYCLE, k) for k in LIFECYCLE_KINDS if k != "SIGN_UP"),
        *((Family.PAYMENT, k) for k in PAYMENT_KINDS),
        *((Family.EVALUATION, k) for k in EVALUATION_KINDS),
    ]
    common: list[tuple[Family, str]] = [
        *((Family.LIFECYCLE, k) for k in _COMMON),
        *((Family.PAYMENT, "PURCHASE") for _ in range(4)),
        (Family.PAYMENT, "DEPOSIT"),
        (Family.PAYMENT, "WITHDRAWAL"),
        (Family.PAYMENT, "REDEEM"),
        *((Family.EVALUATION, k) for k in EVALUATION_KINDS),
    ]
    last_profile_change: AvroRecord | None = None
    for i in range(count):
        name = subjects[i % len(subjects)]
        subject = seen[name]
        when = now - timedelta(seconds=count - i)
        if i % 25 == 24 and last_profile_change is not None:
            update = {**last_profile_change, "operation": "UPDATE", "occurred_at": when}
            update["changed_fields"] = ["address", "phone"]
            last_profile_change = None
            yield Family.LIFECYCLE, update
            continue
        if not subject.signed_up:
            subject.signed_up = True
            family, kind = Family.LIFECYCLE, "SIGN_UP"
        else:
            todo = [fk for fk in uncovered if _feasible(*fk, subject)]
            choices = todo or [fk for fk in common if _feasible(*fk, subject)]
            family, kind = todo[0] if todo else rng.choice(choices)
            if todo:
                uncovered.remove(todo[0])
        if family is Family.LIFECYCLE:
            event = lifecycle_event(rng, name, kind, when)
            if kind == "PROFILE_CHANGE":
                last_profile_change = event
        elif family is Family.PAYMENT:
            event = payment_event(rng, name, kind, when)
            if kind == "PURCHASE":
                subject.purchases.append(event["payment_id"])
        elif kind == "USER_INTERVENTION_RESOLVED":
            payment_id, intervention = subject.open_interventions.pop(0)
            event = evaluation_event(rng, name, kind, when, payment_id, intervention)
        else:
            payment_id = rng.choice(subject.purchases)
            event = evaluation_event(rng, name, kind, when, payment_id)
            if kind == "USER_INTERVENTION_RAISED":
                raised = event["intervention_raised"]["intervention_id"]
                subject.open_interventions.append((payment_id, raised))
        yield family, event
