"""Dataspike transaction monitoring (providers.md §4, seed 003).

Purchases become payment events (``POST /api/v3/transmon/payment``); deposits,
withdrawals and transfers become transaction events (``POST /api/v3/transmon/transaction``).
Both name the user by ``applicant_id``, a Dataspike applicant, never our subject id.

Applicant map. ``build_request`` looks the subject up in the ``dataspike.applicant``
identity table. Unknown: it returns the applicant create (``POST /api/v3/applicants`` with
``external_id`` = subject id) as a *prerequisite*; ``learn`` reads the ``id`` from the
answer, and the dispatcher asks again, now with the applicant known. The mapping is
committed with the event's outputs, so later events of the subject reuse it.

Crash recovery. A worker that dies after Dataspike created the applicant but before the
mapping was committed sends the create again on restart. Dataspike answers a known
``external_id`` with 409 and the existing ``id`` (accepted here, not a failure), so the
subject keeps exactly one applicant whatever crashes.

Dataspike has no update call and no dedupe key: every version of an event is sent as an
event of its own (a redelivery after a crash is sent twice too).

Subject profile. ``user_ds_registration``, ``session_duration`` and both risk scores come
from the profile signals the enrichment stage puts on the event (``body["profile"]``:
days since registration, seconds since the session started, the subject's first and
latest risk scores). Without them (enrichment off) the session's age falls back to the
event's own ``session.session_started_at``, the current score to ``user.risk_score``, and
the other two are omitted.

Optional fields Dataspike would refuse (a malformed e-mail, a BIN that is not digits, an
unknown country) are left out: one bad optional field must not cost the whole event. Only
``checkout_billing_country`` is required; without it the event is refused permanently
before any call, so a doomed event creates no applicant.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from riskrelay.deliver.providers.enriched import country_code, ip_address
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.errors import PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.normalize.money import decimal_string
from riskrelay.state.identities import Identity, IdentityLookup

APPLICANT_TABLE = "dataspike.applicant"
APPLICANTS_PATH = "/api/v3/applicants"
PAYMENT_PATH = "/api/v3/transmon/payment"
TRANSACTION_PATH = "/api/v3/transmon/transaction"
PAYMENT_KINDS = frozenset({"purchase"})
TRANSACTION_KINDS = frozenset({"deposit", "withdrawal", "transfer"})
CARD_BIN_DIGITS = 6

# The subject-profile signals (normalized.avsc ProfileSignals) this adapter reads.
PROFILE = "profile"
PROFILE_DAYS_SINCE_REGISTRATION = "days_since_registration"
PROFILE_SECONDS_SINCE_SESSION_START = "seconds_since_session_start"
PROFILE_INITIAL_RISK_SCORE = "initial_risk_score"
PROFILE_CURRENT_RISK_SCORE = "current_risk_score"

# The shape Dataspike's applicant ``email`` takes (the sandbox's check): one ``@``, no
# spaces, a dot in the domain and a non-empty last label.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SECOND = timedelta(seconds=1)


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Without the unknown fields: Dataspike refuses ``null`` for an optional field."""
    return {name: value for name, value in fields.items() if value is not None}


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _email(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _EMAIL.fullmatch(text) else None


def _score(value: Any) -> int | None:
    """An integer 0-100 (the profile keeps scores as doubles: 27.0 is sent as 27)."""
    if type(value) is float and math.isfinite(value):
        value = round(value)
    return value if type(value) is int and 0 <= value <= 100 else None


def _non_negative(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iso_date(value: Any) -> str | None:
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, date) else None


def street_line(address: AvroRecord | None) -> str | None:
    """Dataspike's one street line: street then unit ("8247 Main St, Apt. 462")."""
    if not address:
        return None
    parts = [part for part in (_text(address.get("street")), _text(address.get("unit"))) if part]
    return ", ".join(parts) or None


def card_bin(card: AvroRecord | None) -> str | None:
    """The first six digits of a 6-to-8-digit BIN; None unless those are six digits."""
    digits = _text((card or {}).get("bin"))
    if digits is None or len(digits) < CARD_BIN_DIGITS:
        return None
    head = digits[:CARD_BIN_DIGITS]
    return head if head.isascii() and head.isdigit() else None


def session_duration(body: AvroRecord) -> int | None:
    """Whole seconds from the session's start to the event; never negative. The
    profile's (the event's own session start, else the subject's last sign-in's); without
    a profile, from the event's own session start."""
    profile = body.get(PROFILE)
    if profile is not None:
        return _non_negative(profile.get(PROFILE_SECONDS_SINCE_SESSION_START))
    started = (body.get("session") or {}).get("session_started_at")
    if not isinstance(started, datetime):
        return None
    seconds = (_utc(body["occurred_at"]) - _utc(started)) // _SECOND
    return seconds if seconds >= 0 else None


def registration_days(body: AvroRecord) -> int | None:
    """Whole days from the subject's registration to the event (the profile's)."""
    return _non_negative((body.get(PROFILE) or {}).get(PROFILE_DAYS_SINCE_REGISTRATION))


def current_risk_score(body: AvroRecord) -> int | None:
    """The subject's latest risk score (the profile's), else the event's own."""
    profile = body.get(PROFILE)
    if profile is not None and profile.get(PROFILE_CURRENT_RISK_SCORE) is not None:
        return _score(profile[PROFILE_CURRENT_RISK_SCORE])
    return _score((body.get("user") or {}).get("risk_score"))


def billing_country(body: AvroRecord) -> str:
    """``checkout_billing_country``: the billing address's country, else the card's,
    else the user's. Raises ``PermanentDeliveryError`` naming what was looked at."""
    payment = body["payment"]
    candidates = (
        ("payment.billing_address.country", (payment.get("billing_address") or {}).get("country")),
        ("payment.card.country", (payment.get("card") or {}).get("country")),
        ("user.country", (body.get("user") or {}).get("country")),
    )
    unusable = []
    for path, value in candidates:
        code = country_code(value)
        if code is not None:
            return code
        unusable.append(f"{path} is not set" if value is None else f"{path} {value!r} is unknown")
    raise PermanentDeliveryError(
        "dataspike: checkout_billing_country is required and no ISO 3166-1 alpha-2 country "
        "was found: " + "; ".join(unusable)
    )


def user_fields(body: AvroRecord) -> dict[str, Any]:
    """The user/session fields payment and transaction events share."""
    user = body.get("user") or {}
    session = body.get("session") or {}
    profile = body.get(PROFILE) or {}
    return {
        "user_ip_address": ip_address(session.get("ip_address")),
        "user_agent": _text(session.get("user_agent")),
        "user_device_id": _text(session.get("device_id")),
        "session_duration": session_duration(body),
        "user_email_address": _email(user.get("email")),
        "user_phone_number": _text(user.get("phone")),
        "user_ds_registration": registration_days(body),
        "user_initial_risk_score": _score(profile.get(PROFILE_INITIAL_RISK_SCORE)),
        "user_current_risk_score": current_risk_score(body),
    }


def _payment_of(body: AvroRecord) -> AvroRecord:
    payment = body.get("payment")
    if not payment:
        raise PermanentDeliveryError(f"dataspike: {body['kind']} event without payment details")
    result: AvroRecord = payment
    return result


def to_dataspike_payment(body: AvroRecord) -> dict[str, Any]:
    """A normalized purchase as a Dataspike payment event (less ``applicant_id``)."""
    payment = _payment_of(body)
    billing = payment.get("billing_address") or {}
    shipping = payment.get("shipping_address") or {}
    return _compact(
        {
            **user_fields(body),
            "checkout_price": decimal_string(payment["amount"]),
            "checkout_isguest": bool(payment.get("is_guest", False)),
            "checkout_billing_address": street_line(billing),
            "checkout_billing_zip": _text(billing.get("postal_code")),
            "checkout_billing_country": billing_country(body),
            "checkout_card_bin": card_bin(payment.get("card")),
            "checkout_shipping_address": street_line(shipping),
            "checkout_shipping_zip": _text(shipping.get("postal_code")),
        }
    )


def to_dataspike_transaction(body: AvroRecord) -> dict[str, Any]:
    """A normalized deposit, withdrawal or transfer as a Dataspike transaction event
    (less ``applicant_id``).

    Field names follow Dataspike's published example: the sender is the payor, the
    receiver the payee (``*_entity_id`` our entity id, ``*_account_id`` our instrument
    id), and the billing address is the payor's address.
    """
    payment = _payment_of(body)
    sender = payment.get("sender") or {}
    receiver = payment.get("receiver") or {}
    billing = payment.get("billing_address") or {}
    return _compact(
        {
            **user_fields(body),
            "session_id": _text((body.get("session") or {}).get("session_id")),
            "session_login_name": _text((body.get("user") or {}).get("username")),
            "channel": _text(payment.get("channel")),
            "transaction_type": str(body["kind"]).upper(),
            "currency_code": str(payment["amount"]["currency"]).upper(),
            "amount": decimal_string(payment["amount"]),
            "payor_entity_id": _text(sender.get("entity_id")),
            "payor_account_id": _text(sender.get("instrument_id")),
            "payor_address_line_1": street_line(billing),
            "payor_zip": _text(billing.get("postal_code")),
            "payor_city": _text(billing.get("city")),
            "payor_state": _text(billing.get("state")),
            "payor_country_cd": country_code(billing.get("country")),
            "payee_entity_id": _text(receiver.get("entity_id")),
            "payee_account_id": _text(receiver.get("instrument_id")),
        }
    )


def to_dataspike_applicant(body: AvroRecord) -> dict[str, Any]:
    """The applicant create for the event's subject (``external_id`` = subject id)."""
    user = body.get("user") or {}
    info = _compact(
        {
            "first_name": _text(user.get("first_name")),
            "last_name": _text(user.get("last_name")),
            "dob": _iso_date(user.get("date_of_birth")),
        }
    )
    return _compact(
        {
            "external_id": body["subject_id"],
            "email": _email(user.get("email")),
            "phone": _text(user.get("phone")),
            "info": info or None,
        }
    )


def _applicant_id(value: Any) -> str | None:
    """``value`` if it is a UUID in canonical form (what transmon calls require)."""
    if not isinstance(value, str):
        return None
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        return None
    return canonical if canonical == value.lower() else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


class DataspikeAdapter:
    name = "dataspike"
    batch_format = None  # one call per event: no batch endpoint

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"ds-api-token": api_key}

    def accepts(self, envelope: Envelope) -> bool:
        return envelope.family is Family.PAYMENT and (
            envelope.kind in PAYMENT_KINDS or envelope.kind in TRANSACTION_KINDS
        )

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest:
        kind = body["kind"]
        if kind in PAYMENT_KINDS:
            path, mapper = PAYMENT_PATH, to_dataspike_payment
        elif kind in TRANSACTION_KINDS:
            path, mapper = TRANSACTION_PATH, to_dataspike_transaction
        else:
            raise PermanentDeliveryError(f"dataspike: takes no {body['family']} {kind} events")
        # Mapped before the applicant is looked at, so an event that cannot be sent
        # (no billing country) fails without creating an applicant.
        event = mapper(body)
        applicant_id = identities.get(APPLICANT_TABLE, body["subject_id"])
        if applicant_id is None:
            return ProviderRequest(
                "POST",
                APPLICANTS_PATH,
                json=to_dataspike_applicant(body),
                prerequisite=True,
                accept_statuses=frozenset({409}),
            )
        return ProviderRequest("POST", path, json={"applicant_id": applicant_id, **event})

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        """The applicant id from a create's 2xx, or from its 409 (the applicant exists).

        An answer without a usable id raises ``PermanentDeliveryError`` here: nothing
        would be learned, and asking again would only repeat the same create.
        """
        if request.path != APPLICANTS_PATH:
            return []
        status = response.status
        if not (200 <= status < 300 or status == 409):
            return []
        subject_id = body["subject_id"]
        found = _json_object(response.body).get("id")
        applicant_id = _applicant_id(found)
        if applicant_id is None:
            raise PermanentDeliveryError(
                f"dataspike: the applicant create for subject {subject_id!r} answered "
                f"{status} without a usable applicant id (id: {found!r}); "
                f"the subject cannot be mapped to an applicant"
            )
        return [Identity(APPLICANT_TABLE, subject_id, applicant_id)]

    def response_ref(self, response: ProviderResponse) -> str | None:
        ref = _json_object(response.body).get("event_id")
        return ref if isinstance(ref, str) else None
