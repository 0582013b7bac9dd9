"""The view's lag behind the state topic on a real broker, as /readyz and /metrics show
it: the view is held back (its snapshot conversion waits on a gate), so the lag is
exactly what was written meanwhile, and back to 0 once it applied everything, commit
markers of the worker's transactions included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client.parser import text_string_to_metric_families

from riskrelay.api.app import create_app
from riskrelay.api.auth import ApiKeys, parse_keys
from riskrelay.decode.avro import registry_client
from riskrelay.kafka.config import producer_config
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.settings import RegistrySettings, Settings
from riskrelay.state.view import SnapshotBodies, StateView
from riskrelay.state.view_store import MemoryViewStore
from tests.fixtures.pipeline import wait_for
from tests.integration.api.test_view_state_topic import StateTopic, snapshot
from tests.unit.api.conftest import READ_KEY, Served


class GatedBodies(SnapshotBodies):
    """Converts snapshots only while ``open`` is set: holds the view's reading thread."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        super().__init__(client)
        self.open = threading.Event()

    def body(self, value: bytes) -> bytes:
        assert self.open.wait(60), "the test never opened the gate"
        return super().body(value)


class LaggingApi:
    def __init__(self, settings: Settings) -> None:
        assert settings.kafka.bootstrap and settings.registry.url
        self.bodies = GatedBodies(registry_client(settings.registry.url))
        self.view = StateView(
            settings.kafka.bootstrap,
            settings.topics.name(settings.topics.event_state),
            self.bodies,
            MemoryViewStore(),
            lag_interval_s=0.1,
        )
        self._app = create_app(self.view, keys=ApiKeys(parse_keys(f"r:read:{READ_KEY}", "t")))
        self.served: Served | None = None

    def start(self) -> None:
        self.served = Served(self._app)

    @property
    def client(self) -> httpx.Client:
        assert self.served is not None
        return self.served.client

    def readyz(self) -> tuple[int, dict[str, Any]]:
        response = self.client.get("/readyz")
        return response.status_code, response.json()

    def lag(self) -> int | None:
        records: int | None = self.readyz()[1]["lag"]["records"]
        return records

    def metric_lag(self) -> float:
        families = text_string_to_metric_families(self.client.get("/metrics").text)
        (family,) = [f for f in families if f.name == "riskrelay_api_state_lag_records"]
        return sum(sample.value for sample in family.samples)


@pytest.fixture
def lag_settings(settings: Settings, registry_url: str) -> Settings:
    ready = settings.model_copy(update={"registry": RegistrySettings(url=registry_url)})
    assert ready.kafka.bootstrap
    ensure_topics(ready.kafka.bootstrap, topic_specs(ready))
    return ready


@pytest.fixture
def api(lag_settings: Settings) -> Iterator[LaggingApi]:
    api = LaggingApi(lag_settings)
    yield api
    api.bodies.open.set()  # let the view's thread finish whatever the test left it in
    if api.served is not None:
        api.served.stop()


def test_the_lag_is_what_the_view_has_not_applied_and_returns_to_zero(
    lag_settings: Settings, api: LaggingApi
) -> None:
    topic = StateTopic(lag_settings)
    for index in range(50):
        topic.send(snapshot(f"evt-{index}"))
    topic.flush()
    api.start()

    # Started with the gate shut: the view cannot apply a record; not ready, 50 behind.
    wait_for(lambda: api.lag() == 50, 15, "the lag to show the 50 records at start")
    status, body = api.readyz()
    assert (status, body["status"], body["events"]) == (503, "catching up with the state topic", 0)
    assert sum(body["lag"]["partitions"].values()) == 50
    assert len(body["lag"]["partitions"]) == lag_settings.kafka.partitions
    assert api.metric_lag() == 50

    api.bodies.open.set()
    wait_for(lambda: api.readyz()[0] == 200 and api.lag() == 0, 15, "ready with no lag")
    assert api.readyz()[1]["events"] == 50
    assert api.metric_lag() == 0

    # Ready and held back again: 20 snapshots written in a transaction, as the worker does.
    api.bodies.open.clear()
    assert lag_settings.kafka.bootstrap
    producer = Producer(
        producer_config(lag_settings.kafka.bootstrap, **{"transactional.id": topic.name})
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for index in range(50, 70):
        state = snapshot(f"evt-{index}")
        producer.produce(topic.name, topic.encode(state), state["event_id"].encode())
    producer.commit_transaction(30)
    # Offsets: the transaction's commit marker in each partition it wrote counts too.
    partitions = lag_settings.kafka.partitions
    wait_for(lambda: (api.lag() or 0) >= 20, 15, "the lag to show the 20 new records")
    status, body = api.readyz()
    assert (status, body["status"]) == (200, "ready")  # ready at start; the lag says the rest
    assert 20 < body["lag"]["records"] <= 20 + partitions
    assert body["lag"]["last_record_age_s"] is not None
    assert api.metric_lag() == body["lag"]["records"]
    headers = {"X-API-Key": READ_KEY}
    assert api.client.get("/v1/events/evt-60", headers=headers).status_code == 404

    api.bodies.open.set()
    # Back to exactly 0 once applied: the markers are read past, not waited for.
    wait_for(lambda: api.lag() == 0, 15, "the lag to return to 0")
    assert api.client.get("/v1/events/evt-60", headers=headers).status_code == 200
    assert api.readyz()[1]["events"] == 70
    assert api.metric_lag() == 0
