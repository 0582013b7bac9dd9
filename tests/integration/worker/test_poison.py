"""10,000 malformed records of every kind interleaved with good ones: the worker never
stops, every good event is delivered, every bad record is in the DLQ with its bytes."""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from riskrelay.dev.demo import lifecycle_event
from riskrelay.models import Family
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import Settings
from tests.fixtures.avro import avro_bytes
from tests.fixtures.pipeline import WorkerProcess, read_topic, wait_for
from tests.integration.worker.streams import delivered_ids

BAD = 10_000
GOOD = 2_000


def bad_record(rng: random.Random, schema_id: int, n: int) -> tuple[str, bytes]:
    """One malformed record and the DLQ reason it must get."""
    event = lifecycle_event(rng, f"user-{n % 500:04d}", "SIGN_IN", datetime.now(UTC))
    header = struct.pack(">bI", 0, schema_id)
    kind = n % 8
    if kind == 0:
        return "undecodable", rng.randbytes(rng.randint(0, 40))[:4]  # shorter than a header
    if kind == 1:  # magic byte 1
        return "undecodable", struct.pack(">bI", 1, schema_id) + avro_bytes("lifecycle", event)
    if kind == 2:
        return "unknown_schema", struct.pack(">bI", 0, 900_000 + n) + avro_bytes("lifecycle", event)
    if kind == 3:
        body = avro_bytes("lifecycle", event)
        return "undecodable", header + body[: len(body) // 3]  # truncated
    if kind == 4:
        return "undecodable", header + avro_bytes("lifecycle", event) + b"\x00\x01trailing"
    if kind == 5:  # a session that starts after its event (a malformed e-mail is kept)
        started = event["occurred_at"] + timedelta(minutes=5)
        event["session"] = {**event["session"], "session_started_at": started}
        return "invalid_field", header + avro_bytes("lifecycle", event)
    if kind == 6:
        event["user"] = {**event["user"], "risk_score": 250}
        return "invalid_field", header + avro_bytes("lifecycle", event)
    event["event_type"] = "BUYER_CHALLENGE"  # without its challenge block
    return "invalid_field", header + avro_bytes("lifecycle", event)


@pytest.fixture
def kafka_bootstrap(dedicated_kafka: str) -> str:
    """Tens of thousands of records: a broker of this test's own."""
    return dedicated_kafka


def test_ten_thousand_bad_records_never_stop_the_worker(
    pipeline_settings: Settings,
    producer: EventProducer,
    unit21: SandboxThread,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    rng = random.Random(23)
    topic = producer.topic(Family.LIFECYCLE)
    schema_id = producer_schema_id(producer)
    good_ids, expected_reasons, bad_values = [], Counter[str](), set()
    for n in range(BAD + GOOD):
        if n % 6 == 5:
            event = lifecycle_event(rng, f"user-{n % 500:04d}", "SIGN_IN", datetime.now(UTC))
            producer.send(Family.LIFECYCLE, event)
            good_ids.append(event["event_id"])
        else:
            reason, value = bad_record(rng, schema_id, n)
            expected_reasons[reason] += 1
            bad_values.add(value)
            producer.send_raw(topic, f"user-{n % 500:04d}".encode(), value)
    producer.flush()
    total_bad = sum(expected_reasons.values())
    assert total_bad >= BAD

    worker = worker_processes(pipeline_settings)
    dlq_topic = pipeline_settings.topics.name(pipeline_settings.topics.dlq)
    dead = read_topic(pipeline_settings, dlq_topic, "dlq", total_bad, timeout_s=180)
    assert Counter(r["reason"] for _, r in dead) == expected_reasons
    assert {r["original_value"] for _, r in dead} == bad_values
    assert all(r["source_topic"] == topic and r["message"] for _, r in dead)
    wait_for(lambda: set(good_ids) <= set(delivered_ids(unit21)), 120, "every good event")
    assert worker.alive, worker.log_tail()
    assert worker.counter("riskrelay_dlq_records") == total_bad


def producer_schema_id(producer: EventProducer) -> int:
    """The registered id of the lifecycle schema (what a correct producer writes)."""
    return producer.schema_id(Family.LIFECYCLE)
