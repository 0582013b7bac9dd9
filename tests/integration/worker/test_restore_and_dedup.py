"""A worker that reads records the state says are done delivers nothing again."""

from __future__ import annotations

from collections.abc import Callable

from riskrelay.dev.demo import demo_events
from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerThread, in_new_group, wait_for


def test_state_restored_on_assignment_prevents_redelivery(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    events = list(demo_events(60, seed=21))
    for event in events:
        producer.send(Family.LIFECYCLE, event)
    producer.flush()
    first = worker_factory(pipeline_settings)
    wait_for(lambda: len(per_event(unit21.requests())) >= 60, 60, "the first worker's deliveries")
    first.stop()
    assert len(per_event(unit21.requests())) == 60

    # A new group starts from the earliest offset: every record is read again, as after
    # a crash before the offsets were committed. The restored state must stop them.
    second = worker_factory(in_new_group(pipeline_settings))
    wait_for(
        lambda: (
            second.counter("riskrelay_events_consumed", topic=producer.topic(Family.LIFECYCLE))
            >= 60
        ),
        60,
        "the second worker to read everything",
    )
    wait_for(lambda: second.counter("riskrelay_events_skipped") == 60, 10, "every record skipped")
    assert len(per_event(unit21.requests())) == 60, (
        "a record the state marked delivered was delivered again"
    )
    assert second.counter("riskrelay_dlq_records", reason="duplicate") == 0
