"""Run the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from riskrelay.api.app import create_app
from riskrelay.decode.avro import AvroDecoder, registry_client
from riskrelay.errors import ConfigError
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.settings import Settings
from riskrelay.state.view import StateView


def build_view(settings: Settings) -> StateView:
    """The state view for these settings, on topics that exist (created if missing)."""
    if not settings.kafka.bootstrap or not settings.registry.url:
        raise ConfigError(
            "the API needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
        )
    ensure_topics(
        settings.kafka.bootstrap, topic_specs(settings), settings.kafka.replication_factor
    )
    return StateView(
        settings.kafka.bootstrap,
        settings.topics.name(settings.topics.event_state),
        AvroDecoder(registry_client(settings.registry.url), "event_state"),
    )


def run_api(settings: Settings) -> None:
    app = create_app(build_view(settings), settings.api.retry_after_s)
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning")
