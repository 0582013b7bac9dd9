"""Union branch hints must change the encoding's speed, never its bytes."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from riskrelay.dev.demo import (
    EVALUATION_KINDS,
    LIFECYCLE_KINDS,
    PAYMENT_KINDS,
    evaluation_event,
    lifecycle_event,
    payment_event,
)
from riskrelay.models import Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.schemas import SCHEMA_NAMES, parsed_schema, union_hints, with_union_hints

WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _encode(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def _bodies() -> list[dict[str, Any]]:
    rng = random.Random(5)
    records = [
        *((Family.LIFECYCLE, lifecycle_event(rng, "user-1", k, WHEN)) for k in LIFECYCLE_KINDS),
        *((Family.PAYMENT, payment_event(rng, "user-1", k, WHEN)) for k in PAYMENT_KINDS),
        *(
            (Family.EVALUATION, evaluation_event(rng, "user-1", k, WHEN, "pay-1"))
            for k in EVALUATION_KINDS
        ),
    ]
    source = SourcePosition("t", 0, 0)
    return [
        {**normalize(family, record, source, WHEN).body, "version": 1, "operation": "CREATE"}
        for family, record in records
    ]


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: str(b["kind"]))
def test_hinted_normalized_events_encode_to_the_same_bytes(body: dict[str, Any]) -> None:
    schema = parsed_schema("normalized")
    hinted = with_union_hints(body, union_hints(schema))
    assert _encode(schema, hinted) == _encode(schema, body)
    assert isinstance(hinted["session"], tuple)
    assert isinstance(body["session"], dict)  # the caller's record is left alone


def test_hints_name_the_record_branches_of_every_contract() -> None:
    hints = {name: union_hints(parsed_schema(name)) for name in SCHEMA_NAMES}
    normalized = {field: (branch, inner) for field, branch, inner in hints["normalized"]}
    assert normalized["user"][0] == "riskrelay.v1.UserInfo"
    inner = {field for field, _, _ in normalized["payment"][1]}
    assert {"card", "redeem", "fee", "billing_address"} <= inner
    assert [field for field, _, _ in hints["event_state"]] == ["current", "pending"]


def test_null_values_stay_null() -> None:
    schema = parsed_schema("event_state")
    record = {"current": None, "pending": None}
    assert with_union_hints(record, union_hints(schema)) == record
