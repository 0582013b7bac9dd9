from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskrelay.kafka.collector import OutputRecord
from riskrelay.models import AvroRecord
from riskrelay.pipeline import delivery_record
from tests.fixtures.avro import avro_round_trip

TOPIC = "risk.deliveries.v1"
OCCURRED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
COMPLETED = OCCURRED + timedelta(seconds=3)
BODY: AvroRecord = {
    "event_id": "evt-1",
    "version": 2,
    "subject_id": "user-1",
    "kind": "sign_in",
    "occurred_at": OCCURRED,
    "source": {"topic": "risk.lifecycle.v1", "partition": 1, "offset": 10},
}


def round_trip(record: OutputRecord) -> AvroRecord:
    """The value through the deliveries topic's schema, as the collector encodes it."""
    assert (record.topic, record.partition, record.key) == (TOPIC, 1, "evt-1")
    return avro_round_trip("delivery_result", record.value)


def test_delivered_record_carries_the_event_version_and_the_call() -> None:
    attempt = {"started_at": OCCURRED, "duration_ms": 12.5, "status_code": 200, "error": None}
    record = delivery_record(
        TOPIC,
        BODY,
        "unit21",
        "POST /events/create",
        delivered=True,
        status_code=200,
        error=None,
        completed_at=COMPLETED,
        attempts=[attempt],
        response_body='{"ok": true}',
        response_ref="u21-1",
    )
    assert round_trip(record) == {
        "event_id": "evt-1",
        "version": 2,
        "subject_id": "user-1",
        "kind": "sign_in",
        "provider": "unit21",
        "endpoint": "POST /events/create",
        "outcome": "DELIVERED",
        "status_code": 200,
        "attempts": [attempt],
        "response_body": '{"ok": true}',
        "response_ref": "u21-1",
        "error": None,
        "occurred_at": OCCURRED,
        "completed_at": COMPLETED,
    }


@pytest.mark.parametrize("status_code", [None, 422])
def test_failed_record_without_a_response(status_code: int | None) -> None:
    record = round_trip(
        delivery_record(
            TOPIC,
            BODY,
            "stripe",
            "POST /v1/radar",
            delivered=False,
            status_code=status_code,
            error="HTTP 422: bad",
            completed_at=COMPLETED,
        )
    )
    assert record["outcome"] == "FAILED"
    assert record["status_code"] == status_code
    assert record["error"] == "HTTP 422: bad"
    assert record["attempts"] == []
    assert record["response_body"] is None
    assert record["response_ref"] is None
