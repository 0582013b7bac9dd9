"""The SDK's typed models and the Avro contracts: the same fields, the same rules, and a
model's dump is exactly what the contract encodes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from riskrelay.dev.demo import demo_stream
from riskrelay.errors import ValidationError
from riskrelay.models import FAMILY_SCHEMAS, Family
from riskrelay.schemas import parsed_schema, schema_text
from riskrelay.sdk import models
from riskrelay.sdk.codegen import formatted, render_models
from riskrelay.sdk.models import FAMILY_MODELS, AvroModel, LifecycleEvent
from riskrelay.sdk.producer import to_record
from tests.fixtures.avro import avro_bytes, avro_round_trip


def test_the_committed_models_are_what_the_contracts_generate() -> None:
    committed = Path(models.__file__).read_text()
    assert committed == formatted(render_models()), (
        "src/riskrelay/sdk/models.py is stale: run python -m riskrelay.sdk.codegen"
    )


def _records(schema: Any, found: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, list):
        for branch in schema:
            _records(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            found.setdefault(schema["name"].rsplit(".", 1)[-1], schema)
            for f in schema["fields"]:
                _records(f["type"], found)
        elif schema.get("type") == "array":
            _records(schema["items"], found)
        elif schema.get("type") == "map":
            _records(schema["values"], found)
    return found


@pytest.mark.parametrize("family", list(Family))
def test_every_record_has_its_fields_in_order_with_the_same_defaults(family: Family) -> None:
    contract = json.loads(schema_text(FAMILY_SCHEMAS[family]))
    assert FAMILY_MODELS[family].__name__ == contract["name"]
    for name, record in _records(contract, {}).items():
        model = getattr(models, name)
        assert issubclass(model, AvroModel)
        fields = model.model_fields
        assert [f.alias or n for n, f in fields.items()] == [f["name"] for f in record["fields"]]
        for spec, info in zip(record["fields"], fields.values(), strict=True):
            where = f"{name}.{spec['name']}"
            assert info.is_required() == ("default" not in spec), where
            if "default" in spec and not info.is_required():
                default = info.get_default(call_default_factory=True)
                assert default == spec["default"], where


@pytest.mark.parametrize("family", list(Family))
def test_a_models_dump_is_what_the_contract_writes_and_reads(family: Family) -> None:
    events = [e for f, e in demo_stream(300, seed=3) if f is family][:25]
    assert events
    schema = parsed_schema(FAMILY_SCHEMAS[family])
    for event in events:
        model = FAMILY_MODELS[family].model_validate(event)
        record = to_record(family, model)
        assert avro_bytes(schema, record) == avro_bytes(schema, event)
        assert avro_round_trip(schema, record) == avro_round_trip(schema, event)


def sign_in(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "evt-1",
        "event_type": "SIGN_IN",
        "subject_id": "user-1",
        "occurred_at": "2026-11-21T12:00:00Z",
        "session": {"ip_address": "203.0.113.7"},
    }
    return event | changes


def test_json_forms_become_typed_values() -> None:
    event = LifecycleEvent.model_validate(sign_in(user={"date_of_birth": "1990-04-01"}))
    assert isinstance(event.occurred_at, datetime) and event.occurred_at.utcoffset() is not None
    assert event.operation == "CREATE" and event.upsert_on_conflict is False
    assert event.user is not None and event.user.date_of_birth is not None
    assert event.tags == {} and event.changed_fields == []


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"subject_id": None}, "subject_id"),
        ({"event_type": "SIGN_UP_TWICE"}, "event_type"),
        ({"campaign": "spring"}, "campaign"),
        ({"occurred_at": "2026-11-21T12:00:00"}, "occurred_at"),
        ({"user": {"risk_score": 2**31}}, "user.risk_score"),
        ({"session": {"ip": "203.0.113.7"}}, "session.ip"),
    ],
)
def test_a_broken_event_names_its_field(change: dict[str, Any], names: str) -> None:
    with pytest.raises(ValidationError, match=f"not a valid lifecycle event: {names}: "):
        to_record(Family.LIFECYCLE, sign_in(**change))


def test_a_model_of_another_family_is_refused() -> None:
    event = LifecycleEvent.model_validate(sign_in())
    with pytest.raises(ValidationError, match="a LifecycleEvent is not a payment event"):
        to_record(Family.PAYMENT, event)
