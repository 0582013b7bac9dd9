"""Run the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from riskrelay.api.app import create_app
from riskrelay.decode.avro import AvroDecoder, registry_client
from riskrelay.errors import ConfigError
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.settings import Settings
from riskrelay.state.view import StateView


def run_api(settings: Settings) -> None:
    if not settings.kafka.bootstrap or not settings.registry.url:
        raise ConfigError(
            "the API needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
        )
    ensure_topics(
        settings.kafka.bootstrap, topic_specs(settings), settings.kafka.replication_factor
    )
    topic = settings.topics.name(settings.topics.event_state)
    view = StateView(
        settings.kafka.bootstrap,
        topic,
        AvroDecoder(registry_client(settings.registry.url), "event_state"),
    )
    app = create_app(view, settings.api.retry_after_s)
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning")
