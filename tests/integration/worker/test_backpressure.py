"""The in-flight bound holds whatever the commit pace: finished events count until their
transaction commits, because their outputs (and the profiles they changed) stay in memory
until then. Real broker, registry and Unit21 sandbox; commits spaced 2 s apart so that
finished events pile up behind them."""

from __future__ import annotations

import time
from collections.abc import Callable

from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerThread
from tests.integration.worker.streams import delivered_ids, publish, subject_histories

MAX_IN_FLIGHT = 40
COMMIT_INTERVAL_S = 2.0
SUBJECTS, PER_SUBJECT = 60, 5


def gauge(worker: WorkerThread, name: str) -> float:
    value = worker.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def held(worker: WorkerThread) -> tuple[float, float]:
    """(in flight, uncommitted) as the worker last set them together: read until two
    reads agree, since the worker's loop may set them between this thread's reads."""
    names = ("riskrelay_events_in_flight", "riskrelay_events_uncommitted")
    last = (-1.0, -1.0)
    while True:
        now = (gauge(worker, names[0]), gauge(worker, names[1]))
        if now == last:
            return now
        last = now


def test_finished_events_hold_their_slot_until_committed(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    events = subject_histories(SUBJECTS, PER_SUBJECT)
    publish(producer, events)
    worker_settings = pipeline_settings.worker.model_copy(
        update={"max_in_flight": MAX_IN_FLIGHT, "commit_interval_s": COMMIT_INTERVAL_S}
    )
    worker = worker_factory(pipeline_settings.model_copy(update={"worker": worker_settings}))

    peak_held = peak_uncommitted = 0.0
    paused_seen = False
    deadline = time.monotonic() + 90
    while len(set(delivered_ids(unit21))) < len(events) or gauge(
        worker, "riskrelay_events_uncommitted"
    ):
        assert time.monotonic() < deadline, "events not delivered and committed within 90 s"
        in_flight, uncommitted = held(worker)
        peak_held = max(peak_held, in_flight + uncommitted)
        peak_uncommitted = max(peak_uncommitted, uncommitted)
        paused_seen = paused_seen or gauge(worker, "riskrelay_paused_partitions") > 0
        time.sleep(0.01)

    # Without the finished events counted, the worker would take all 300 events within
    # one commit interval (the sandbox answers at once), holding every output in memory.
    assert peak_uncommitted >= MAX_IN_FLIGHT // 2, peak_uncommitted
    assert peak_held <= MAX_IN_FLIGHT, peak_held
    assert paused_seen, "the bound was reached, so the partitions were paused"
    assert sorted(set(delivered_ids(unit21))) == sorted(e["event_id"] for e in events)
