"""Field rules shared by every input family. A rule on what makes an event meaningful (ids,
times, scores) raises ``ValidationError`` naming the field path, so a DLQ record says
exactly what was wrong. Optional descriptive values (e-mail, phone, country, IP) are only
put in canonical spelling: a malformed one is kept and flagged by the enrichment stage
(``riskrelay.enrich``) rather than costing providers the whole event."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from riskrelay.errors import ValidationError
from riskrelay.models import (
    AvroRecord,
    CanonicalEvent,
    Envelope,
    Family,
    Operation,
    SourcePosition,
)

MAX_ID_LENGTH = 255


def require_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{path}: must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{path}: longer than {MAX_ID_LENGTH} characters")
    return value


def lower_or_none(value: str | None) -> str | None:
    """Codes the contracts spell in lower case (status, channel, card network)."""
    return None if value is None else value.strip().lower()


def kind_of(event_type: str) -> str:
    """``SIGN_IN_FAILURE`` → ``sign_in_failure``: kinds are lower snake case."""
    return event_type.lower()


def envelope_of(record: AvroRecord, family: Family, source: SourcePosition) -> Envelope:
    occurred_at = record["occurred_at"]
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return Envelope(
        event_id=require_id(record["event_id"], "event_id"),
        subject_id=require_id(record["subject_id"], "subject_id"),
        family=family,
        kind=kind_of(record["event_type"]),
        operation=Operation(record["operation"]),
        upsert_on_conflict=bool(record["upsert_on_conflict"]),
        occurred_at=occurred_at,
        source=source,
    )


def canonical_event(
    envelope: Envelope,
    record: AvroRecord,
    now: datetime,
    *,
    address: AvroRecord | None = None,
    lifecycle: AvroRecord | None = None,
    payment: AvroRecord | None = None,
    evaluation: AvroRecord | None = None,
) -> CanonicalEvent:
    """The canonical event of ``record``: the fields every family shares, normalized,
    and the one family section its normalizer built (the others stay null)."""
    return CanonicalEvent(
        envelope=envelope,
        body={
            "event_id": envelope.event_id,
            "family": envelope.family.value,
            "kind": envelope.kind,
            "subject_id": envelope.subject_id,
            "occurred_at": envelope.occurred_at,
            "normalized_at": now,
            "source": envelope.source.as_record(),
            "user": normalize_user(record.get("user")),
            "session": normalize_session(record.get("session"), envelope.occurred_at),
            "address": address,
            "lifecycle": lifecycle,
            "payment": payment,
            "evaluation": evaluation,
            "tags": dict(record.get("tags") or {}),
            # Filled by the enrichment stage (riskrelay.enrich) after normalization.
            "enrichment": None,
            "profile": None,
        },
    )


def _trimmed(value: str | None) -> str | None:
    """``value`` without surrounding blanks; a blank value is an absent one."""
    if value is None:
        return None
    return value.strip() or None


def normalize_email(value: str | None) -> str | None:
    """Trimmed and lower-cased, the form addresses are compared and hashed in."""
    email = _trimmed(value)
    return None if email is None else email.lower()


def normalize_phone(value: str | None) -> str | None:
    """Trimmed; enrichment rewrites a valid number to E.164."""
    return _trimmed(value)


def normalize_country(value: str | None, path: str) -> str | None:
    """Trimmed and upper-cased; enrichment flags a code that is not ISO 3166-1 alpha-2
    as ``country_invalid:<path in the normalized event>`` (``path`` is the input's)."""
    country = _trimmed(value)
    return None if country is None else country.upper()


def normalize_ip(value: str | None) -> str | None:
    """Canonical text of a valid v4/v6 address (``2001:db8::1``), else the trimmed value
    as received, which enrichment flags ``ip_invalid``."""
    address = _trimmed(value)
    if address is None:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def normalize_user(user: AvroRecord | None) -> AvroRecord | None:
    if user is None:
        return None
    score = user.get("risk_score")
    if score is not None and not 0 <= score <= 100:
        raise ValidationError(f"user.risk_score: {score} is outside 0..100")
    return {
        **user,
        "email": normalize_email(user.get("email")),
        "phone": normalize_phone(user.get("phone")),
        "country": normalize_country(user.get("country"), "user.country"),
    }


def normalize_session(session: AvroRecord | None, occurred_at: datetime) -> AvroRecord | None:
    if session is None:
        return None
    started = session.get("session_started_at")
    if started is not None and started > occurred_at:
        raise ValidationError("session.session_started_at: after the event's occurred_at")
    return {**session, "ip_address": normalize_ip(session.get("ip_address"))}


def normalize_address(address: AvroRecord | None, path: str) -> AvroRecord | None:
    if address is None:
        return None
    return {**address, "country": normalize_country(address.get("country"), f"{path}.country")}
