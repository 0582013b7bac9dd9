"""Unit21 events API (providers.md §3, seed 002; mapping tables in docs/providers.md).

Lifecycle events become *action* events; payments and payment evaluations become
*transaction* events. Version 1 is a create with ``upsert_on_conflict: true``: a
redelivery after a crash upserts the same ``event_id`` instead of failing with 409, which
makes the call effectively-once. Later versions use ``PUT /v1/events/{id}/update``, where
423 (Unit21 still processing the previous version) is worth retrying.

Creates are batchable (``Unit21Batch``): Unit21 takes ``{"events": [...]}``, up to 250,
and answers ``{"events": [...]}`` with one result per event in order, each the
single-event answer plus its ``status`` (the sandbox's reading of providers.md §3; Unit21
documents the request, not the answer). One invalid event fails the batch with 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from riskrelay.deliver.providers.enriched import country_code, ip_address
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.errors import PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.normalize.money import major_float
from riskrelay.state.identities import Identity, IdentityLookup

# Lifecycle kind → Unit21 action_type (only the kinds Unit21 has a type for).
ACTION_TYPES: dict[str, str] = {
    "sign_up": "SIGNUP",
    "sign_in": "LOGIN",
    "sign_out": "LOGOUT",
    "account_blocked": "BLOCK",
    "account_closed": "CLOSE",
    "account_activated": "ACTIVATE",
    "forgot_password": "FORGOT_PASSWORD",
    "password_reset": "PASSWORD_RESET",
    "promo_code_use": "PROMO_CODE_USE",
    "profile_change": "PROFILE_CHANGE",
}

# Lifecycle kind → event_subtype: seed 002's recommended action subtypes where one fits.
ACTION_SUBTYPES: dict[str, str] = {
    "sign_up": "user_signup",
    "sign_in": "user_login",
    "sign_in_failure": "user_login_failed",
    "buyer_challenge": "buyer_challenge",
    "sign_out": "user_logout",
    "user_access": "user_access",
    "profile_change": "user_profile_update",
    "account_deleted": "user_deletion",
    "account_blocked": "user_blocked",
    "account_suspended": "user_suspended",
    "account_closed": "user_closed",
    "account_activated": "user_activated",
    "forgot_password": "user_forgot_password",
    "password_reset": "user_password_reset",
    "promo_code_use": "promotion_applied",
    "referral": "user_referral",
    "communication": "communication",
}

# Payment kind → seed 002's transaction subtype. A redeem spends Coinflow credits on
# goods, which is what ``purchase`` describes; ``custom_data.kind`` keeps it apart.
PAYMENT_SUBTYPES: dict[str, str] = {
    "purchase": "purchase",
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "refund": "refund",
    "transfer": "p2p",
    "reversal": "reversal",
    "debit": "debit",
    "loan_issued": "loan_issued",
    "loan_payment": "loan_payment",
    "redeem": "purchase",
}
# Seed 002's ``ach`` is a rail, not a direction (payment.avsc): ACH funding and payouts
# take it, the direction stays in ``custom_data.kind``.
ACH_KINDS = frozenset({"deposit", "withdrawal"})

# Evaluation kind → subtype: a dispute claws the payment back (``reversal``, "alterations
# to a previous transaction"), a refund is ``refund``; the seed has nothing for warnings
# and interventions, which keep their own kind as subtype.
EVALUATION_SUBTYPES: dict[str, str] = {
    "dispute_opened": "reversal",
    "refunded": "refund",
    "early_fraud_warning_received": "early_fraud_warning_received",
    "user_intervention_raised": "user_intervention_raised",
    "user_intervention_resolved": "user_intervention_resolved",
}

# Kinds whose money flows *into* the subject's account (seed 002: refunds, debits, loans
# issued; payouts and reversals pay the user back): a subject the upstream left out
# defaults to the receiving side there, and to the sending side everywhere else.
INBOUND_KINDS = frozenset(
    {"withdrawal", "refund", "reversal", "debit", "loan_issued", "dispute_opened", "refunded"}
)

PAYMENT_EVENTS = "unit21.payment_event"
"""Identity table: payment id → event id of the payment's own (parentless) event, so an
evaluation of the payment can name it in ``general_data.parents``."""

# A transaction event needs at least one of these.
_PARTY_IDS = frozenset(
    {"sender_entity_id", "sender_instrument_id", "receiver_entity_id", "receiver_instrument_id"}
)


def _epoch_seconds(when: datetime) -> int:
    return int(when.timestamp())


def _compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _tags(body: AvroRecord) -> list[str] | None:
    """Unit21 tags are ``key:value`` with both parts non-blank; others cannot be sent."""
    tags = body.get("tags") or {}
    return [f"{k}:{v}" for k, v in sorted(tags.items()) if k.strip() and v.strip()] or None


def _general(body: AvroRecord, event_type: str, subtype: str, **extra: Any) -> dict[str, Any]:
    return _compact(
        {
            "event_id": body["event_id"],
            "event_type": event_type,
            "event_time": _epoch_seconds(body["occurred_at"]),
            "event_subtype": subtype,
            **extra,
            "tags": _tags(body),
        }
    )


def _digital(session: Mapping[str, Any] | None) -> dict[str, Any]:
    session = session or {}
    return _compact(
        {
            "ip_address": ip_address(session.get("ip_address")),
            "client_fingerprint": session.get("client_fingerprint"),
        }
    )


def _location(address: Mapping[str, Any] | None, body: AvroRecord) -> dict[str, Any]:
    """The event's address; without one, the country its IP is in (enrichment's IP
    country), so Unit21 still learns where the event came from."""
    if not address:
        ip = ((body.get("enrichment") or {}).get("ip")) or {}
        country = country_code(ip.get("country"))
        return {} if country is None else {"country": country}
    return _compact(
        {
            "street_name": address.get("street"),
            "unit_number": address.get("unit"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal_code": address.get("postal_code"),
            "country": country_code(address.get("country")),
        }
    )


def _with_context(
    event: dict[str, Any], body: AvroRecord, address: Mapping[str, Any] | None
) -> dict[str, Any]:
    digital, location = _digital(body.get("session")), _location(address, body)
    if digital:
        event["digital_data"] = digital
    if location:
        event["location_data"] = location
    return event


def _action_details(body: AvroRecord) -> str | None:
    lifecycle = body.get("lifecycle") or {}
    parts = []
    if lifecycle.get("details"):
        parts.append(lifecycle["details"])
    if lifecycle.get("failure_reason"):
        parts.append(f"failure_reason={lifecycle['failure_reason']}")
    challenge = lifecycle.get("challenge")
    if challenge:
        parts.append(f"challenge={challenge['kind'].lower()}:{challenge['outcome'].lower()}")
    if lifecycle.get("changed_fields"):
        parts.append("changed=" + ",".join(lifecycle["changed_fields"]))
    return "; ".join(parts) or None


def to_unit21_action(body: AvroRecord) -> dict[str, Any]:
    """A normalized lifecycle event as a Unit21 action event."""
    kind: str = body["kind"]
    session = body.get("session") or {}
    event: dict[str, Any] = {
        "general_data": _general(body, "action", ACTION_SUBTYPES.get(kind, kind)),
        "action_data": _compact(
            {
                "entity_id": body["subject_id"],
                "entity_type": "user",
                "action_type": ACTION_TYPES.get(kind),
                "action_details": _action_details(body),
                "instrument_id": session.get("device_id"),
            }
        ),
    }
    return _with_context(event, body, body.get("address"))


def instrument_id(payment: Mapping[str, Any]) -> str | None:
    """Our id for the payment's card, bank account or wallet, when the upstream gave none:
    the processor's card fingerprint (else its BIN and last four), the bank's routing code
    with the account's last four, the chain with the wallet address."""
    card, bank, wallet = payment.get("card"), payment.get("bank_account"), payment.get("wallet")
    if card:
        return f"card:{card.get('fingerprint') or card['bin'] + ':' + card['last4']}"
    if bank and bank.get("account_last4"):
        return f"bank:{bank.get('routing_number') or ''}:{bank['account_last4']}"
    if wallet:
        return f"wallet:{wallet['blockchain']}:{wallet['wallet_address']}"
    return None


