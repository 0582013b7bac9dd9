"""``riskrelay topics describe``: what the cluster holds for every riskrelay topic next to
what ``riskrelay topics create`` would set, with each difference named.

Drift matters because the worker joins inputs and state by partition number: an input
topic with another partition count than the state topic breaks co-partitioning, and a
state topic that lost ``compact`` grows without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from riskrelay.errors import BrokerError, ConfigError
from riskrelay.kafka.config import client_config
from riskrelay.kafka.topics import TopicSpec, topic_specs
from riskrelay.settings import KafkaSettings, Settings

# The configs an operator needs to see for every topic, whether riskrelay sets them or not.
SHOWN_CONFIGS = ("cleanup.policy", "retention.ms", "retention.bytes", "min.insync.replicas")


@dataclass(frozen=True)
class ObservedTopic:
    """A topic as the cluster describes it."""

    partitions: int
    replication: int
    configs: dict[str, str]


@dataclass(frozen=True)
class TopicReport:
    name: str
    exists: bool
    partitions: int | None
    expected_partitions: int
    replication: int | None
    expected_replication: int
    configs: dict[str, str | None]
    expected_configs: dict[str, str]
    drift: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.name,
            "exists": self.exists,
            "partitions": self.partitions,
            "expected_partitions": self.expected_partitions,
            "replication_factor": self.replication,
            "expected_replication_factor": self.expected_replication,
            "configs": self.configs,
            "expected_configs": self.expected_configs,
            "drift": self.drift,
        }


def compare(spec: TopicSpec, observed: ObservedTopic | None, replication: int) -> TopicReport:
    """The report of one topic: each way it differs from what ``topics create`` sets."""
    if observed is None:
        return TopicReport(
            spec.name,
            False,
            None,
            spec.partitions,
            None,
            replication,
            dict.fromkeys(SHOWN_CONFIGS),
            dict(spec.config),
            ["missing (riskrelay topics create makes it)"],
        )
    drift = []
    if observed.partitions != spec.partitions:
        drift.append(f"partitions {observed.partitions}, expected {spec.partitions}")
    if observed.replication != replication:
        drift.append(f"replication factor {observed.replication}, expected {replication}")
    for name, expected in spec.config.items():
        actual = observed.configs.get(name)
        if actual != expected:
            drift.append(f"{name}={actual}, expected {expected}")
    min_isr = observed.configs.get("min.insync.replicas")
    if min_isr is not None and min_isr.isdigit() and int(min_isr) > observed.replication:
        drift.append(
            f"min.insync.replicas={min_isr} exceeds the replication factor "
            f"{observed.replication}: every acks=all write fails"
        )
    shown = {name: observed.configs.get(name) for name in (*SHOWN_CONFIGS, *spec.config)}
    return TopicReport(
        spec.name,
        True,
        observed.partitions,
        spec.partitions,
        observed.replication,
        replication,
        shown,
        dict(spec.config),
        drift,
    )


def observe(
    bootstrap: str, kafka: KafkaSettings, names: list[str], timeout_s: float = 10.0
) -> dict[str, ObservedTopic]:
    """Partitions, replication and the shown configs of the named topics that exist."""
    admin = AdminClient(client_config(bootstrap, kafka))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    present = [n for n in names if n in metadata.topics and not metadata.topics[n].error]
    if not present:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
    found: dict[str, ObservedTopic] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entries = future.result()
        except KafkaException as exc:
            raise BrokerError(f"cannot describe topic {resource.name}: {exc}") from exc
        partitions = metadata.topics[resource.name].partitions
        replication = min((len(p.replicas) for p in partitions.values()), default=0)
        found[resource.name] = ObservedTopic(
            len(partitions),
            replication,
            {name: entry.value for name, entry in entries.items() if entry.value is not None},
        )
    return found


def describe_topics(settings: Settings) -> list[TopicReport]:
    if not settings.kafka.bootstrap:
        raise ConfigError("RISKRELAY_KAFKA_BOOTSTRAP is not set")
    specs = topic_specs(settings)
    observed = observe(settings.kafka.bootstrap, settings.kafka, [s.name for s in specs])
    replication = settings.kafka.replication_factor
    return [compare(spec, observed.get(spec.name), replication) for spec in specs]
