"""A worker run against the real broker, registry and Unit21 sandbox moves every metric
of its exposition, with the labels the dashboard and alerts use, and logs a DLQ record
as one JSON-ready line with its fields."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerThread, wait_for
from tests.integration.worker.streams import publish, subject_histories

CREATES = 15
UPDATES = 4


def samples(worker: WorkerThread, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Samples named ``name`` whose labels include ``labels``, from the exposition text
    (what Prometheus would scrape)."""
    text = generate_latest(worker.metrics.registry).decode()
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    ]


def total(worker: WorkerThread, name: str, **labels: str) -> float:
    return sum(value for _, value in samples(worker, name, **labels))


def test_a_worker_run_moves_the_counters(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    topic = producer.topic(Family.LIFECYCLE)
    normalized = pipeline_settings.topics.name(pipeline_settings.topics.normalized)
    events = subject_histories(5, CREATES // 5)
    updates: list[dict[str, Any]] = [{**e, "operation": "UPDATE"} for e in events[:UPDATES]]
    publish(producer, events + updates)
    producer.send_raw(topic, b"user-poison", b"not avro at all")
    producer.flush()
    worker = worker_factory(pipeline_settings)
    delivered = CREATES + UPDATES

    wait_for(
        lambda: (
            total(worker, "riskrelay_provider_deliveries_total", outcome="delivered") >= delivered
        ),
        60,
        "every delivery",
    )
    assert total(worker, "riskrelay_provider_deliveries_total", outcome="failed") == 0
    assert total(worker, "riskrelay_events_consumed_total", topic=topic) == delivered + 1
    invalid = samples(worker, "riskrelay_events_invalid_total")
    assert [(labels, value) for labels, value in invalid] == [
        ({"topic": topic, "reason": "undecodable"}, 1.0)
    ]
    assert total(worker, "riskrelay_dlq_records_total", reason="undecodable") == 1
    assert total(worker, "riskrelay_events_normalized_total", family="LIFECYCLE") == delivered
    emitted = samples(worker, "riskrelay_events_emitted_total")
    assert {labels["topic"] for labels, _ in emitted} == {normalized}
    assert sum(value for _, value in emitted) == delivered

    # Provider requests by endpoint: the update's route, never its event id.
    requests = {
        (labels["endpoint"], labels["status_class"]): value
        for labels, value in samples(worker, "riskrelay_provider_requests_total", provider="unit21")
        if value
    }
    # Creates go in batches: one request per batch, every event counted in the histogram.
    batches = total(worker, "riskrelay_provider_batch_events_count", provider="unit21")
    assert total(worker, "riskrelay_provider_batch_events_sum", provider="unit21") == CREATES
    assert requests == {
        ("POST /v1/events/create", "2xx"): batches,
        ("PUT /v1/events/{event_id}/update", "2xx"): UPDATES,
    }
    assert 1 <= batches <= CREATES
    assert total(worker, "riskrelay_end_to_end_seconds_count", provider="unit21") == delivered
    assert (
        total(worker, "riskrelay_provider_request_seconds_count", provider="unit21")
        == batches + UPDATES
    )
    assert total(worker, "riskrelay_provider_breaker_state", provider="unit21") == 0

    # Kafka side: assignment, restore, commits, lag (librdkafka statistics every 5 s).
    assert total(worker, "riskrelay_rebalances_total", kind="assign") >= 1
    assert total(worker, "riskrelay_assigned_partitions") == 3 * len(Family)
    assert total(worker, "riskrelay_state_restore_seconds_count") >= 1
    assert total(worker, "riskrelay_state_restore_started_timestamp_seconds") == 0
    wait_for(lambda: total(worker, "riskrelay_commit_seconds_count") >= 1, 10, "a commit")
    wait_for(
        lambda: (
            {labels["topic"] for labels, _ in samples(worker, "riskrelay_consumer_lag_records")}
            == {producer.topic(f) for f in Family}
        ),
        20,
        "lag reported for every input topic",
    )
    lag = samples(worker, "riskrelay_consumer_lag_records")
    assert len(lag) == 3 * len(Family), lag  # one per assigned partition
    wait_for(lambda: total(worker, "riskrelay_consumer_lag_records") == 0, 20, "everything read")
    wait_for(lambda: total(worker, "riskrelay_events_in_flight") == 0, 10, "nothing in flight")
    wait_for(lambda: total(worker, "riskrelay_events_uncommitted") == 0, 10, "all committed")
    assert total(worker, "riskrelay_paused_partitions") == 0
    assert total(worker, "riskrelay_state_store_records", store="event_state") >= CREATES
    assert total(worker, "riskrelay_state_store_bytes", store="event_state") > 0

    # The DLQ record's log line carries its fields.
    dlq_lines = [
        getattr(r, "riskrelay_fields", {})
        for r in caplog.records
        if getattr(r, "riskrelay_fields", {}).get("event") == "dlq"
    ]
    assert len(dlq_lines) == 1
    assert dlq_lines[0]["reason"] == "undecodable"
    assert dlq_lines[0]["topic"] == topic
    assert dlq_lines[0]["offset"] >= 0
    rebalances = [
        getattr(r, "riskrelay_fields", {})
        for r in caplog.records
        if getattr(r, "riskrelay_fields", {}).get("event") == "rebalance"
    ]
    assert rebalances and rebalances[0]["kind"] == "assign"
