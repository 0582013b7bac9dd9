"""A worker process facing a misbehaving provider: 429 with Retry-After, and a 30 s
outage. Nothing is lost, the breaker opens and closes, memory stays bounded."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskrelay.dev.demo import lifecycle_event
from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.pipeline import WorkerProcess, wait_for
from tests.integration.worker.streams import delivered_ids, subject_histories


@pytest.fixture
def kafka_bootstrap(dedicated_kafka: str) -> str:
    return dedicated_kafka


def received_at(sandbox: SandboxThread, status: int) -> list[float]:
    return [r["received_at"] for r in sandbox.requests() if r["status"] == status]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    worker = worker_processes(pipeline_settings)
    unit21.set_faults({"rate_limit": {"ratio": 1.0, "retry_after_s": 3, "status": 429}})
    event = lifecycle_event(random.Random(1), "user-429", "SIGN_IN", datetime.now(UTC))
    producer.send(Family.LIFECYCLE, event)
    producer.flush()
    wait_for(lambda: received_at(unit21, 429), 30, "the first 429")
    unit21.clear_faults()
    wait_for(lambda: received_at(unit21, 200), 30, "the retry to succeed")
    [refused] = received_at(unit21, 429)
    [accepted] = received_at(unit21, 200)
    assert accepted - refused >= 3.0, "the retry came before Retry-After allowed it"
    assert worker.counter("riskrelay_provider_retries", provider="unit21") == 1
    assert worker.counter("riskrelay_dlq_records") == 0


def test_a_30s_outage_loses_nothing_and_the_breaker_opens_then_closes(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    events = subject_histories(subjects=200, per_subject=12, seed=8)  # 2,400 events
    worker = worker_processes(pipeline_settings)
    pid = worker.pid
    breaker_states: list[float] = []

    def paced() -> None:  # ~40 s of steady traffic across the outage
        for i, event in enumerate(events):
            producer.send(Family.LIFECYCLE, event)
            if i % 60 == 59:
                producer.flush()
                time.sleep(1.0)
        producer.flush()

    publisher = threading.Thread(target=paced)
    publisher.start()
    wait_for(lambda: len(delivered_ids(unit21)) >= 100, 30, "traffic before the outage")
    unit21.set_faults({"outage": {"status": 503, "duration_s": 30, "retry_after": False}})
    outage_end = time.monotonic() + 30
    while time.monotonic() < outage_end:
        breaker_states.append(worker.gauge("riskrelay_provider_breaker_state", provider="unit21"))
        time.sleep(0.5)
    publisher.join()

    expected = {e["event_id"] for e in events}
    wait_for(lambda: expected <= set(delivered_ids(unit21)), 120, "the backlog to drain")
    wait_for(
        lambda: worker.gauge("riskrelay_provider_breaker_state", provider="unit21") == 0,
        30,
        "the breaker to close",
    )
    assert 2 in breaker_states, f"the breaker never opened: {sorted(set(breaker_states))}"
    assert worker.counter("riskrelay_dlq_records") == 0, "the outage drained events to the DLQ"
    refused = len(received_at(unit21, 503))
    assert refused < len(events), f"{refused} requests hammered the provider during the outage"
    assert peak_rss_mb(pid) < 300
    assert worker.alive, worker.log_tail()
