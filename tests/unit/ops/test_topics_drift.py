"""Drift between the cluster's topics and what ``riskrelay topics create`` sets."""

from __future__ import annotations

from riskrelay.kafka.topics import TopicSpec
from riskrelay.ops.topics import ObservedTopic, compare

STATE = TopicSpec(
    "risk.event-state.v1", 6, {"cleanup.policy": "compact,delete", "retention.ms": "1000"}
)


def observed(partitions: int = 6, replication: int = 3, **configs: str) -> ObservedTopic:
    base = {"cleanup.policy": "compact,delete", "retention.ms": "1000", "min.insync.replicas": "2"}
    return ObservedTopic(partitions, replication, {**base, **configs})


def test_a_topic_as_created_has_no_drift() -> None:
    report = compare(STATE, observed(), replication=3)
    assert report.exists and report.drift == []
    assert report.configs["min.insync.replicas"] == "2"
    assert report.configs["cleanup.policy"] == "compact,delete"


def test_each_difference_is_named() -> None:
    report = compare(
        STATE,
        observed(partitions=12, replication=2, **{"cleanup.policy": "delete"}),
        replication=3,
    )
    assert report.drift == [
        "partitions 12, expected 6",
        "replication factor 2, expected 3",
        "cleanup.policy=delete, expected compact,delete",
    ]


def test_a_min_isr_above_the_replication_factor_is_drift() -> None:
    report = compare(STATE, observed(replication=1, **{"min.insync.replicas": "2"}), replication=1)
    assert len(report.drift) == 1 and "every acks=all write fails" in report.drift[0]


def test_a_missing_topic_is_drift() -> None:
    report = compare(STATE, None, replication=1)
    assert not report.exists and report.partitions is None
    assert report.drift == ["missing (riskrelay topics create makes it)"]
    assert report.as_json()["expected_configs"] == STATE.config
