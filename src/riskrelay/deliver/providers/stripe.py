"""Stripe Radar payment evaluations (providers.md §5, seed 004).

- A payment (``purchase``, ``deposit`` by default) creates a payment evaluation:
  ``POST /v1/radar/payment_evaluations``; ``learn`` keeps payment id → ``peval_...`` in
  the ``stripe.evaluation`` identity map.
- An evaluation-family event is reported to its payment's evaluation, one event per
  call: ``POST /v1/payment_evaluations/{id}/report_events``. A raised intervention's
  Stripe-generated ``key`` is kept in ``stripe.intervention``; the resolved event sends it.
- Every call carries an ``Idempotency-Key`` made from the event id and version. A
  redelivery after a crash (the state lost both the delivery and the identity) gets
  Stripe's stored first answer back: the same evaluation id and intervention key, no
  second evaluation, no event reported twice.
- Stripe cannot update an evaluation or a reported event. A later version is sent only
  when it establishes an identity that is still missing (a payment whose first version
  never reached Stripe gets its evaluation; likewise an intervention without key);
  otherwise the adapter answers ``NothingToSend``: Stripe keeps the first version, the
  delivery is complete without a call and its endpoint says why (docs/providers.md,
  Stripe, "Updates").

Bodies are form-encoded in bracket notation (``deliver.forms``); the secret key is the
HTTP Basic username with an empty password.

A malformed e-mail, phone or shipping country (kept by normalization, flagged by
enrichment) is left out of the create rather than sent: Stripe refuses an invalid e-mail
or country with a 400, which would cost the payment its evaluation. The phone is the
E.164 form enrichment put in ``user.phone``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote

import orjson

from riskrelay.deliver.forms import encode_form
from riskrelay.deliver.providers.enriched import usable
from riskrelay.deliver.request import NothingToSend, ProviderRequest, ProviderResponse
from riskrelay.errors import AwaitingIdentityError, PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.normalize.money import lower_currency
from riskrelay.state.identities import Identity, IdentityLookup

STRIPE_VERSION = "2026-01-28.preview; payment_evaluations_beta=v1"
"""The preview version seed 004 names; ``report_events`` exists only under it."""

EVALUATIONS = "stripe.evaluation"
INTERVENTIONS = "stripe.intervention"
CREATE_PATH = "/v1/radar/payment_evaluations"
REPORT_ROUTE = "/v1/payment_evaluations/{evaluation_id}/report_events"

PAYMENT_KINDS: frozenset[str] = frozenset({"purchase", "deposit"})
"""Payments the user makes to us with an instrument that can be disputed or refunded.
Withdrawals, loans issued, refunds and reversals move money to the user; transfers,
debits and redeems are not checkout payments; a payment-family ``refund`` would report
what the evaluation family's ``refunded`` already reports."""

# Evaluation kind → the normalized ``evaluation`` field holding its details.
EVENT_DETAILS: dict[str, str] = {
    "dispute_opened": "dispute",
    "early_fraud_warning_received": "early_fraud_warning",
    "refunded": "refund",
    "user_intervention_raised": "intervention_raised",
    "user_intervention_resolved": "intervention_resolved",
}

# Our upper-case enum symbols are Stripe's values upper-cased, except THREE_DS (an Avro
# symbol cannot start with a digit).
INTERVENTION_TYPES: dict[str, str] = {"THREE_DS": "3ds", "CAPTCHA": "captcha", "CUSTOM": "custom"}

MAX_IDEMPOTENCY_KEY = 255
_READABLE_ID = re.compile(r"[A-Za-z0-9._-]+")

# Stripe metadata limits: 50 keys of at most 40 characters, values of at most 500.
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 50, 40, 500


def idempotency_key(event_id: str, version: int) -> str:
    """``riskrelay:<event id>:v<version>``, or with a SHA-256 of the id when the id is
    too long for Stripe's 255 characters or has characters outside ``[A-Za-z0-9._-]``
    (the two forms cannot collide: a readable id has no ``:``)."""
    key = f"riskrelay:{event_id}:v{version}"
    if len(key) <= MAX_IDEMPOTENCY_KEY and _READABLE_ID.fullmatch(event_id):
        return key
    digest = hashlib.sha256(event_id.encode()).hexdigest()
    return f"riskrelay:sha256:{digest}:v{version}"


def _compact(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None and v != {}}


def _amount(money: AvroRecord) -> dict[str, Any]:
    return {"amount": int(money["amount_minor"]), "currency": lower_currency(money)}