def _parties(
    kind: str, subject_id: str, payment: Mapping[str, Any], instrument: str | None
) -> dict[str, Any]:
    """Sender and receiver ids: the canonical counterparties, with the subject (as a
    user) on its default side when that side is missing. The payment's card, bank account
    or wallet is the subject's: it goes to the subject's side when that has no
    ``instrument_id`` of its own."""
    subject_side = "receiver" if kind in INBOUND_KINDS else "sender"
    sides = (subject_side, "sender" if subject_side == "receiver" else "receiver")
    given = {side: payment.get(side) for side in sides}
    if given[subject_side] is None:
        given[subject_side] = {"entity_id": subject_id, "entity_type": "USER"}
    own = next((s for s in sides if (given[s] or {}).get("entity_id") == subject_id), None)
    parties: dict[str, Any] = {}
    for side, party in given.items():
        if party is None:
            continue
        parties[f"{side}_entity_id"] = party.get("entity_id")
        parties[f"{side}_entity_type"] = party["entity_type"].lower()
        parties[f"{side}_instrument_id"] = party.get("instrument_id") or (
            instrument if side == own else None
        )
    return parties


def _fees(payment: Mapping[str, Any], custom: dict[str, Any]) -> dict[str, Any]:
    """Unit21 fees have no currency of their own: in the amount's currency as sent; a fee
    in another currency keeps its code in ``custom_data``."""
    fees: dict[str, Any] = {}
    for source, target in (("fee", "internal_fee"), ("external_fee", "external_fee")):
        money = payment.get(source)
        if money is None:
            continue
        fees[target] = major_float(money)
        if money["currency"] != payment["amount"]["currency"]:
            custom[f"{target}_currency"] = money["currency"].lower()
    return fees


