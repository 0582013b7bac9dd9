"""The processes a bench run needs, and their clean stop.

A bench measures one real ``riskrelay worker`` process, so everything around it runs as
it would in production: the embedded broker (or ``RISKRELAY_KAFKA_BOOTSTRAP``), the local
schema registry and the Unit21 sandbox, each its own process started through
``riskrelay.processes``. Every child lives in its own session (a Ctrl-C reaches only the bench,
which then stops them in order) and all data lives in one temporary directory removed at
the end, so a finished or interrupted run leaves no process, port or file behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from riskrelay.bench.options import AUTO_TANSU_BACKLOG, BenchOptions
from riskrelay.bench.probe import ProcessProbe
from riskrelay.dev.stack import SANDBOX_KEYS
from riskrelay.kafka.embedded import BrokerKind, EmbeddedBroker, free_port
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.processes import ChildProcess, require_free_port
from riskrelay.settings import PROVIDERS, KafkaSettings, Settings, TopicSettings

HOST = "127.0.0.1"
SANDBOX_KEY = SANDBOX_KEYS["unit21"]
# Sessions stay short so a Tansu group join (session.timeout.ms / 2) is quick.
SESSION_TIMEOUT_MS = 6000


class MeasuredChild(ChildProcess):
    """A child whose process id the bench can sample in ``/proc``."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


