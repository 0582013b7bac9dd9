"""Contract tests for the Avro schemas in ``schemas/``.

They check that every schema parses with both Avro libraries, is documented throughout, that the
enums match the providers' contracts (``providers.md`` and the seed documents), that a record of
every event type round-trips, and that named types shared between files stay identical.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import fastavro
import pytest

from tests.fixtures.avro import avro_bytes

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.avsc"))
NAMESPACE = "riskrelay.v1"

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
NAMED = {"record", "enum", "fixed"}


def load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())


def full_name(name: str, namespace: str) -> str:
    return name if "." in name else f"{namespace}.{name}"


def walk(node: Any, namespace: str, path: str) -> Iterator[tuple[str, str, Any, str]]:
    """Yield (path, kind, node, namespace) for every named type definition and record field."""
    if isinstance(node, list):
        for i, branch in enumerate(node):
            yield from walk(branch, namespace, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    kind = node["type"]
    if kind in NAMED:
        namespace = node.get("namespace", namespace)
        name = full_name(node["name"], namespace)
        if "." in node["name"]:
            namespace = name.rsplit(".", 1)[0]
        yield name, kind, node, namespace
        for field in node.get("fields", []):
            field_path = f"{name}.{field['name']}"
            yield field_path, "field", field, namespace
            yield from walk(field["type"], namespace, field_path)
    elif kind == "array":
        yield from walk(node["items"], namespace, f"{path}[]")
    elif kind == "map":
        yield from walk(node["values"], namespace, f"{path}{{}}")
    elif isinstance(kind, dict | list):
        yield from walk(kind, namespace, path)


def named_types(schema: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    return {
        path: (node, ns)
        for path, kind, node, ns in walk(schema, schema.get("namespace", ""), "")
        if kind in NAMED
    }


def inline(node: Any, namespace: str, defs: dict[str, tuple[dict[str, Any], str]]) -> Any:
    """The node with every reference to a named type replaced by its (inlined) definition."""
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        definition, ns = defs[full_name(node, namespace)]
        return inline(definition, ns, defs)
    if isinstance(node, list):
        return [inline(branch, namespace, defs) for branch in node]
    out = dict(node)
    if out.get("type") in NAMED:
        out["name"] = full_name(out["name"], namespace)
        out.pop("namespace", None)
        namespace = out["name"].rsplit(".", 1)[0]
    if "fields" in out:
        out["fields"] = [
            {**field, "type": inline(field["type"], namespace, defs)} for field in out["fields"]
        ]
    for key in ("items", "values"):
        if key in out:
            out[key] = inline(out[key], namespace, defs)
    if isinstance(out.get("type"), dict | list):
        out["type"] = inline(out["type"], namespace, defs)
    return out


def symbols(file: str, enum: str) -> list[str]:
    node, _ = named_types(load(file))[f"{NAMESPACE}.{enum}"]
    return list(node["symbols"])


# ---------------------------------------------------------------------------------- parsing


def test_schema_files_present() -> None:
    names = {p.name for p in SCHEMA_FILES}
    assert {
        "lifecycle.avsc",
        "payment.avsc",
        "evaluation.avsc",
        "normalized.avsc",
        "event_state.avsc",
        "delivery_result.avsc",
        "dlq.avsc",
    } <= names


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_parses_with_fastavro(path: Path) -> None:
    parsed = fastavro.parse_schema(json.loads(path.read_text()))
    assert parsed["name"].startswith(f"{NAMESPACE}.")


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_parses_with_avro(path: Path) -> None:
    # The schema registry client uses the reference implementation: each file alone.
    parsed = avro.schema.parse(path.read_text())
    assert parsed.namespace == NAMESPACE


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_everything_documented(path: Path) -> None:
    schema = json.loads(path.read_text())
    missing = [
        p
        for p, _, node, _ in walk(schema, schema.get("namespace", ""), "")
        if not (isinstance(node.get("doc"), str) and node["doc"].strip())
    ]
    assert missing == []


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_nullable_fields_default_to_null(path: Path) -> None:
    # Avro requires a union's default to match its first branch.
    schema = json.loads(path.read_text())
    bad = [
        p
        for p, kind, node, _ in walk(schema, schema.get("namespace", ""), "")
        if kind == "field"
        and isinstance(node["type"], list)
        and "null" in node["type"]
        and (node["type"][0] != "null" or node.get("default", "missing") is not None)
    ]
    assert bad == []


# ------------------------------------------------------------------ enums vs. the sources

# providers.md §5 / seed 004 (Stripe payment evaluations), lower case as Stripe sends them.
STRIPE_EVENT_TYPES = [
    "dispute_opened",
    "early_fraud_warning_received",
    "refunded",
    "user_intervention_raised",
    "user_intervention_resolved",
]
STRIPE_DISPUTE_REASONS = [
    "account_not_available",
    "credit_not_processed",
    "customer_initiated",
    "duplicate",
    "fraudulent",
    "general",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
]
STRIPE_FRAUD_TYPES = [
    "made_with_lost_card",
    "made_with_stolen_card",
    "other",
    "unauthorized_use_of_card",
]
STRIPE_REFUND_REASONS = ["duplicate", "fraudulent", "other", "requested_by_customer"]
STRIPE_INTERVENTION_TYPES = ["3ds", "captcha", "custom"]
STRIPE_INTERVENTION_OUTCOMES = ["abandoned", "failed", "passed"]

# Stripe values that are not valid Avro symbols (a symbol cannot start with a digit).
STRIPE_SPECIAL = {"3ds": "THREE_DS"}


def stripe_symbol(value: str) -> str:
    return STRIPE_SPECIAL.get(value, value.upper())


@pytest.mark.parametrize(
    ("file", "enum", "stripe_values"),
    [
        ("evaluation.avsc", "EvaluationEventType", STRIPE_EVENT_TYPES),
        ("evaluation.avsc", "DisputeReason", STRIPE_DISPUTE_REASONS),
        ("evaluation.avsc", "FraudType", STRIPE_FRAUD_TYPES),
        ("evaluation.avsc", "RefundReason", STRIPE_REFUND_REASONS),
        ("evaluation.avsc", "InterventionType", STRIPE_INTERVENTION_TYPES),
        ("evaluation.avsc", "InterventionOutcome", STRIPE_INTERVENTION_OUTCOMES),
        ("normalized.avsc", "DisputeReason", STRIPE_DISPUTE_REASONS),
        ("normalized.avsc", "FraudType", STRIPE_FRAUD_TYPES),
        ("normalized.avsc", "RefundReason", STRIPE_REFUND_REASONS),
        ("normalized.avsc", "InterventionType", STRIPE_INTERVENTION_TYPES),
        ("normalized.avsc", "InterventionOutcome", STRIPE_INTERVENTION_OUTCOMES),
    ],
)
def test_stripe_enums_match(file: str, enum: str, stripe_values: list[str]) -> None:
    assert sorted(symbols(file, enum)) == sorted(stripe_symbol(v) for v in stripe_values)


def test_three_ds_mapping_is_documented() -> None:
    node, _ = named_types(load("evaluation.avsc"))[f"{NAMESPACE}.InterventionType"]
    assert "THREE_DS" in node["symbols"]
    assert "3ds" in node["doc"]


# providers.md §1 / seed 000: Coinflow eventType -> LifecycleEventType.
COINFLOW_EVENT_TYPES = {
    "SignUp": "SIGN_UP",
    "SignIn": "SIGN_IN",
    "SignInFailure": "SIGN_IN_FAILURE",
    "BuyerChallenge": "BUYER_CHALLENGE",
}
# providers.md §3 / seed 002: Unit21 action_data.action_type -> LifecycleEventType.
UNIT21_ACTION_TYPES = {
    "SIGNUP": "SIGN_UP",
    "LOGIN": "SIGN_IN",
    "LOGOUT": "SIGN_OUT",
    "BLOCK": "ACCOUNT_BLOCKED",
    "CLOSE": "ACCOUNT_CLOSED",
    "ACTIVATE": "ACCOUNT_ACTIVATED",
    "FORGOT_PASSWORD": "FORGOT_PASSWORD",
    "PASSWORD_RESET": "PASSWORD_RESET",
    "PROMO_CODE_USE": "PROMO_CODE_USE",
    "PROFILE_CHANGE": "PROFILE_CHANGE",
}
# Seed 002: Unit21's recommended action subtypes -> (file, enum, symbol). A dispute is an
# evaluation event, not a lifecycle one.
UNIT21_ACTION_SUBTYPES = {
    "user_login": ("lifecycle.avsc", "LifecycleEventType", "SIGN_IN"),
    "user_logout": ("lifecycle.avsc", "LifecycleEventType", "SIGN_OUT"),
    "user_access": ("lifecycle.avsc", "LifecycleEventType", "USER_ACCESS"),
    "user_profile_update": ("lifecycle.avsc", "LifecycleEventType", "PROFILE_CHANGE"),
    "user_deletion": ("lifecycle.avsc", "LifecycleEventType", "ACCOUNT_DELETED"),
    "user_blocked": ("lifecycle.avsc", "LifecycleEventType", "ACCOUNT_BLOCKED"),
    "user_suspended": ("lifecycle.avsc", "LifecycleEventType", "ACCOUNT_SUSPENDED"),
    "communication": ("lifecycle.avsc", "LifecycleEventType", "COMMUNICATION"),
    "dispute": ("evaluation.avsc", "EvaluationEventType", "DISPUTE_OPENED"),
    "user_referral": ("lifecycle.avsc", "LifecycleEventType", "REFERRAL"),
    "promotion_applied": ("lifecycle.avsc", "LifecycleEventType", "PROMO_CODE_USE"),
}
# Seed 002: Unit21's recommended transaction subtypes -> (enum, symbol). "ach" names a rail,
# not a kind of payment: an ACH deposit is event_type DEPOSIT with rail ACH.
UNIT21_TRANSACTION_SUBTYPES = {
    "ach": ("PaymentRail", "ACH"),
    "deposit": ("PaymentEventType", "DEPOSIT"),
    "withdrawal": ("PaymentEventType", "WITHDRAWAL"),
    "p2p": ("PaymentEventType", "TRANSFER"),
    "purchase": ("PaymentEventType", "PURCHASE"),
    "refund": ("PaymentEventType", "REFUND"),
    "reversal": ("PaymentEventType", "REVERSAL"),
    "debit": ("PaymentEventType", "DEBIT"),
    "loan_issued": ("PaymentEventType", "LOAN_ISSUED"),
    "loan_payment": ("PaymentEventType", "LOAN_PAYMENT"),
}
# Payment kinds that come from a provider other than Unit21.
PAYMENT_TYPES_FROM_OTHER_SOURCES = {"REDEEM": "Coinflow credits redemption (seed 001)"}


def test_lifecycle_covers_coinflow_event_types() -> None:
    assert set(COINFLOW_EVENT_TYPES.values()) <= set(
        symbols("lifecycle.avsc", "LifecycleEventType")
    )


def test_lifecycle_covers_unit21_action_types() -> None:
    assert set(UNIT21_ACTION_TYPES.values()) <= set(symbols("lifecycle.avsc", "LifecycleEventType"))


def test_unit21_action_subtypes_are_covered() -> None:
    for subtype, (file, enum, symbol) in UNIT21_ACTION_SUBTYPES.items():
        assert symbol in symbols(file, enum), subtype


def test_payment_types_cover_unit21_transaction_subtypes() -> None:
    for subtype, (enum, symbol) in UNIT21_TRANSACTION_SUBTYPES.items():
        assert symbol in symbols("payment.avsc", enum), subtype
    mapped = {s for enum, s in UNIT21_TRANSACTION_SUBTYPES.values() if enum == "PaymentEventType"}
    assert set(symbols("payment.avsc", "PaymentEventType")) == mapped | set(
        PAYMENT_TYPES_FROM_OTHER_SOURCES
    )


def test_entity_type_matches_unit21() -> None:
    assert [s.lower() for s in symbols("payment.avsc", "EntityType")] == ["user", "business"]


@pytest.mark.parametrize("file", ["payment.avsc", "normalized.avsc"])
def test_redeem_subtotal_kinds_match_coinflow(file: str) -> None:
    # Coinflow subtotal: {cents, currency} | {cents} | {address, amount, decimals?}.
    assert symbols(file, "RedeemSubtotalKind") == ["FIAT", "CENTS", "TOKEN"]


# ------------------------------------------------------------------------- round trips

T0 = dt.datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=3)

USER = {
    "username": "johndoe92",
    "email": "johndoe92@example.com",
    "phone": "+1 123 456-898-87",
    "first_name": "John",
    "last_name": "Doe",
    "date_of_birth": dt.date(1992, 4, 1),
    "country": "US",
    "risk_score": 15,
}
SESSION = {
    "session_id": "sess-1",
    "session_started_at": T0 - dt.timedelta(hours=2),
    "ip_address": "27.134.25.17",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Firefox/126.0",
    "device_id": "nmljasfdKsed8keM#@2k",
    "client_fingerprint": "fp-1",
}
BILLING = {
    "street": "8247 Christopher Mountains",
    "unit": "Apt. 462",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "27315",
    "country": "US",
}
SHIPPING = {"street": "9143 Wendy Park Suite 894", "postal_code": "84639", "country": "US"}


def envelope(event_type: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-{event_type.lower()}-{n}",
        "event_type": event_type,
        "operation": "CREATE",
        "upsert_on_conflict": False,
        "subject_id": "user-42",
        "occurred_at": T0,
        "user": USER,
        "session": SESSION,
        "tags": {"env": "test"},
    }


LIFECYCLE_EXTRA: dict[str, dict[str, Any]] = {
    "BUYER_CHALLENGE": {"challenge": {"kind": "SMS_2FA", "outcome": "PASSED"}},
    "SIGN_IN_FAILURE": {"failure_reason": "bad_password"},
    "PROFILE_CHANGE": {"address": BILLING, "changed_fields": ["address", "phone"]},
    "PROMO_CODE_USE": {"details": "SPRING25"},
}

CARD = {
    "bin": "25970312",
    "last4": "4242",
    "network": "visa",
    "fingerprint": "card-fp-1",
    "country": "US",
    "three_ds": True,
}
USD_2500 = {"amount_minor": 2500, "currency": "USD"}
ME = {"entity_id": "user-42", "entity_type": "USER", "instrument_id": "card-1"}
SHOP = {"entity_id": "merchant-7", "entity_type": "BUSINESS", "instrument_id": None}
REDEEM_BASE = {
    "merchant_id": "merchant_abc123",
    "transaction_data": {
        "kind": "SAFE_MINT",
        "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "data": "0xa9059cbb00000000000000000000000000000000000000000000000000000000000003e8",
        "extra_json": '{"nftContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}',
    },
}

PAYMENT_EXTRA: dict[str, dict[str, Any]] = {
    "PURCHASE": {
        "rail": "CARD",
        "card": CARD,
        "sender": ME,
        "receiver": SHOP,
        "is_guest": True,
        "billing_address": BILLING,
        "shipping_address": SHIPPING,
        "channel": "web",
        "fee": {"amount_minor": 75, "currency": "USD"},
    },
    "DEPOSIT": {
        "rail": "ACH",
        "bank_account": {
            "bank_name": "First Bank",
            "routing_number": "021000021",
            "account_last4": "6789",
            "account_type": "checking",
            "country": "US",
        },
        "receiver": ME,
    },
    "WITHDRAWAL": {
        "rail": "CRYPTO",
        "wallet": {
            "wallet_address": "0xd11cc1D037B49098130BDeB592d468E3fe131240",
            "blockchain": "eth",
        },
        "transaction_hash": "0x" + "ab" * 32,
        "sender": ME,
    },
    "REFUND": {"parent_event_id": "evt-purchase-0", "receiver": ME, "status": "succeeded"},
    "REDEEM": {
        "redeem": {
            **REDEEM_BASE,
            "subtotal_kind": "FIAT",
            "fiat_subtotal": USD_2500,
            "usdc_amount": 2500,
            "auth_wallet": "0xd11cc1D037B49098130BDeB592d468E3fe131240",
            "auth_blockchain": "polygon",
        }
    },
    "TRANSFER": {
        "sender": ME,
        "receiver": {"entity_id": "user-43", "entity_type": "USER", "instrument_id": "acct-9"},
        "received": {"amount_minor": 2300, "currency": "EUR"},
        "exchange_rate": 0.92,
        "external_fee": {"amount_minor": 10, "currency": "USD"},
        "rail": "INTERNAL",
    },
    "REVERSAL": {"parent_event_id": "evt-transfer-0", "details": "operator correction"},
    "DEBIT": {"receiver": ME, "amount": {"amount_minor": 1000, "currency": "JPY"}},
    "LOAN_ISSUED": {"receiver": ME, "amount": {"amount_minor": 1234567, "currency": "KWD"}},
    "LOAN_PAYMENT": {"sender": ME, "rail": "ACH"},
}
# Extra cases for the other forms of the Coinflow redeem subtotal.
REDEEM_VARIANTS = [
    {
        **REDEEM_BASE,
        "subtotal_kind": "CENTS",
        "cents_subtotal": 0,
        "auth_session_key": "eyJhbGciOi.session.key",
    },
    {
        **REDEEM_BASE,
        "subtotal_kind": "TOKEN",
        "token_subtotal": {
            "token_address": "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582",
            "token_amount": "123456789012345678901234567890",
            "token_decimals": 18,
        },
        "transaction_data": {
            "kind": "TRANSACTION",
            "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "data": "0x",
            "extra_json": None,
        },
        "auth_session_key": "eyJhbGciOi.session.key",
    },
]

EVALUATION_EXTRA: dict[str, dict[str, Any]] = {
    "DISPUTE_OPENED": {"dispute": {"amount": USD_2500, "reason": "PRODUCT_NOT_RECEIVED"}},
    "EARLY_FRAUD_WARNING_RECEIVED": {
        "early_fraud_warning": {"fraud_type": "UNAUTHORIZED_USE_OF_CARD"}
    },
    "REFUNDED": {"refund": {"amount": USD_2500, "reason": "REQUESTED_BY_CUSTOMER"}},
    "USER_INTERVENTION_RAISED": {
        "intervention_raised": {
            "intervention_id": "iv-1",
            "type": "CUSTOM",
            "custom_type": "selfie_check",
        }
    },
    "USER_INTERVENTION_RESOLVED": {
        "intervention_resolved": {"intervention_id": "iv-1", "outcome": "PASSED"}
    },
}


def lifecycle_event(event_type: str, n: int = 0) -> dict[str, Any]:
    return {**envelope(event_type, n), **LIFECYCLE_EXTRA.get(event_type, {})}


def payment_event(event_type: str, n: int = 0) -> dict[str, Any]:
    return {
        **envelope(event_type, n),
        "payment_id": f"pay-{n}",
        "status": "authorized",
        "amount": USD_2500,
        **PAYMENT_EXTRA[event_type],
    }


def evaluation_event(event_type: str, n: int = 0) -> dict[str, Any]:
    return {
        **envelope(event_type, n),
        "payment_id": "pay-0",
        "metadata": {"order_id": "o-1"},
        **EVALUATION_EXTRA[event_type],
    }


FAMILIES = {
    "lifecycle.avsc": ("LifecycleEventType", lifecycle_event),
    "payment.avsc": ("PaymentEventType", payment_event),
    "evaluation.avsc": ("EvaluationEventType", evaluation_event),
}


def event_cases() -> Iterator[Any]:
    for file, (enum, build) in FAMILIES.items():
        for symbol in symbols(file, enum):
            yield pytest.param(file, build(symbol), id=f"{file}:{symbol}")
    for i, redeem in enumerate(REDEEM_VARIANTS, start=1):
        record = payment_event("REDEEM", i)
        record["redeem"] = redeem
        yield pytest.param(
            "payment.avsc", record, id=f"payment.avsc:REDEEM-{redeem['subtotal_kind']}"
        )


def normalized_of(family: str, event: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event["event_id"],
        "version": 1,
        "family": family,
        "kind": event["event_type"].lower(),
        "operation": "CREATE",
        "subject_id": event["subject_id"],
        "occurred_at": event["occurred_at"],
        "normalized_at": T1,
        "source": {"topic": f"risk.{family.lower()}.v1", "partition": 3, "offset": 42},
        "user": USER,
        "session": SESSION,
        "address": event.get("address"),
        **details,
        "tags": event["tags"],
    }


def other_cases() -> Iterator[Any]:
    life = lifecycle_event("BUYER_CHALLENGE")
    yield pytest.param(
        "normalized.avsc",
        normalized_of("LIFECYCLE", life, {"lifecycle": {"challenge": life["challenge"]}}),
        id="normalized.avsc:LIFECYCLE",
    )
    pay = payment_event("PURCHASE")
    pay_details = {k: v for k, v in pay.items() if k not in envelope("PURCHASE", 0)}
    redeem = payment_event("REDEEM")
    redeem_details = {k: v for k, v in redeem.items() if k not in envelope("REDEEM", 0)}
    redeem_details["redeem"] = {**redeem_details["redeem"], "auth_wallet": None}
    redeem_details["redeem"]["auth_blockchain"] = None
    for name, event, details in [
        ("PURCHASE", pay, pay_details),
        ("REDEEM", redeem, redeem_details),
    ]:
        yield pytest.param(
            "normalized.avsc",
            normalized_of("PAYMENT", event, {"payment": details}),
            id=f"normalized.avsc:PAYMENT-{name}",
        )
    for symbol in symbols("evaluation.avsc", "EvaluationEventType"):
        ev = evaluation_event(symbol)
        ev_details = {k: v for k, v in ev.items() if k not in envelope(symbol, 0)}
        yield pytest.param(
            "normalized.avsc",
            normalized_of("EVALUATION", ev, {"evaluation": ev_details}),
            id=f"normalized.avsc:EVALUATION-{symbol}",
        )
    delivery = {
        "provider": "stripe",
        "outcome": "DELIVERED",
        "attempts": 2,
        "status_code": 200,
        "response_ref": "peval_123",
        "error": None,
        "completed_at": T1,
    }
    yield pytest.param(
        "event_state.avsc",
        {
            "event_id": "evt-1",
            "subject_id": "user-42",
            "family": "PAYMENT",
            "kind": "purchase",
            "current": {
                "version": 1,
                "status": "PROCESSED",
                "processed_at": T1,
                "data_json": "{}",
                "deliveries": [delivery],
                "errors": [],
            },
            "pending": {"version": 2, "accepted_at": T1, "deliveries": [delivery]},
            "updated_at": T1,
            "source": {"topic": "risk.payment.v1", "partition": 0, "offset": 7},
        },
        id="event_state.avsc",
    )
    yield pytest.param(
        "delivery_result.avsc",
        {
            "event_id": "evt-1",
            "version": 1,
            "subject_id": "user-42",
            "kind": "redeem",
            "provider": "coinflow",
            "endpoint": "POST /api/redeem/evm/creditsAuthMsg",
            "outcome": "DELIVERED",
            "status_code": 200,
            "attempts": [
                {
                    "started_at": T0,
                    "duration_ms": 12.5,
                    "status_code": 429,
                    "error": "rate limited",
                },
                {"started_at": T1, "duration_ms": 80.0, "status_code": 200, "error": None},
            ],
            "response_body": '{"nonce": "nonce_789xyz"}',
            "response_ref": "nonce_789xyz",
            "error": None,
            "occurred_at": T0,
            "completed_at": T1,
        },
        id="delivery_result.avsc",
    )
    yield pytest.param(
        "dlq.avsc",
        {
            "reason": "undecodable",
            "error_class": "SerializationError",
            "message": "magic byte missing",
            "source_topic": "risk.payment.v1",
            "source_partition": 1,
            "source_offset": 99,
            "source_timestamp": T0,
            "original_key": b"user-42",
            "original_value": b"\x01\x02",
            "original_headers": [{"key": "trace", "value": b"abc"}],
            "event_id": None,
            "subject_id": "user-42",
            "provider": None,
            "attempts": 0,
            "failed_at": T1,
        },
        id="dlq.avsc",
    )


def assert_contains(actual: Any, expected: Any, path: str = "$") -> None:
    """Every value given in expected comes back unchanged (absent keys were filled by defaults)."""
    if isinstance(expected, dict) and not path.endswith(("tags", "metadata")):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key}"
            assert_contains(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_contains(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, path


def round_trip(file: str, record: dict[str, Any]) -> None:
    schema = load(file)
    parsed = fastavro.parse_schema(schema)
    data = avro_bytes(parsed, copy.deepcopy(record))

    back = fastavro.schemaless_reader(io.BytesIO(data), parsed, None)
    assert_contains(back, record)

    # The bytes read the same with the reference implementation the registry client uses.
    reader = avro.io.DatumReader(avro.schema.parse(json.dumps(schema)))
    assert reader.read(avro.io.BinaryDecoder(io.BytesIO(data))) == back


@pytest.mark.parametrize(("file", "record"), list(event_cases()))
def test_event_round_trip(file: str, record: dict[str, Any]) -> None:
    round_trip(file, record)


@pytest.mark.parametrize(("file", "record"), list(other_cases()))
def test_output_round_trip(file: str, record: dict[str, Any]) -> None:
    round_trip(file, record)


def test_every_event_type_has_a_case() -> None:
    covered = {p.id for p in event_cases()}
    for file, (enum, _) in FAMILIES.items():
        for symbol in symbols(file, enum):
            assert f"{file}:{symbol}" in covered


def test_unknown_event_type_is_rejected() -> None:
    parsed = fastavro.parse_schema(load("payment.avsc"))
    record = payment_event("PURCHASE")
    record["event_type"] = "ACH"  # a rail, not a kind
    with pytest.raises(ValueError, match="ACH"):
        fastavro.schemaless_writer(io.BytesIO(), parsed, record)


# ----------------------------------------------------------------- shared named types

# Named types every input family and the canonical event define, which must stay identical.
SHARED = {
    "Operation": ["lifecycle.avsc", "payment.avsc", "evaluation.avsc", "normalized.avsc"],
    "UserInfo": ["lifecycle.avsc", "payment.avsc", "evaluation.avsc", "normalized.avsc"],
    "SessionContext": ["lifecycle.avsc", "payment.avsc", "evaluation.avsc", "normalized.avsc"],
    "Address": ["lifecycle.avsc", "payment.avsc", "normalized.avsc"],
    "Money": ["payment.avsc", "evaluation.avsc", "normalized.avsc"],
    "RedeemRequest": ["payment.avsc", "normalized.avsc"],
    "Dispute": ["evaluation.avsc", "normalized.avsc"],
}
# Repeated types whose docs differ between files (files owned elsewhere): only their structure
# (Parsing Canonical Form) is compared.
STRUCTURE_ONLY = {f"{NAMESPACE}.EventFamily"}


def all_definitions() -> dict[str, dict[str, Any]]:
    """Full name -> {file: inlined definition}."""
    out: dict[str, dict[str, Any]] = {}
    for path in SCHEMA_FILES:
        defs = named_types(json.loads(path.read_text()))
        for name, (node, ns) in defs.items():
            out.setdefault(name, {})[path.name] = inline(node, ns, defs)
    return out


def canonical(definition: dict[str, Any]) -> str:
    return fastavro.schema.to_parsing_canonical_form(definition)


@pytest.mark.parametrize(("name", "files"), SHARED.items())
def test_shared_types_defined_where_expected(name: str, files: list[str]) -> None:
    defined = all_definitions()[f"{NAMESPACE}.{name}"]
    assert set(files) <= set(defined)


@pytest.mark.parametrize("name", sorted(n for n, d in all_definitions().items() if len(d) > 1))
def test_repeated_types_identical(name: str) -> None:
    by_file = all_definitions()[name]
    if name in STRUCTURE_ONLY:
        forms = {file: canonical(d) for file, d in by_file.items()}
    else:
        forms = {file: json.dumps(d, sort_keys=True) for file, d in by_file.items()}
    assert len(set(forms.values())) == 1, sorted(forms)
