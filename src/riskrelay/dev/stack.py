"""``riskrelay dev``: the whole local stack — embedded broker, schema registry, provider
sandboxes, worker and read API — each a real process, wired by environment variables
exactly as they would be deployed."""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from riskrelay.kafka.embedded import EmbeddedBroker
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.processes import ChildProcess, require_free_port
from riskrelay.settings import ProviderName, Settings

SANDBOX_KEYS: dict[str, str] = {
    "coinflow": "sandbox-coinflow-key",
    "unit21": "sandbox-unit21-key",
    "dataspike": "sandbox-dataspike-key",
    "stripe": "sk_test_sandbox",
}
HOST = "127.0.0.1"


@dataclass
class StackUrls:
    broker: str = ""
    registry: str = ""
    api: str = ""
    metrics: str = ""
    providers: dict[str, str] = field(default_factory=dict)
    sandboxed: list[str] = field(default_factory=list)
    api_key: str | None = None  # generated for this run; None when configured


def dev_api_key(env: dict[str, str]) -> str | None:
    """Serve the API with the configured keys, or else a fresh development key with
    both scopes, returned so it can be printed (the API does not start without one)."""
    if env.get("RISKRELAY_API_KEYS") or env.get("RISKRELAY_API_KEYS_FILE"):
        return None
    secret = secrets.token_urlsafe(24)
    env["RISKRELAY_API_KEYS"] = f"dev:ingest+read:{secret}"
    return secret


class LocalStack:
    def __init__(self, settings: Settings, providers: list[ProviderName]) -> None:
        self._settings = settings
        self._providers = providers
        self._data_dir = Path(settings.dev.data_dir).resolve()
        self._log_dir = self._data_dir / "logs"
        self._broker: EmbeddedBroker | None = None
        self._children: list[ChildProcess] = []
        self.urls = StackUrls()
        self.env: dict[str, str] = {}

    def _check_ports(self) -> None:
        s = self._settings
        if not s.kafka.bootstrap:
            require_free_port(HOST, s.dev.broker_port, "RISKRELAY_DEV_BROKER_PORT")
        if not s.registry.url:
            require_free_port(HOST, s.registry.port, "RISKRELAY_SCHEMA_REGISTRY_PORT")
        require_free_port(HOST, s.api.port, "RISKRELAY_API_PORT")
        require_free_port(HOST, s.worker.metrics_port, "RISKRELAY_WORKER_METRICS_PORT")
        for provider in self._providers:
            if not s.providers.get(provider).base_url:
                require_free_port(
                    HOST, s.dev.sandbox_port(provider), "RISKRELAY_DEV_SANDBOX_BASE_PORT"
                )

    def _spawn(self, name: str, args: list[str], ready_url: str) -> None:
        child = ChildProcess.riskrelay(name, args, self.env, self._log_dir)
        self._children.append(child)
        child.start()
        child.wait_ready(ready_url)

    def start(self) -> StackUrls:
        s = self._settings
        self._check_ports()
        if self._data_dir.exists():
            shutil.rmtree(self._data_dir)  # every dev run starts from empty topics
        self._data_dir.mkdir(parents=True)
        env = dict(os.environ)

        bootstrap = s.kafka.bootstrap
        if not bootstrap:
            self._broker = EmbeddedBroker(
                self._data_dir / "broker", kind=s.kafka.embedded, port=s.dev.broker_port
            )
            self._broker.start()
            bootstrap = self._broker.bootstrap
        env["RISKRELAY_KAFKA_BOOTSTRAP"] = bootstrap
        self.urls.broker = bootstrap
        ensure_topics(bootstrap, topic_specs(s), s.kafka.replication_factor)
        self.env = env

        registry = s.registry.url
        if not registry:
            registry = f"http://{HOST}:{s.registry.port}"
            self._spawn(
                "registry", ["registry", "--port", str(s.registry.port)], f"{registry}/subjects"
            )
        env["RISKRELAY_SCHEMA_REGISTRY_URL"] = registry
        self.urls.registry = registry

        # The local demo shows events flowing: the sandboxes' copies of the providers' rate
        # limits (Coinflow: 100/minute) are off unless the environment sets them.
        env.setdefault("RISKRELAY_SANDBOX_RATE_LIMIT_PER_S", "0")
        for provider in self._providers:
            upper = provider.upper()
            base_url = s.providers.get(provider).base_url
            if not base_url:
                port = s.dev.sandbox_port(provider)
                base_url = f"http://{HOST}:{port}"
                self._spawn(
                    f"sandbox-{provider}",
                    ["sandbox", provider, "--port", str(port)],
                    f"{base_url}/_sandbox/stats",
                )
                env[f"RISKRELAY_{upper}_BASE_URL"] = base_url
                env[f"RISKRELAY_{upper}_API_KEY"] = SANDBOX_KEYS[provider]
                self.urls.sandboxed.append(provider)
            self.urls.providers[provider] = base_url

        self.urls.metrics = f"http://{HOST}:{s.worker.metrics_port}/metrics"
        self._spawn("worker", ["worker"], self.urls.metrics)
        self.urls.api = f"http://{s.api.host}:{s.api.port}"
        env["RISKRELAY_API_HOST"] = s.api.host
        self.urls.api_key = dev_api_key(env)
        self._spawn("api", ["api"], f"{self.urls.api}/readyz")
        return self.urls

    def failed_children(self) -> list[str]:
        return [c.name for c in self._children if not c.alive]

    def stop(self) -> dict[str, int | None]:
        """Stop in reverse start order; returns each child's exit code."""
        codes = {}
        for child in reversed(self._children):
            codes[child.name] = child.stop()
        self._children.clear()
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
        return codes
