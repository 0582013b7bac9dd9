"""Per-subject order under concurrency: 1,000 subjects x 20 events, random provider
latency; the provider must see every subject's events in publication order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerProcess, wait_for
from tests.integration.worker.streams import (
    delivered_ids,
    first_seen_order,
    publish,
    sent_order,
    subject_histories,
)


@pytest.fixture
def kafka_bootstrap(dedicated_kafka: str) -> str:
    """Tens of thousands of records: a broker of this test's own."""
    return dedicated_kafka


def test_each_subjects_events_reach_the_provider_in_order(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    events = subject_histories(subjects=1000, per_subject=20)
    unit21.set_faults({"latency_ms": {"distribution": "uniform", "min_ms": 0, "max_ms": 30}})
    publish(producer, events)
    worker = worker_processes(pipeline_settings)

    wait_for(lambda: len(delivered_ids(unit21)) >= len(events), 180, "20,000 deliveries")
    assert worker.alive, worker.log_tail()
    ids = delivered_ids(unit21)
    assert len(ids) == len(set(ids)) == 20_000
    assert first_seen_order(unit21) == sent_order(events)
    # Concurrency really happened: far more subjects than partitions were interleaved.
    assert worker.counter("riskrelay_events_consumed") == 20_000
