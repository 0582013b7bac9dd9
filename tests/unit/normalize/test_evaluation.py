from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastavro.validation import validate

from riskrelay.dev.demo import EVALUATION_KINDS, evaluation_event
from riskrelay.errors import ValidationError
from riskrelay.models import Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.normalize.evaluation import DETAIL_FIELDS
from riskrelay.schemas import parsed_schema
from tests.fixtures.avro import avro_round_trip

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SOURCE = SourcePosition("risk.evaluation.v1", 0, 3)


def event(kind: str = "DISPUTE_OPENED", seed: int = 1, **changes: Any) -> dict[str, Any]:
    record = evaluation_event(
        random.Random(seed), "user-00042", kind, NOW - timedelta(minutes=5), "pay-1"
    )
    record.update(changes)
    return record


def round_trip(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked (every field set, none left to defaults), written and read back
    with the normalized schema, and read back unchanged (so no field the schema lacks)."""
    schema = parsed_schema("normalized")
    full = {**body, "version": 1, "operation": "UPDATE"}
    validate(full, schema, strict=True)
    result = avro_round_trip(schema, full)
    assert result == full
    return result


def test_every_event_type_has_a_detail_field() -> None:
    assert set(DETAIL_FIELDS) == set(EVALUATION_KINDS)


@pytest.mark.parametrize("kind", EVALUATION_KINDS)
def test_every_kind_normalizes_to_a_valid_canonical_event(kind: str) -> None:
    for seed in range(8):
        record = event(kind, seed)
        result = normalize(Family.EVALUATION, record, SOURCE, NOW)
        assert result.envelope.kind == kind.lower()
        assert result.envelope.family is Family.EVALUATION
        body = result.body
        evaluation = body["evaluation"]
        assert evaluation["payment_id"] == "pay-1"
        detail = DETAIL_FIELDS[kind]
        assert evaluation[detail] == record[detail]
        assert [name for name in DETAIL_FIELDS.values() if evaluation[name]] == [detail]
        assert evaluation["metadata"] == record["metadata"]
        assert (body["payment"], body["lifecycle"], body["address"]) == (None, None, None)
        read = round_trip(body)
        assert read["kind"] == kind.lower()
        assert read["evaluation"] == evaluation


def test_amounts_are_canonical_and_the_input_is_untouched() -> None:
    dispute = {"amount": {"amount_minor": 1234, "currency": "kwd"}, "reason": "FRAUDULENT"}
    record = event("DISPUTE_OPENED", dispute=dispute)
    body = normalize(Family.EVALUATION, record, SOURCE, NOW).body
    assert body["evaluation"]["dispute"]["amount"] == {"amount_minor": 1234, "currency": "KWD"}
    assert dispute["amount"]["currency"] == "kwd"  # type: ignore[index]


def test_custom_intervention_with_a_snake_case_type() -> None:
    raised = {"intervention_id": "intv-1", "type": "CUSTOM", "custom_type": "id_check_v2"}
    record = event("USER_INTERVENTION_RAISED", intervention_raised=raised)
    body = normalize(Family.EVALUATION, record, SOURCE, NOW).body
    assert body["evaluation"]["intervention_raised"] == raised


MONEY = {"amount_minor": 100, "currency": "USD"}
RAISED = {"intervention_id": "intv-1", "type": "THREE_DS", "custom_type": None}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (event(payment_id=""), "payment_id: must be a non-empty string"),
        (event("DISPUTE_OPENED", dispute=None), "dispute: required for DISPUTE_OPENED"),
        (
            event("EARLY_FRAUD_WARNING_RECEIVED", early_fraud_warning=None),
            "early_fraud_warning: required for EARLY_FRAUD_WARNING_RECEIVED",
        ),
        (event("REFUNDED", refund=None), "refund: required for REFUNDED"),
        (
            event("USER_INTERVENTION_RAISED", intervention_raised=None),
            "intervention_raised: required for USER_INTERVENTION_RAISED",
        ),
        (
            event("USER_INTERVENTION_RESOLVED", intervention_resolved=None),
            "intervention_resolved: required for USER_INTERVENTION_RESOLVED",
        ),
        (
            event("DISPUTE_OPENED", refund={"amount": MONEY, "reason": "OTHER"}),
            "refund: only for REFUNDED, not DISPUTE_OPENED",
        ),
        (
            event("REFUNDED", early_fraud_warning={"fraud_type": "OTHER"}),
            "early_fraud_warning: only for EARLY_FRAUD_WARNING_RECEIVED, not REFUNDED",
        ),
        (
            event("USER_INTERVENTION_RESOLVED", intervention_raised=RAISED),
            "intervention_raised: only for USER_INTERVENTION_RAISED",
        ),
        (
            event(dispute={"amount": {"amount_minor": 1, "currency": "usd1"}, "reason": "OTHER"}),
            "dispute.amount.currency: 'usd1' is not an ISO 4217 code",
        ),
        (
            event(dispute={"amount": {"amount_minor": -1, "currency": "USD"}, "reason": "OTHER"}),
            "dispute.amount.amount_minor: -1 is negative",
        ),
        (
            event("REFUNDED", refund={"amount": {"amount_minor": 1, "currency": "EURO"}}),
            "refund.amount.currency: 'EURO' is not an ISO 4217 code",
        ),
        (
            event(
                "USER_INTERVENTION_RAISED",
                intervention_raised={**RAISED, "type": "CUSTOM", "custom_type": None},
            ),
            "intervention_raised.custom_type: None is not a snake_case name",
        ),
        (
            event(
                "USER_INTERVENTION_RAISED",
                intervention_raised={**RAISED, "type": "CUSTOM", "custom_type": "ManualReview"},
            ),
            "intervention_raised.custom_type: 'ManualReview' is not a snake_case name",
        ),
        (
            event(
                "USER_INTERVENTION_RAISED",
                intervention_raised={**RAISED, "type": "CUSTOM", "custom_type": "manual review"},
            ),
            "intervention_raised.custom_type: 'manual review'",
        ),
        (
            event(
                "USER_INTERVENTION_RAISED",
                intervention_raised={**RAISED, "custom_type": "manual_review"},
            ),
            "intervention_raised.custom_type: only for CUSTOM, not THREE_DS",
        ),
        (
            event(
                "USER_INTERVENTION_RAISED", intervention_raised={**RAISED, "intervention_id": ""}
            ),
            "intervention_raised.intervention_id: must be a non-empty string",
        ),
        (
            event(
                "USER_INTERVENTION_RESOLVED",
                intervention_resolved={"intervention_id": " ", "outcome": "PASSED"},
            ),
            "intervention_resolved.intervention_id: must be a non-empty string",
        ),
        (event(metadata={f"k{i}": "v" for i in range(51)}), "metadata: 51 keys"),
        (event(metadata={"x" * 41: "v"}), "metadata.xxxx"),
        (event(metadata={"a[b]": "v"}), "metadata.a[b]: keys are 1 to 40 characters"),
        (event(metadata={"note": "v" * 501}), "metadata.note: value longer than 500"),
        (
            event(session={"session_started_at": NOW + timedelta(hours=1)}),
            "session.session_started_at: after",
        ),
    ],
)
def test_invalid_fields_are_named_in_the_error(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(Family.EVALUATION, record, SOURCE, NOW)
    assert message in str(caught.value)
    assert caught.value.reason == "invalid_field"
