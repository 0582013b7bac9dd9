"""A registry on the test broker, storing schemas in a topic unique to each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from riskrelay.registry import KafkaSchemaLog, RegistryThread
from riskrelay.settings import Settings


@pytest.fixture
def schemas_topic(settings: Settings) -> str:
    return settings.topics.name(settings.topics.schemas)


@pytest.fixture
def kafka_registry(kafka_bootstrap: str, schemas_topic: str) -> Iterator[RegistryThread]:
    with RegistryThread(KafkaSchemaLog(kafka_bootstrap, schemas_topic)) as running:
        yield running


@pytest.fixture
def client(kafka_registry: RegistryThread) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": kafka_registry.url}) as sr:
        yield sr
