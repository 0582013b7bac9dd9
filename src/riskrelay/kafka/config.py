"""librdkafka configuration built from settings: one place, so every client agrees."""

from __future__ import annotations

from typing import Any

from riskrelay.settings import KafkaSettings

ClientConfig = dict[str, Any]


def base_config(bootstrap: str) -> ClientConfig:
    return {"bootstrap.servers": bootstrap}


def producer_config(bootstrap: str, **overrides: Any) -> ClientConfig:
    """Idempotent, murmur2 (Java-compatible) partitioning, batched and compressed."""
    config: ClientConfig = {
        **base_config(bootstrap),
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 1_048_576,
        "compression.type": "zstd",
    }
    config.update(overrides)
    return config


def consumer_config(
    bootstrap: str, group_id: str, kafka: KafkaSettings, **overrides: Any
) -> ClientConfig:
    """Manual commits, read_committed, and settings that stop an idle consumer spinning."""
    config: ClientConfig = {
        **base_config(bootstrap),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": kafka.session_timeout_ms,
        "fetch.wait.max.ms": 100,
        "fetch.queue.backoff.ms": 5,
        "queued.max.messages.kbytes": 2048,
    }
    config.update(overrides)
    return config
