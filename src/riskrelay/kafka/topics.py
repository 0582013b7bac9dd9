"""Topic layout: names, partition counts and configs, and idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riskrelay.errors import BrokerError
from riskrelay.kafka.config import client_config
from riskrelay.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic riskrelay uses. Inputs and state share one partition count (co-partitioning)."""
    topics = settings.topics
    n = settings.kafka.partitions
    # Event state is compacted to the last snapshot per event and deleted by age; the
    # read API expires snapshots at the same age (riskrelay.state.view).
    compacted_with_retention = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(topics.state_retention_ms),
    }
    plain = {"cleanup.policy": "delete"}
    # Provider identities must outlive any event: a second applicant for a subject is
    # exactly what the map exists to prevent. Subject profiles too: a registration date
    # is years old. Compaction only, no deletion by age (one record per subject).
    compacted = {"cleanup.policy": "compact"}
    return [
        *(TopicSpec(name, n, plain) for name in topics.inputs),
        TopicSpec(topics.name(topics.normalized), n, plain),
        TopicSpec(topics.name(topics.deliveries), n, plain),
        TopicSpec(topics.name(topics.event_state), n, compacted_with_retention),
        TopicSpec(topics.name(topics.identities), n, compacted),
        TopicSpec(topics.name(topics.profiles), n, compacted),
        TopicSpec(topics.name(topics.dlq), n, plain),
    ]


def ensure_topics(bootstrap: str, specs: list[TopicSpec], replication_factor: int = 1) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AdminClient(client_config(bootstrap))
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=replication_factor,
            config=s.config,
        )
        for s in specs
        if s.name not in existing
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=10).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"cannot create topic {name}: {exc}") from exc
