"""A local stand-in for Confluent Schema Registry, storing schemas in a Kafka topic.

It speaks the Confluent REST API subset that ``SchemaRegistryClient`` and the Avro
serializers use, so code pointed at ``RISKRELAY_SCHEMA_REGISTRY_URL`` cannot tell it from
Confluent Schema Registry, Karapace or Apicurio (ccompat). Deliberate limits: AVRO only, no
schema references, one instance per schemas topic (it assigns the global ids itself).

Entry points: :func:`run_registry` (the ``riskrelay registry`` command),
:func:`create_app` / :func:`build_app` (an ``aiohttp`` app), :func:`start_registry` (serve
in the running loop) and :class:`RegistryThread` (serve from synchronous code).
"""

from riskrelay.registry.background import RegistryThread
from riskrelay.registry.server import (
    RegistryHandle,
    build_app,
    create_app,
    run_registry,
    start_registry,
)
from riskrelay.registry.store import KafkaSchemaLog, SchemaLog

__all__ = [
    "KafkaSchemaLog",
    "RegistryHandle",
    "RegistryThread",
    "SchemaLog",
    "build_app",
    "create_app",
    "run_registry",
    "start_registry",
]
