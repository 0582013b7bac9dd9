"""Field rules shared by every input family. Each raises ``ValidationError`` naming the
field path, so a DLQ record says exactly what was wrong."""

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


def normalize_email(value: str | None) -> str | None:
    if value is None:
        return None
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain:
        raise ValidationError(f"user.email: {value!r} is not an e-mail address")
    return email


def normalize_country(value: str | None, path: str) -> str | None:
    if value is None:
        return None
    country = value.strip().upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise ValidationError(f"{path}: {value!r} is not an ISO 3166-1 alpha-2 code")
    return country


def normalize_ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValidationError(f"session.ip_address: {value!r} is not an IP address") from None


def normalize_user(user: AvroRecord | None) -> AvroRecord | None:
    if user is None:
        return None
    score = user.get("risk_score")
    if score is not None and not 0 <= score <= 100:
        raise ValidationError(f"user.risk_score: {score} is outside 0..100")
    return {
        **user,
        "email": normalize_email(user.get("email")),
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
