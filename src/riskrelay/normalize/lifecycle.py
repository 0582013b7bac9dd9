"""User-lifecycle events (sign-up, sign-in, failed sign-in, buyer challenge, ...)."""

from __future__ import annotations

from datetime import datetime

from riskrelay.errors import ValidationError
from riskrelay.models import AvroRecord, CanonicalEvent, Family, SourcePosition
from riskrelay.normalize.common import (
    canonical_event,
    envelope_of,
    normalize_address,
)


def normalize_lifecycle(
    record: AvroRecord, source: SourcePosition, now: datetime
) -> CanonicalEvent:
    envelope = envelope_of(record, Family.LIFECYCLE, source)
    event_type = record["event_type"]
    if event_type == "BUYER_CHALLENGE" and record.get("challenge") is None:
        raise ValidationError("challenge: required for BUYER_CHALLENGE")
    if event_type == "PROFILE_CHANGE" and not record.get("changed_fields"):
        raise ValidationError("changed_fields: PROFILE_CHANGE must name at least one field")
    return canonical_event(
        envelope,
        record,
        now,
        address=normalize_address(record.get("address"), "address"),
        lifecycle={
            "challenge": record.get("challenge"),
            "failure_reason": record.get("failure_reason"),
            "changed_fields": list(record.get("changed_fields") or []),
            "details": record.get("details"),
        },
    )
