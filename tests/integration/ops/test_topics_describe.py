"""``riskrelay topics describe`` against the real broker: topics as created show no drift;
a topic made by hand with other settings is named with each difference."""

from __future__ import annotations

import json

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.ops.topics import describe_topics
from riskrelay.settings import Settings
from tests.integration.ops.cli import one_error_line, run


def test_topics_as_created_have_no_drift(settings: Settings) -> None:
    assert settings.kafka.bootstrap
    ensure_topics(settings.kafka.bootstrap, topic_specs(settings))
    reports = describe_topics(settings)
    assert [r.name for r in reports] == [s.name for s in topic_specs(settings)]
    assert all(r.exists and not r.drift for r in reports), [r.drift for r in reports]
    state = next(r for r in reports if r.name.endswith("risk.event-state.v1"))
    assert state.configs["cleanup.policy"] == "compact,delete"
    assert state.partitions == settings.kafka.partitions
    assert state.configs["min.insync.replicas"] is not None

    result = run(settings, "topics", "describe", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["drift"] is False
    assert len(described["topics"]) == len(reports)


def test_drift_is_named_and_exits_1(settings: Settings) -> None:
    assert settings.kafka.bootstrap
    state = settings.topics.name(settings.topics.event_state)
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    made_by_hand = NewTopic(
        state, num_partitions=1, replication_factor=1, config={"cleanup.policy": "delete"}
    )
    for future in admin.create_topics([made_by_hand]).values():
        future.result()
    ensure_topics(settings.kafka.bootstrap, topic_specs(settings))

    result = run(settings, "topics", "describe", "--json")
    assert result.returncode == 1
    described = {t["topic"]: t for t in json.loads(result.stdout)["topics"]}
    assert described[state]["drift"][:2] == [
        f"partitions 1, expected {settings.kafka.partitions}",
        "cleanup.policy=delete, expected compact,delete",
    ]
    others = [t for name, t in described.items() if name != state]
    assert all(not t["drift"] for t in others)

    human = run(settings, "topics", "describe")
    assert human.returncode == 1
    assert "1 of" in human.stdout and "differ from 'riskrelay topics create'" in human.stdout


def test_no_broker_is_one_line(settings: Settings) -> None:
    result = run(settings, "topics", "describe", RISKRELAY_KAFKA_BOOTSTRAP="127.0.0.1:9")
    assert result.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:9" in one_error_line(result)
