"""SIGKILL the worker at random moments while 20,000 events flow, restart it each time
with the same static member id: nothing is lost, and the only duplicates are records
that were in flight at a kill."""

from __future__ import annotations

import random
import time
from collections import Counter
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

MAX_IN_FLIGHT = 500
KILLS = 5


@pytest.fixture
def kafka_bootstrap(dedicated_kafka: str) -> str:
    """Tens of thousands of records: a broker of this test's own."""
    return dedicated_kafka


def test_sigkill_loses_nothing_and_duplicates_only_what_was_in_flight(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
    record_property: Callable[[str, object], None],
) -> None:
    events = subject_histories(subjects=2000, per_subject=10, seed=3)
    unit21.set_faults({"latency_ms": {"distribution": "uniform", "min_ms": 1, "max_ms": 20}})
    publish(producer, events)
    rng = random.Random(17)
    env = {"RISKRELAY_WORKER_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT)}

    worker = worker_processes(pipeline_settings, "crashy", **env)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.5))
        worker.kill()
        worker = worker_processes(pipeline_settings, "crashy", **env)

    expected = {e["event_id"] for e in events}
    wait_for(lambda: expected <= set(delivered_ids(unit21)), 180, "every event delivered")
    assert worker.alive, worker.log_tail()
    ids = delivered_ids(unit21)
    duplicates = sum(n - 1 for n in Counter(ids).values())
    record_property("duplicates_after_kills", duplicates)
    print(f"\n{KILLS} kills, {len(ids)} deliveries, {duplicates} duplicates")
    assert duplicates <= KILLS * MAX_IN_FLIGHT
    assert first_seen_order(unit21) == sent_order(events)
