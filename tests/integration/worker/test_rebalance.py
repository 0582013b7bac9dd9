"""Two workers in one group; one stops mid-stream: its partitions move to the other,
nothing is lost and each subject's order holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerProcess, wait_for
from tests.integration.worker.streams import (
    delivered_ids,
    first_seen_order,
    sent_order,
    subject_histories,
)


@pytest.fixture
def kafka_bootstrap(dedicated_kafka: str) -> str:
    """Tens of thousands of records: a broker of this test's own."""
    return dedicated_kafka


def test_partitions_of_a_stopped_worker_move_to_the_other(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    events = subject_histories(subjects=300, per_subject=20, seed=5)
    unit21.set_faults({"latency_ms": 5})
    # Dynamic membership: a member that stops leaves the group at once. (A static member
    # keeps its partitions until the session times out, by design.)
    first = worker_processes(pipeline_settings, "w1", static=False)
    second = worker_processes(pipeline_settings, "w2", static=False)

    def paced() -> None:  # a steady stream, so the rebalance happens mid-flow
        for i, event in enumerate(events):
            producer.send(Family.LIFECYCLE, event)
            if i % 200 == 199:
                producer.flush()
                threading.Event().wait(0.1)
        producer.flush()

    total = 3 * pipeline_settings.kafka.partitions  # three input topics

    def settled() -> bool:
        owned = [w.gauge("riskrelay_assigned_partitions") for w in (first, second)]
        return all(owned) and sum(owned) == total

    wait_for(settled, 60, "the group to settle with two members")
    publisher = threading.Thread(target=paced)
    publisher.start()
    wait_for(lambda: len(delivered_ids(unit21)) >= 1500, 60, "the stream to be flowing")
    assert first.counter("riskrelay_events_consumed") > 0
    assert second.counter("riskrelay_events_consumed") > 0, "both workers must own partitions"
    assert first.stop() == 0
    publisher.join()

    expected = {e["event_id"] for e in events}
    wait_for(lambda: expected <= set(delivered_ids(unit21)), 120, "every event delivered")
    assert second.alive, second.log_tail()
    assert first_seen_order(unit21) == sent_order(events)
    assert second.counter("riskrelay_rebalances", kind="assign") >= 2