def _transaction_event(
    body: AvroRecord,
    subtype: str,
    transaction: dict[str, Any],
    custom: dict[str, Any],
    address: Mapping[str, Any] | None,
    **general: Any,
) -> dict[str, Any]:
    data = _compact(transaction)
    if not any(key in data for key in _PARTY_IDS):
        raise PermanentDeliveryError(
            "unit21: a transaction event needs a sender or receiver entity or instrument id"
        )
    event: dict[str, Any] = {
        "general_data": _general(body, "transaction", subtype, **general),
        "transaction_data": data,
    }
    _with_context(event, body, address)
    event["custom_data"] = _compact(custom)
    return event


def to_unit21_payment(body: AvroRecord) -> dict[str, Any]:
    """A normalized payment event as a Unit21 transaction event."""
    kind: str = body["kind"]
    payment = body["payment"]
    subtype = PAYMENT_SUBTYPES.get(kind, kind)
    rail = _lower(payment.get("rail"))
    if kind in ACH_KINDS and rail == "ach":
        subtype = "ach"
    amount, received = payment["amount"], payment.get("received")
    custom: dict[str, Any] = {
        "kind": kind,
        "payment_id": payment["payment_id"],
        "rail": rail,
        "channel": payment.get("channel"),
        "is_guest": payment.get("is_guest"),
        "details": payment.get("details"),
    }
    transaction = {
        "amount": major_float(amount),
        "sent_amount": major_float(amount),
        "sent_currency": amount["currency"].lower(),
        "received_amount": None if received is None else major_float(received),
        "received_currency": None if received is None else received["currency"].lower(),
        "exchange_rate": payment.get("exchange_rate"),
        **_fees(payment, custom),
        "transaction_hash": payment.get("transaction_hash"),
        **_parties(kind, body["subject_id"], payment, instrument_id(payment)),
    }
    parent = payment.get("parent_event_id")
    return _transaction_event(
        body,
        subtype,
        transaction,
        custom,
        payment.get("billing_address"),
        status=payment.get("status"),
        parents=[parent] if parent else None,
    )


