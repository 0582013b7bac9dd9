"""Run the API (reads and ingest) with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from riskrelay.api.app import create_app
from riskrelay.api.auth import load_keys
from riskrelay.api.ingest import kafka_publisher
from riskrelay.decode.avro import registry_client
from riskrelay.errors import ConfigError
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.settings import Settings
from riskrelay.state.view import SnapshotBodies, StateView
from riskrelay.state.view_store import view_store


def view_directory(settings: Settings) -> Path:
    """``RISKRELAY_API_VIEW_DIR``, else ``<data dir>/api-view``."""
    return Path(settings.api.view_dir or Path(settings.data_dir) / "api-view")


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
        SnapshotBodies(registry_client(settings.registry.url)),
        view_store(settings.api.view_store, view_directory(settings)),
        retention_ms=settings.topics.state_retention_ms,
        sweep_interval_s=settings.api.view_sweep_interval_s,
    )


def build_app(settings: Settings) -> FastAPI:
    """The API for these settings: keys checked first (a one-line error without them),
    then the state view and the ingest producer (schemas registered at start)."""
    keys = load_keys(settings.api)
    publisher = kafka_publisher(
        settings.kafka.bootstrap,
        settings.registry.url,
        settings.topics,
        settings.api.publish_timeout_s,
    )
    return create_app(build_view(settings), settings.api, keys=keys, publisher=publisher)


def run_api(settings: Settings) -> None:
    app = build_app(settings)
    # At "warning" uvicorn writes no access lines; they would hold the method, path and
    # client address only, never headers (keys) or bodies.
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning")
