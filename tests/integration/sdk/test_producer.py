"""The SDK producer on the real broker and the project's registry: typed events come out
of the worker's decoder as they went in, in the partition a Java producer would pick."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from riskrelay.decode.avro import AvroDecoder, AvroEncoder, registry_client
from riskrelay.dev.demo import demo_stream, lifecycle_event
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.models import FAMILY_SCHEMAS, Family
from riskrelay.sdk import EventProducer, LifecycleEvent, PaymentEvent, ValidationError
from riskrelay.sdk.models import FAMILY_MODELS
from riskrelay.sdk.producer import to_record
from riskrelay.settings import RegistrySettings, Settings
from tests.fixtures.pipeline import read_topic
from tests.integration.ops.cli import run


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``Utils.murmur2`` in the Java client), written from its source."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@pytest.fixture
def sdk_settings(settings: Settings, registry_url: str) -> Settings:
    assert settings.kafka.bootstrap
    ensure_topics(settings.kafka.bootstrap, topic_specs(settings))
    return settings.model_copy(update={"registry": RegistrySettings(url=registry_url)})


@pytest.fixture
def checked_producer(sdk_settings: Settings) -> Iterator[EventProducer]:
    """A producer that refuses what the worker would refuse (``worker_checks``)."""
    assert sdk_settings.kafka.bootstrap and sdk_settings.registry.url
    producer = EventProducer(
        sdk_settings.kafka.bootstrap,
        sdk_settings.registry.url,
        sdk_settings.topics,
        worker_checks=True,
    )
    yield producer
    producer.close()


def test_typed_events_reach_the_worker_decoder_in_the_subjects_partition(
    sdk_settings: Settings, checked_producer: EventProducer
) -> None:
    assert sdk_settings.registry.url
    sent = {family: [] for family in Family}  # type: ignore[var-annotated]
    for family, event in demo_stream(60, seed=11):
        model = FAMILY_MODELS[family].model_validate(event)
        delivery = checked_producer.publish(model, wait=True)
        published = delivery.result()
        assert published.topic == checked_producer.topic(family)
        assert published.partition == java_partition(event["subject_id"], 3)
        sent[family].append(event)
    registry = registry_client(sdk_settings.registry.url)
    for family, events in sent.items():
        if not events:
            continue
        # read_topic decodes with the worker's AvroDecoder (registry lookup by schema id).
        topic = checked_producer.topic(family)
        raw = read_topic(sdk_settings, topic, FAMILY_SCHEMAS[family], len(events))
        decoder = AvroDecoder(registry, FAMILY_SCHEMAS[family])
        local = AvroEncoder(registry, topic, FAMILY_SCHEMAS[family])
        # What the contract keeps of each event (instants to the millisecond); updates
        # repeat an event id, so records are compared as a multiset.
        expected = [decoder.decode(local.encode(to_record(family, e))) for e in events]
        assert sorted(map(repr, (r for _, r in raw))) == sorted(map(repr, expected))


def test_invalid_events_raise_before_anything_is_sent(checked_producer: EventProducer) -> None:
    event = lifecycle_event(random.Random(1), "user-1", "BUYER_CHALLENGE", datetime.now(UTC))
    event["challenge"] = None
    with pytest.raises(ValidationError, match=r"the worker would refuse it: .*challenge"):
        checked_producer.publish(LifecycleEvent.model_validate(event))
    with pytest.raises(ValidationError, match="amount: Field required"):
        checked_producer.send(Family.PAYMENT, {"event_id": "p", "event_type": "PURCHASE"})
    assert checked_producer.sent == 0
    assert PaymentEvent  # exported by the package


def test_produce_cli_publishes_good_lines_and_names_bad_ones(
    sdk_settings: Settings, tmp_path: Path
) -> None:
    good = [event for _, event in demo_stream(9, seed=5)]
    lines = [orjson.dumps(e, default=str).decode() for e in good]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"event_type": "TELEPORT", "event_id": "x"}))
    bad_challenge = lifecycle_event(
        random.Random(2), "user-9", "BUYER_CHALLENGE", datetime.now(UTC)
    )
    bad_challenge["challenge"] = None
    lines.append(orjson.dumps(bad_challenge, default=str).decode())
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = run(sdk_settings, "produce", str(path), "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["published"] == len(good)
    rejected = {r["line"]: r["error"] for r in summary["rejected"]}
    assert set(rejected) == {3, 5, len(lines)}
    assert "TELEPORT" in rejected[5]
    assert "challenge" in rejected[len(lines)]
    by_family: dict[Family, int] = {}
    for family, _ in demo_stream(9, seed=5):
        by_family[family] = by_family.get(family, 0) + 1
    for family, count in by_family.items():
        topic = sdk_settings.topics.family_topic(family.value)
        assert len(read_topic(sdk_settings, topic, FAMILY_SCHEMAS[family], count)) == count

    human = run(sdk_settings, "produce", str(tmp_path / "missing.jsonl"))
    assert human.returncode == 2 and "no such file" in human.stderr