class MeasuredBroker(EmbeddedBroker):
    """The embedded broker, with its process id for CPU accounting."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


def _port(given: int, variable: str) -> int:
    if given:
        require_free_port(HOST, given, variable)
        return given
    return free_port(HOST)


class BenchStack:
    """Broker(s), registry and sandbox for the whole run; one worker per phase."""

    def __init__(self, options: BenchOptions) -> None:
        self.options = options
        self.run_id = uuid.uuid4().hex[:8]
        self.data_dir = Path(tempfile.mkdtemp(prefix="riskrelay-bench-"))
        self.log_dir = self.data_dir / "logs"
        self._brokers: dict[str, MeasuredBroker] = {}
        self._children: list[MeasuredChild] = []
        self.external = os.environ.get("RISKRELAY_KAFKA_BOOTSTRAP") or None
        self.bootstrap = ""
        self.registry_url = ""
        self.sandbox_url = ""
        self.metrics_port = 0
        # The bench decides every port and address it uses; other settings pass through.
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_BASE_URL") or not k.startswith("RISKRELAY_")
        }

    def _spawn(self, name: str, args: list[str], env: dict[str, str], ready: str) -> MeasuredChild:
        child = MeasuredChild(name, [sys.executable, "-m", "riskrelay", *args], env, self.log_dir)
        self._children.append(child)
        child.start()
        child.wait_ready(ready, timeout_s=60.0)
        return child

    def _broker(self, kind: BrokerKind, port: int = 0) -> str:
        if kind not in self._brokers:
            broker = MeasuredBroker(self.data_dir / f"broker-{kind}", kind=kind, port=port or None)
            self._brokers[kind] = broker
            broker.start()
        return self._brokers[kind].bootstrap

    def start(self) -> None:
        o = self.options
        registry_port = _port(o.registry_port, "--registry-port")
        sandbox_port = _port(o.sandbox_port, "--sandbox-port")
        if o.broker_port and not self.external:
            require_free_port(HOST, o.broker_port, "--broker-port")
        self.metrics_port = _port(o.metrics_port, "--metrics-port")
        self.bootstrap = self.external or self._broker(o.broker, o.broker_port)
        base = {**self.env, "RISKRELAY_KAFKA_BOOTSTRAP": self.bootstrap}
        self.registry_url = f"http://{HOST}:{registry_port}"
        registry_env = {**base, "RISKRELAY_TOPIC_SCHEMAS": f"bench-{self.run_id}._schemas"}
        registry_env.pop("RISKRELAY_TOPIC_PREFIX", None)
        self._spawn(
            "registry",
            ["registry", "--port", str(registry_port)],
            registry_env,
            f"{self.registry_url}/subjects",
        )
        self.sandbox_url = f"http://{HOST}:{sandbox_port}"
        faults = {"latency_ms": o.latency_ms} if o.latency_ms else {}
        sandbox_env = {
            **base,
            "RISKRELAY_UNIT21_API_KEY": SANDBOX_KEY,
            "RISKRELAY_SANDBOX_PROCESSING_DELAY_S": "0",
            "RISKRELAY_SANDBOX_RATE_LIMIT_PER_S": "0",
            "RISKRELAY_SANDBOX_MAX_RECORDED": str(self.recorded_bound),
            "RISKRELAY_SANDBOX_FAULTS": json.dumps(faults),
        }
        self._spawn(
            "sandbox-unit21",
            ["sandbox", "unit21", "--port", str(sandbox_port)],
            sandbox_env,
            f"{self.sandbox_url}/_sandbox/stats",
        )

    @property
    def recorded_bound(self) -> int:
        """Enough recordings for the largest measured phase (the backlog is only counted)."""
        o = self.options
        paced = o.pace * o.paced_s * max(o.concurrency, o.partitions) * 1000 / max(o.latency_ms, 1)
        return int(max(o.events, o.baseline_size) + min(paced, 200_000)) + 10_000

    def backlog_bootstrap(self) -> tuple[str, str]:
        """Where the backlog phase runs, and a name for it (with why, when chosen here)."""
        o = self.options
        if self.external:
            return self.bootstrap, "external"
        choice = o.backlog_broker
        if choice == "auto":
            big = o.broker == "noida" and o.backlog > AUTO_TANSU_BACKLOG
            if not big:
                return self.bootstrap, o.broker
            return self._broker("tansu"), "tansu (auto: on noida the client buffers the backlog)"
        if choice == "same":
            return self.bootstrap, o.broker
        return self._broker(choice), choice

    def topics(self, bootstrap: str, phase: str) -> TopicSettings:
        """A fresh topic namespace for ``phase`` (created now, so preloading can start)."""
        topics = TopicSettings(prefix=f"bench-{phase}-{self.run_id}.")
        settings = Settings(
            kafka=KafkaSettings(bootstrap=bootstrap, partitions=self.options.partitions),
            topics=topics,
        )
        ensure_topics(bootstrap, topic_specs(settings), settings.kafka.replication_factor)
        return topics

    def start_worker(
        self, bootstrap: str, topics: TopicSettings, phase: str, ordering: str
    ) -> ProcessProbe:
        """``riskrelay worker`` on ``topics`` with its own group; returns its probe."""
        o = self.options
        env = {
            **self.env,
            "RISKRELAY_KAFKA_BOOTSTRAP": bootstrap,
            "RISKRELAY_KAFKA_PARTITIONS": str(o.partitions),
            "RISKRELAY_KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "RISKRELAY_SCHEMA_REGISTRY_URL": self.registry_url,
            "RISKRELAY_TOPIC_PREFIX": topics.prefix,
            "RISKRELAY_WORKER_GROUP_ID": f"bench-{phase}-{self.run_id}",
            "RISKRELAY_WORKER_ORDERING": ordering,
            "RISKRELAY_WORKER_MAX_IN_FLIGHT": str(o.max_in_flight),
            "RISKRELAY_WORKER_METRICS_PORT": str(self.metrics_port),
            "RISKRELAY_UNIT21_BASE_URL": self.sandbox_url,
            "RISKRELAY_UNIT21_API_KEY": SANDBOX_KEY,
            "RISKRELAY_UNIT21_ENABLED": "true",
            "RISKRELAY_UNIT21_MAX_CONCURRENCY": str(o.concurrency),
        }
        if ordering == "partition":
            # The baseline is a plain consumer loop: one event, one call, no batches.
            env["RISKRELAY_UNIT21_BATCH_MAX_EVENTS"] = "1"
        for provider in PROVIDERS:
            if provider != "unit21":
                env[f"RISKRELAY_{provider.upper()}_ENABLED"] = "false"
        self.stop_worker()
        child = self._spawn("worker", ["worker"], env, self.metrics_url)
        assert child.pid is not None
        return ProcessProbe(child.pid, child.name, child.log_path)

    def stop_worker(self) -> None:
        for child in [c for c in self._children if c.name == "worker"]:
            child.stop(timeout_s=30.0)
            self._children.remove(child)

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def worker_alive(self) -> bool:
        return any(c.alive for c in self._children if c.name == "worker")

    def pid(self, name: str) -> int | None:
        return next((c.pid for c in self._children if c.name == name), None)

    def broker_pids(self) -> dict[str, int]:
        return {kind: b.pid for kind, b in self._brokers.items() if b.pid is not None}

    def stop(self) -> None:
        """Stop every child (reverse start order) and broker, then remove the data."""
        try:
            for child in reversed(self._children):
                child.stop(timeout_s=30.0)
            self._children.clear()
        finally:
            for broker in self._brokers.values():
                broker.stop()
            self._brokers.clear()
            shutil.rmtree(self.data_dir, ignore_errors=True)
