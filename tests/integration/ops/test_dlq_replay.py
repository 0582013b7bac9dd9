"""``riskrelay dlq list|show|replay`` on the real broker, a worker and two sandboxes.

Coinflow refuses every request for a while (fault injection): those events reach Unit21
and go to the DLQ for Coinflow. A record written with a schema id the registry does not
know yet goes to the DLQ undecodable. Then Coinflow is fixed and the schema registered:
a replay delivers each event to Coinflow once (never again to Unit21), and the undecodable
one to both; a second replay makes no provider call at all.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import fastavro
import httpx
import pytest

from riskrelay.dev.demo import lifecycle_event
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.models import Family
from riskrelay.ops.schemas import RegistryApi
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.schemas import schema_text
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import CoinflowSettings, Settings
from tests.fixtures.pipeline import (
    WorkerThread,
    quick_sandbox,
    read_topic,
    wait_for,
    with_providers,
)
from tests.integration.ops.cli import run

COINFLOW_KEY = "test-coinflow-key"


@pytest.fixture
def coinflow() -> Iterator[SandboxThread]:
    with quick_sandbox("coinflow", COINFLOW_KEY) as sandbox:
        yield sandbox


@pytest.fixture
def two_providers(pipeline_settings: Settings, coinflow: SandboxThread) -> Settings:
    """Unit21 (``pipeline_settings``) and Coinflow."""
    return with_providers(
        pipeline_settings,
        coinflow=CoinflowSettings(base_url=coinflow.base_url, api_key=COINFLOW_KEY),
    )


def delivered(sandbox: SandboxThread) -> Counter[str]:
    """Accepted requests per subject (each subject here has one event)."""
    found: Counter[str] = Counter()
    for request in per_event(sandbox.requests()):
        if request["status"] == 200:
            body = request["json"]
            subject = (
                body["action_data"]["entity_id"] if "action_data" in body else body["customerId"]
            )
            found[subject] += 1
    return found


def next_schema_id(url: str) -> int:
    """The id the registry gives the next new schema (ids are one global sequence)."""
    subjects = httpx.get(f"{url}/subjects").json()
    ids = [httpx.get(f"{url}/subjects/{s}/versions/latest").json()["id"] for s in subjects]
    return max(ids) + 1


def lifecycle_with_extra_field() -> dict[str, Any]:
    """A compatible next version of the lifecycle contract (an optional field added)."""
    schema = json.loads(schema_text("lifecycle"))
    schema["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    return schema


def cli_json(settings: Settings, *args: str) -> Any:
    result = run(settings, *args, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_replay_delivers_once_and_a_second_replay_does_nothing(
    two_providers: Settings,
    unit21: SandboxThread,
    coinflow: SandboxThread,
    worker_factory: Callable[..., WorkerThread],
) -> None:
    settings = two_providers
    assert settings.kafka.bootstrap and settings.registry.url
    ensure_topics(settings.kafka.bootstrap, topic_specs(settings))
    producer = EventProducer(settings.kafka.bootstrap, settings.registry.url, settings.topics)
    worker = worker_factory(settings)
    topic = producer.topic(Family.LIFECYCLE)
    rng = random.Random(7)

    def sign_in(n: int) -> dict[str, Any]:
        return lifecycle_event(rng, f"user-{n}", "SIGN_IN", datetime.now(UTC))

    healthy = [sign_in(n) for n in range(5)]
    for event in healthy:
        producer.send(Family.LIFECYCLE, event)
    producer.flush()
    wait_for(lambda: len(delivered(coinflow)) == 5, 30, "the healthy events at Coinflow")

    coinflow.set_faults({"error_ratio": {"400": 1.0}})
    refused = [sign_in(n) for n in range(10, 14)]
    for event in refused:
        producer.send(Family.LIFECYCLE, event)
    # Written with the id the next schema will get: undecodable until it is registered.
    late_id = next_schema_id(settings.registry.url)
    late = sign_in(20) | {"campaign": "spring"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(lifecycle_with_extra_field()), late)
    late_value = struct.pack(">bI", 0, late_id) + body.getvalue()
    producer.send_raw(topic, b"user-20", late_value)
    producer.flush()
    producer.close()
    dlq_topic = settings.topics.name(settings.topics.dlq)
    assert len(read_topic(settings, dlq_topic, "dlq", 5)) == 5
    wait_for(lambda: len(delivered(unit21)) == 9, 30, "Unit21 to get every decodable event")
    coinflow.clear_faults()

    listed = cli_json(settings, "dlq", "list")
    assert Counter((r["reason"], r["provider"]) for r in listed) == {
        ("provider_rejected", "coinflow"): 4,
        ("unknown_schema", None): 1,
    }
    assert {r["event_id"] for r in listed if r["provider"]} == {e["event_id"] for e in refused}
    only_coinflow = cli_json(settings, "dlq", "list", "--provider", "coinflow", "--since", "1h")
    assert len(only_coinflow) == 4
    assert cli_json(settings, "dlq", "list", "--until", "1h") == []

    [undecodable] = [r for r in listed if r["reason"] == "unknown_schema"]
    [shown] = cli_json(settings, "dlq", "show", undecodable["id"])
    assert base64.b64decode(shown["original_value"]["base64"]) == late_value
    assert bytes.fromhex(shown["original_value"]["hex"]) == late_value
    assert shown["original_key"]["base64"] == base64.b64encode(b"user-20").decode()
    assert shown["decoded"] is None and "unknown_schema" in shown["not_decodable"]
    assert shown["source_topic"] == topic
    [rejected] = cli_json(settings, "dlq", "show", only_coinflow[0]["id"])
    assert rejected["decoded"]["event_id"] == rejected["event_id"]
    assert rejected["error_class"] == "PermanentDeliveryError" and rejected["attempts"] == 1

    with RegistryApi(settings.registry.url) as api:
        subject = f"{topic}-value"
        assert api.register(subject, json.dumps(lifecycle_with_extra_field())) == late_id

    consumed_before = worker.counter("riskrelay_events_consumed", topic=topic)
    [summary] = cli_json(settings, "dlq", "replay", "--all")
    assert (summary["selected"], summary["replayed"], summary["skipped"]) == (5, 5, [])
    wait_for(lambda: len(delivered(coinflow)) == 10, 30, "the replays at Coinflow")
    wait_for(lambda: len(delivered(unit21)) == 10, 30, "the late event at Unit21")
    wait_for(
        lambda: worker.counter("riskrelay_events_consumed", topic=topic) == consumed_before + 5,
        30,
        "the worker to read the replays",
    )
    everything = [*healthy, *refused, late]
    assert delivered(coinflow) == Counter(e["subject_id"] for e in everything)
    assert delivered(unit21) == Counter(e["subject_id"] for e in everything)

    requests = (len(coinflow.requests()), len(unit21.requests()))
    skipped_before = worker.counter("riskrelay_events_skipped")
    [again] = cli_json(
        settings, "dlq", "replay", "--reason", "provider_rejected", "--reason", "unknown_schema"
    )
    assert again["replayed"] == 5
    wait_for(
        lambda: worker.counter("riskrelay_events_skipped") == skipped_before + 5,
        30,
        "the second replay to be skipped",
    )
    assert (len(coinflow.requests()), len(unit21.requests())) == requests
    assert len(read_topic(settings, dlq_topic, "dlq", 6, timeout_s=3)) == 5


def test_replay_needs_a_selection_and_reports_in_one_line(
    pipeline_settings: Settings,
) -> None:
    assert pipeline_settings.kafka.bootstrap
    ensure_topics(pipeline_settings.kafka.bootstrap, topic_specs(pipeline_settings))
    result = run(pipeline_settings, "dlq", "replay")
    assert result.returncode == 2
    assert "name records (ids, --reason, --provider, ...) or pass --all" in result.stderr
    assert "Traceback" not in result.stderr
    bad_time = run(pipeline_settings, "dlq", "list", "--since", "yesterday")
    assert bad_time.returncode == 2 and "is not a time" in bad_time.stderr
    empty = run(pipeline_settings, "dlq", "list", "--json")
    assert empty.returncode == 0 and empty.stdout == ""
    missing = run(pipeline_settings, "dlq", "show", "0:99")
    assert missing.returncode == 2 and "no DLQ record 0:99" in missing.stderr
