"""Evaluation events about a payment (dispute, early fraud warning, refund, user
intervention raised/resolved), which Stripe takes as payment-evaluation events.

Stripe's event carries exactly one sub-object, named by its type; the schema has one
optional record per type, so the one matching ``event_type`` is required here and the
others refused: an event that says two things would be reported as only one of them.
"""

from __future__ import annotations

import re
from datetime import datetime

from riskrelay.errors import ValidationError
from riskrelay.models import AvroRecord, CanonicalEvent, Family, SourcePosition
from riskrelay.normalize.common import (
    canonical_event,
    envelope_of,
    require_id,
)
from riskrelay.normalize.money import normalize_money

# The detail record each EvaluationEventType requires.
DETAIL_FIELDS = {
    "DISPUTE_OPENED": "dispute",
    "EARLY_FRAUD_WARNING_RECEIVED": "early_fraud_warning",
    "REFUNDED": "refund",
    "USER_INTERVENTION_RAISED": "intervention_raised",
    "USER_INTERVENTION_RESOLVED": "intervention_resolved",
}
_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Stripe's metadata limits: 50 keys, keys up to 40 characters without square brackets
# (they would read as form nesting), values up to 500 characters.
_METADATA_KEYS = 50
_METADATA_KEY_LENGTH = 40
_METADATA_VALUE_LENGTH = 500


def normalize_evaluation(
    record: AvroRecord, source: SourcePosition, now: datetime
) -> CanonicalEvent:
    envelope = envelope_of(record, Family.EVALUATION, source)
    event_type = record["event_type"]
    expected = DETAIL_FIELDS[event_type]
    for name in DETAIL_FIELDS.values():
        present = record.get(name) is not None
        if name == expected and not present:
            raise ValidationError(f"{name}: required for {event_type}")
        if name != expected and present:
            raise ValidationError(f"{name}: only for {_type_of(name)}, not {event_type}")
    evaluation: AvroRecord = {
        "payment_id": require_id(record["payment_id"], "payment_id"),
        **dict.fromkeys(DETAIL_FIELDS.values()),
        expected: _detail(expected, record[expected]),
        "metadata": _metadata(record.get("metadata") or {}),
    }
    return canonical_event(envelope, record, now, evaluation=evaluation)


def _type_of(field: str) -> str:
    return next(kind for kind, name in DETAIL_FIELDS.items() if name == field)


def _detail(name: str, detail: AvroRecord) -> AvroRecord:
    if name in ("dispute", "refund"):
        return {**detail, "amount": normalize_money(detail["amount"], f"{name}.amount")}
    if name == "intervention_raised":
        require_id(detail["intervention_id"], "intervention_raised.intervention_id")
        custom = detail.get("custom_type")
        if detail["type"] == "CUSTOM":
            if custom is None or not _SNAKE_CASE.fullmatch(custom):
                raise ValidationError(
                    f"intervention_raised.custom_type: {custom!r} is not a snake_case name"
                    " (required when type is CUSTOM)"
                )
        elif custom is not None:
            raise ValidationError(
                f"intervention_raised.custom_type: only for CUSTOM, not {detail['type']}"
            )
    elif name == "intervention_resolved":
        require_id(detail["intervention_id"], "intervention_resolved.intervention_id")
    return dict(detail)


def _metadata(metadata: dict[str, str]) -> dict[str, str]:
    if len(metadata) > _METADATA_KEYS:
        raise ValidationError(f"metadata: {len(metadata)} keys, Stripe takes {_METADATA_KEYS}")
    for key, value in metadata.items():
        if not key or len(key) > _METADATA_KEY_LENGTH or "[" in key or "]" in key:
            raise ValidationError(
                f"metadata.{key}: keys are 1 to {_METADATA_KEY_LENGTH} characters, no brackets"
            )
        if len(value) > _METADATA_VALUE_LENGTH:
            raise ValidationError(
                f"metadata.{key}: value longer than {_METADATA_VALUE_LENGTH} characters"
            )
    return dict(metadata)