def _address(address: AvroRecord | None, country: str | None) -> dict[str, Any] | None:
    """``country``: the address's country if usable (the caller knows its field path)."""
    if not address:
        return None
    return _compact(
        {
            "line1": address.get("street"),
            "line2": address.get("unit"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal_code": address.get("postal_code"),
            "country": country,
        }
    )


def _name(user: AvroRecord) -> str | None:
    parts = [user.get("first_name"), user.get("last_name")]
    return " ".join(p for p in parts if p) or None


def _metadata(ours: dict[str, str], tags: dict[str, str]) -> dict[str, str]:
    """Our ids, then the event's tags that fit Stripe's limits (others are left out:
    a tag must not make Stripe refuse the event)."""
    metadata = dict(ours)
    for key, value in sorted(tags.items()):
        if len(metadata) >= MAX_METADATA_KEYS:
            break
        fits = 0 < len(key) <= MAX_METADATA_KEY and 0 < len(value) <= MAX_METADATA_VALUE
        if fits and key not in metadata:
            metadata[key] = value
    return metadata


def evaluation_params(body: AvroRecord) -> dict[str, Any]:
    """The create parameters of a normalized payment event.

    ``customer_details[customer]`` is a Stripe Customer id, which we do not have: our
    user id goes in ``metadata[subject_id]`` instead.
    """
    payment = body["payment"]
    user = body.get("user") or {}
    shipping = _address(
        payment.get("shipping_address"), usable(body, "payment.shipping_address.country")
    )
    return _compact(
        {
            "customer_details": _compact(
                {
                    "email": usable(body, "user.email"),
                    "name": _name(user),
                    "phone": usable(body, "user.phone"),
                }
            ),
            "payment_details": _compact(
                {
                    **_amount(payment["amount"]),
                    "description": payment.get("details"),
                    "shipping_details": {"address": shipping} if shipping else None,
                }
            ),
            "metadata": _metadata(
                {
                    "payment_id": payment["payment_id"],
                    "event_id": body["event_id"],
                    "subject_id": body["subject_id"],
                },
                body.get("tags") or {},
            ),
        }
    )


def stripe_event(body: AvroRecord, intervention_key: str | None = None) -> dict[str, Any]:
    """One normalized evaluation event as a Stripe ``events[]`` item.
    ``intervention_key``: the key Stripe gave the raised intervention a resolved event
    names."""
    kind = body["kind"]
    details = body["evaluation"][EVENT_DETAILS[kind]]
    sub: dict[str, Any]
    if kind in ("dispute_opened", "refunded"):
        sub = {**_amount(details["amount"]), "reason": details["reason"].lower()}
    elif kind == "early_fraud_warning_received":
        sub = {"fraud_type": details["fraud_type"].lower()}
    elif kind == "user_intervention_raised":
        sub = {"type": INTERVENTION_TYPES[details["type"]]}
        if details["type"] == "CUSTOM":
            sub["custom"] = {"type": details.get("custom_type")}
    else:
        sub = {"key": intervention_key, "outcome": details["outcome"].lower()}
    return {"occurred_at": int(body["occurred_at"].timestamp()), "type": kind, kind: sub}


def report_params(body: AvroRecord, intervention_key: str | None = None) -> dict[str, Any]:
    """The ``report_events`` parameters: the event, and the event's metadata (merged by
    Stripe into the evaluation's metadata; an empty value unsets a key there)."""
    metadata = body["evaluation"].get("metadata") or {}
    return _compact({"events": [stripe_event(body, intervention_key)], "metadata": metadata})


def _answer(response: ProviderResponse) -> dict[str, Any]:
    """The evaluation object of a successful answer (``{}`` for anything else)."""
    if not 200 <= response.status < 300:
        return {}
    try:
        found = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _evaluation_id(response: ProviderResponse) -> str | None:
    ref = _answer(response).get("id")
    return ref if isinstance(ref, str) and ref else None


def raised_key(body: AvroRecord, response: ProviderResponse) -> str | None:
    """The key Stripe generated for the intervention ``body`` raised: the last raised event
    of the returned evaluation with our time and what we sent (a subject's events are
    reported in order, and a replayed answer is the one stored when this event was first
    reported). Fields Stripe adds (``custom: null``) do not matter."""
    sent = stripe_event(body)
    ours = sent["user_intervention_raised"]
    events = _answer(response).get("events")
    for event in reversed(events if isinstance(events, list) else []):
        raised = event.get("user_intervention_raised") if isinstance(event, dict) else None
        if not isinstance(raised, dict) or event.get("occurred_at") != sent["occurred_at"]:
            continue
        if all(raised.get(name) == value for name, value in ours.items()):
            key = raised.get("key")
            return key if isinstance(key, str) and key else None
    return None


class StripeAdapter:
    """``stripe_version``: the ``Stripe-Version`` header (``None``: ``STRIPE_VERSION``;
    ``report_events`` needs a preview version, so one is always sent).
    ``payment_kinds``: the payment kinds that get an evaluation."""

    name = "stripe"
    batch_format = None  # one call per event: no batch endpoint

    def __init__(
        self, stripe_version: str | None = None, payment_kinds: frozenset[str] = PAYMENT_KINDS
    ) -> None:
        self.stripe_version = stripe_version or STRIPE_VERSION
        self.payment_kinds = payment_kinds

    def auth_headers(self, api_key: str) -> dict[str, str]:
        credentials = base64.b64encode(f"{api_key}:".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def accepts(self, envelope: Envelope) -> bool:
        if envelope.family is Family.PAYMENT:
            return envelope.kind in self.payment_kinds
        return envelope.family is Family.EVALUATION and envelope.kind in EVENT_DETAILS

    def _request(
        self,
        path: str,
        params: dict[str, Any],
        body: AvroRecord,
        version: int,
        route: str | None = None,
    ) -> ProviderRequest:
        headers = {
            "Idempotency-Key": idempotency_key(body["event_id"], version),
            "Stripe-Version": self.stripe_version,
        }
        # 409: Stripe is still running the first request with this key; ask again later.
        return ProviderRequest(
            "POST",
            path,
            form=encode_form(params),
            headers=headers,
            retry_statuses=frozenset({409}),
            route=route,
        )

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        if body["family"] == Family.PAYMENT:
            return self._create(body, version, identities)
        if body["family"] == Family.EVALUATION and body["kind"] in EVENT_DETAILS:
            return self._report(body, version, identities)
        raise PermanentDeliveryError(f"Stripe takes no {body['family']} {body['kind']} event")

    def _create(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        payment_id = body["payment"]["payment_id"]
        existing = identities.get(EVALUATIONS, payment_id)
        if existing is not None:  # an update, or another event about the same payment
            return NothingToSend(
                f"payment {payment_id} already has Stripe payment evaluation {existing},"
                " which cannot be updated"
            )
        return self._request(CREATE_PATH, evaluation_params(body), body, version)

    def _report(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        kind, evaluation = body["kind"], body["evaluation"]
        evaluation_id = identities.get(EVALUATIONS, evaluation["payment_id"])
        if evaluation_id is None:  # its payment may not have been read yet: wait for it
            raise AwaitingIdentityError(
                f"no Stripe payment evaluation for payment {evaluation['payment_id']}"
                " (the payment was not delivered to Stripe)"
            )
        key = None
        if kind == "user_intervention_raised":
            intervention_id = evaluation["intervention_raised"]["intervention_id"]
            if identities.get(INTERVENTIONS, intervention_id) is not None:
                return NothingToSend(
                    f"intervention {intervention_id} was already raised at Stripe,"
                    " which cannot update it"
                )
        elif version > 1:  # Stripe appends every report: a second one would count twice
            return NothingToSend(f"a {kind} event reported to Stripe cannot be updated")
        if kind == "user_intervention_resolved":
            intervention_id = evaluation["intervention_resolved"]["intervention_id"]
            key = identities.get(INTERVENTIONS, intervention_id)
            if key is None:
                raise PermanentDeliveryError(
                    f"no Stripe key for intervention {intervention_id}"
                    " (its raised event was not delivered to Stripe)"
                )
        path = f"/v1/payment_evaluations/{quote(evaluation_id, safe='')}/report_events"
        return self._request(path, report_params(body, key), body, version, REPORT_ROUTE)

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        if request.path == CREATE_PATH:
            evaluation_id = _evaluation_id(response)
            if evaluation_id is None:
                return []
            return [Identity(EVALUATIONS, body["payment"]["payment_id"], evaluation_id)]
        if body["kind"] == "user_intervention_raised":
            key = raised_key(body, response)
            if key is None:
                return []
            intervention_id = body["evaluation"]["intervention_raised"]["intervention_id"]
            return [Identity(INTERVENTIONS, intervention_id, key)]
        return []

    def response_ref(self, response: ProviderResponse) -> str | None:
        return _evaluation_id(response)
