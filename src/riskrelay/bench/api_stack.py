"""What ``riskrelay bench api`` runs: its options, and the processes around the API.

The broker and the registry start as for ``bench worker`` (``BenchStack``); the measured
process is a real ``riskrelay api``, started as a user starts it (environment only), and
the load comes from a process of its own (``riskrelay.bench.api_load``).
"""

from __future__ import annotations

import math
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from riskrelay.bench.api_load import LoadPlan, LoadResult
from riskrelay.bench.options import BenchOptions, BrokerChoice
from riskrelay.bench.probe import ProcessProbe
from riskrelay.bench.stack import HOST, BenchStack, MeasuredChild, _port
from riskrelay.errors import ConfigError, RiskRelayError
from riskrelay.processes import require_free_port
from riskrelay.settings import TopicSettings

ViewStoreChoice = Literal["rocksdb", "memory"]


@dataclass(frozen=True, slots=True)
class ApiBenchOptions:
    events: int = 1_000_000
    partitions: int = 6
    concurrency: int = 32
    duration_s: float = 10.0
    warmup_s: float = 2.0
    view_store: ViewStoreChoice = "rocksdb"
    broker: BrokerChoice = "noida"
    broker_port: int = 0
    registry_port: int = 0
    api_port: int = 0
    ready_timeout_s: float = 900.0
    profile: Path | None = None  # py-spy profile of the API during the load, written here

    def __post_init__(self) -> None:
        if self.events < 10:
            raise ConfigError(f"--events must be at least 10, got {self.events}")
        for name, number in (
            ("--partitions", self.partitions),
            ("--concurrency", self.concurrency),
        ):
            if number < 1:
                raise ConfigError(f"{name} must be at least 1, got {number}")
        timing = (("--duration", self.duration_s), ("--ready-timeout", self.ready_timeout_s))
        for name, seconds in timing:
            if not math.isfinite(seconds) or seconds <= 0:
                raise ConfigError(f"{name} must be more than 0, got {seconds:g}")
        if not math.isfinite(self.warmup_s) or self.warmup_s < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup_s:g}")
        if self.view_store not in ("rocksdb", "memory"):
            raise ConfigError(f"--view-store must be rocksdb or memory, got {self.view_store!r}")
        for name, port in (
            ("--broker-port", self.broker_port),
            ("--registry-port", self.registry_port),
            ("--api-port", self.api_port),
        ):
            if port < 0:
                raise ConfigError(f"{name} must be 0 or more, got {port}")
        self.stack_options()  # the broker and ports, checked as bench worker checks them
        if self.profile is not None:
            from riskrelay.bench.profile import py_spy

            py_spy()  # fail now, not after minutes of publishing
            if not self.profile.parent.is_dir():
                raise ConfigError(f"--profile: no directory {self.profile.parent}")

    def stack_options(self) -> BenchOptions:
        return BenchOptions(
            partitions=self.partitions,
            broker=self.broker,
            broker_port=self.broker_port,
            registry_port=self.registry_port,
        )


class ApiBenchStack(BenchStack):
    """Broker and registry (no provider: the API calls none), then the API and the load."""

    def __init__(self, options: ApiBenchOptions) -> None:
        super().__init__(options.stack_options())
        self.api_options = options
        self.api_key = secrets.token_urlsafe(24)
        self.api_url = ""

    def start(self) -> None:
        o = self.options
        registry_port = _port(o.registry_port, "--registry-port")
        if o.broker_port and not self.external:
            require_free_port(HOST, o.broker_port, "--broker-port")
        self.bootstrap = self.external or self._broker(o.broker, o.broker_port)
        self.registry_url = f"http://{HOST}:{registry_port}"
        env = {
            **self.env,
            "RISKRELAY_KAFKA_BOOTSTRAP": self.bootstrap,
            "RISKRELAY_TOPIC_SCHEMAS": f"bench-{self.run_id}._schemas",
        }
        env.pop("RISKRELAY_TOPIC_PREFIX", None)
        self._spawn(
            "registry",
            ["registry", "--port", str(registry_port)],
            env,
            f"{self.registry_url}/subjects",
        )
        port = _port(self.api_options.api_port, "--api-port")
        self.api_url = f"http://{HOST}:{port}"

    def start_api(self, topics: TopicSettings) -> ProcessProbe:
        """``riskrelay api`` on ``topics``, its view in the run's directory (kept across
        restarts); returns once it serves ``/healthz``, usually before it is ready."""
        o = self.api_options
        env = {
            **self.env,
            "RISKRELAY_KAFKA_BOOTSTRAP": self.bootstrap,
            "RISKRELAY_KAFKA_PARTITIONS": str(o.partitions),
            "RISKRELAY_SCHEMA_REGISTRY_URL": self.registry_url,
            "RISKRELAY_TOPIC_PREFIX": topics.prefix,
            "RISKRELAY_API_HOST": HOST,
            "RISKRELAY_API_PORT": self.api_url.rsplit(":", 1)[1],
            "RISKRELAY_API_VIEW_STORE": o.view_store,
            "RISKRELAY_API_VIEW_DIR": str(self.data_dir / "api-view"),
            "RISKRELAY_API_KEYS": f"bench:read:{self.api_key}",
        }
        env.pop("RISKRELAY_API_KEYS_FILE", None)
        self.stop_api()
        child = self._spawn("api", ["api"], env, f"{self.api_url}/healthz")
        assert child.pid is not None
        return ProcessProbe(child.pid, child.name, child.log_path)

    def stop_api(self) -> None:
        for child in [c for c in self._children if c.name == "api"]:
            child.stop(timeout_s=30.0)
            self._children.remove(child)

    def start_load(self, events: int) -> MeasuredChild:
        """The load generator, started now; its result is the last line of its log."""
        o = self.api_options
        plan = LoadPlan(
            url=self.api_url,
            events=events,
            concurrency=o.concurrency,
            duration_s=o.duration_s,
            warmup_s=o.warmup_s,
            api_key=self.api_key,
        )
        command = [sys.executable, "-m", "riskrelay.bench.api_load", orjson.dumps(plan).decode()]
        child = MeasuredChild("load", command, self.env, self.log_dir)
        self._children.append(child)
        child.start()
        return child

    @staticmethod
    def load_result(child: MeasuredChild) -> LoadResult:
        lines = child.log_tail(20_000).strip().splitlines()
        try:
            return LoadResult(**orjson.loads(lines[-1]))
        except (IndexError, orjson.JSONDecodeError, TypeError) as exc:
            raise RiskRelayError(
                f"the load generator gave no result ({exc}); log {child.log_path}:\n"
                + "\n".join(lines[-20:])
            ) from None

    def api_pid(self) -> int | None:
        return self.pid("api")