def _evaluation_specifics(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    dispute, refund = evaluation.get("dispute"), evaluation.get("refund")
    warning = evaluation.get("early_fraud_warning")
    raised = evaluation.get("intervention_raised")
    resolved = evaluation.get("intervention_resolved")
    return {
        "dispute_reason": _lower(dispute and dispute["reason"]),
        "refund_reason": _lower(refund and refund["reason"]),
        "fraud_type": _lower(warning and warning["fraud_type"]),
        "intervention_id": (raised or resolved or {}).get("intervention_id"),
        "intervention_type": _lower(raised and raised["type"]),
        "intervention_custom_type": raised and raised.get("custom_type"),
        "intervention_outcome": _lower(resolved and resolved["outcome"]),
    }


def to_unit21_evaluation(body: AvroRecord, payment_event_id: str | None) -> dict[str, Any]:
    """A normalized payment evaluation as a Unit21 transaction event about its payment.

    Disputes and refunds carry their amount; warnings and interventions move no money
    and are sent with amount 0. ``payment_event_id`` (the payment's own event, when we
    delivered it) becomes ``general_data.parents``.
    """
    kind: str = body["kind"]
    evaluation = body["evaluation"]
    money = (evaluation.get("dispute") or evaluation.get("refund") or {}).get("amount")
    custom = {
        "kind": kind,
        "payment_id": evaluation["payment_id"],
        **_evaluation_specifics(evaluation),
    }
    transaction = {
        "amount": 0.0 if money is None else major_float(money),
        "sent_amount": None if money is None else major_float(money),
        "sent_currency": None if money is None else money["currency"].lower(),
        **_parties(kind, body["subject_id"], {}, None),
    }
    parents = [payment_event_id] if payment_event_id else None
    return _transaction_event(
        body, EVALUATION_SUBTYPES.get(kind, kind), transaction, custom, None, parents=parents
    )


MAX_BATCH = 250


class Unit21Batch:
    """Creates in one ``POST /v1/events/create`` (``riskrelay.deliver.batch``)."""

    max_items = MAX_BATCH

    def combine(self, requests: Sequence[ProviderRequest]) -> ProviderRequest:
        return ProviderRequest(
            "POST", "/v1/events/create", json={"events": [r.json for r in requests]}
        )

    def split(self, response: ProviderResponse, count: int) -> list[ProviderResponse] | None:
        try:
            results = orjson.loads(response.body).get("events")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        if not isinstance(results, list) or len(results) != count:
            return None
        split = []
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("status"), int):
                return None
            item = dict(result)
            status = item.pop("status")
            split.append(ProviderResponse(status, orjson.dumps(item).decode(), response.headers))
        return split


class Unit21Adapter:
    name = "unit21"
    batch_format = Unit21Batch()

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"u21-key": api_key}

    def accepts(self, envelope: Envelope) -> bool:
        return envelope.family in (Family.LIFECYCLE, Family.PAYMENT, Family.EVALUATION)

    def to_event(self, body: AvroRecord, identities: IdentityLookup) -> dict[str, Any]:
        """The Unit21 event for a normalized body of any family."""
        family = body["family"]
        if family == Family.PAYMENT:
            return to_unit21_payment(body)
        if family == Family.EVALUATION:
            payment_id = body["evaluation"]["payment_id"]
            return to_unit21_evaluation(body, identities.get(PAYMENT_EVENTS, payment_id))
        return to_unit21_action(body)

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest:
        event = self.to_event(body, identities)
        if version == 1:
            event["options"] = {"upsert_on_conflict": True}
            return ProviderRequest("POST", "/v1/events/create", json=event, batchable=True)
        path = f"/v1/events/{quote(body['event_id'], safe='')}/update"
        return ProviderRequest(
            "PUT",
            path,
            json=event,
            retry_statuses=frozenset({423}),
            route="/v1/events/{event_id}/update",
        )

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        """A created payment of its own (not a refund or reversal of another) names the
        event its later evaluations hang under."""
        payment = body.get("payment")
        if request.method != "POST" or not payment or payment.get("parent_event_id"):
            return []
        return [Identity(PAYMENT_EVENTS, payment["payment_id"], body["event_id"])]

    def response_ref(self, response: ProviderResponse) -> str | None:
        try:
            ref = orjson.loads(response.body).get("event_id")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return ref if isinstance(ref, str) else None
