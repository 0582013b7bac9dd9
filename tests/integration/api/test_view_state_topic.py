"""The API's state view on a real broker: catching up, resuming from its checkpoint,
rebuilding when the checkpoint is not this topic's, following, and retention."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import Schema

from riskrelay.api.server import build_view
from riskrelay.decode.avro import AvroEncoder, registry_client, subject_for
from riskrelay.kafka.config import producer_config
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.models import Envelope, Family, Operation, SourcePosition
from riskrelay.schemas import schema_text
from riskrelay.settings import ApiSettings, RegistrySettings, Settings
from riskrelay.state.snapshot import delivery_entry, public_view, with_completed, with_pending
from riskrelay.state.view import FOLLOW_IDLE_S, StateView
from riskrelay.state.view_store import RocksViewStore, TopicIdentity
from tests.fixtures.avro import avro_bytes
from tests.fixtures.pipeline import wait_for


def snapshot(
    event_id: str, version: int = 1, *, locked: bool = False, updated_at: datetime | None = None
) -> dict[str, Any]:
    now = updated_at or datetime.now(UTC)
    envelope = Envelope(
        event_id=event_id,
        subject_id=f"user-{event_id}",
        family=Family.LIFECYCLE,
        kind="sign_in",
        operation=Operation.CREATE,
        upsert_on_conflict=False,
        occurred_at=now,
        source=SourcePosition("risk.lifecycle.v1", 0, version),
    )
    if locked:
        return with_pending(None, envelope, version, [], now)
    data = json.dumps({"event_id": event_id, "version": version})
    deliveries = [delivery_entry("unit21", "DELIVERED", 1, 200, f"u21-{event_id}", None, now)]
    return with_completed(None, envelope, version, data, deliveries, [], now)


class StateTopic:
    """Writes snapshots to the state topic as the worker does (wire format, keyed by id)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.kafka.bootstrap and settings.registry.url
        self.name = settings.topics.name(settings.topics.event_state)
        self.client = registry_client(settings.registry.url)
        self._encoder = AvroEncoder(self.client, self.name, "event_state")
        self._producer = Producer(producer_config(settings.kafka.bootstrap, **{"linger.ms": 5}))
        self._errors: list[str] = []

    def _done(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(str(error))

    def encode(self, state: dict[str, Any]) -> bytes:
        return self._encoder.encode(state)

    def send(self, state: dict[str, Any], timestamp_ms: int = 0) -> None:
        self.send_raw(state["event_id"], self.encode(state), timestamp_ms)

    def send_raw(self, event_id: str, value: bytes | None, timestamp_ms: int = 0) -> None:
        self._producer.produce(
            self.name, value, event_id.encode(), timestamp=timestamp_ms, on_delivery=self._done
        )

    def flush(self) -> None:
        assert self._producer.flush(30) == 0
        assert not self._errors, self._errors


@pytest.fixture
def view_settings(settings: Settings, registry_url: str, tmp_path: Path) -> Settings:
    ready = settings.model_copy(
        update={
            "registry": RegistrySettings(url=registry_url),
            "api": ApiSettings(view_dir=str(tmp_path / "view"), view_sweep_interval_s=0.2),
        }
    )
    assert ready.kafka.bootstrap
    ensure_topics(ready.kafka.bootstrap, topic_specs(ready))
    return ready


@pytest.fixture
def topic(view_settings: Settings) -> StateTopic:
    return StateTopic(view_settings)


@pytest.fixture
def views() -> Iterator[list[StateView]]:
    started: list[StateView] = []
    yield started
    for view in started:
        view.stop()


def started_view(settings: Settings, views: list[StateView], **api: Any) -> StateView:
    if api:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=api)})
    view = build_view(settings)
    views.append(view)
    view.start()
    assert view.ready.wait(30), "the view did not catch up"
    return view


@pytest.mark.parametrize("store", ["rocksdb", "memory"])
def test_the_view_catches_up_serves_the_last_snapshot_and_follows(
    store: str, view_settings: Settings, topic: StateTopic, views: list[StateView]
) -> None:
    for index in range(200):
        topic.send(snapshot(f"evt-{index}", locked=index % 10 == 0))
    topic.send(snapshot("evt-1", version=2))  # a later version of an id
    topic.flush()

    view = started_view(view_settings, views, view_store=store)
    assert view.records_applied == 201
    assert len(view) == 200
    latest = view.get("evt-1")
    assert latest is not None and latest["current"]["version"] == 2
    locked = view.get("evt-10")
    assert locked is not None and public_view(locked)[0] == 423
    assert view.get("evt-unknown") is None

    # Caught up, it keeps reading: new snapshots and tombstones show up.
    topic.send(snapshot("evt-new"))
    topic.send_raw("evt-2", None)
    topic.flush()
    wait_for(lambda: view.get("evt-new") is not None, 10, "the view to follow the topic")
    wait_for(lambda: view.get("evt-2") is None, 10, "the tombstone to remove evt-2")
    assert len(view) == 200


def test_a_view_started_on_an_empty_topic_follows_it(
    view_settings: Settings, topic: StateTopic, views: list[StateView]
) -> None:
    """Partitions that had no record yet have no position to go on from; the view must
    still see what arrives after it went idle."""
    view = started_view(view_settings, views)
    assert (view.records_applied, len(view)) == (0, 0)
    time.sleep(4 * FOLLOW_IDLE_S)  # several idle rounds before the first record
    # Written as the worker writes them: in transactions (the view reads committed).
    assert view_settings.kafka.bootstrap
    producer = Producer(
        producer_config(view_settings.kafka.bootstrap, **{"transactional.id": topic.name})
    )
    producer.init_transactions(30)
    for first in (0, 15):
        producer.begin_transaction()
        for index in range(first, first + 15):
            state = snapshot(f"evt-{index}")
            producer.produce(topic.name, topic.encode(state), state["event_id"].encode())
        producer.commit_transaction(30)
    wait_for(lambda: len(view) == 30, 10, "the view to read records written after it started")
    assert all(view.get(f"evt-{index}") is not None for index in range(30))
    assert view.records_applied == 30


def test_a_restart_resumes_from_the_checkpoint(
    view_settings: Settings, topic: StateTopic, views: list[StateView]
) -> None:
    for index in range(300):
        topic.send(snapshot(f"evt-{index}"))
    topic.flush()
    first = started_view(view_settings, views)
    assert first.records_applied == 300
    first.stop()

    for index in range(250, 320):  # 50 updates and 20 new events
        topic.send(snapshot(f"evt-{index}", version=2))
    topic.flush()

    second = started_view(view_settings, views)
    assert second.records_applied == 70, "a restart must read only what is new"
    assert len(second) == 320
    old, updated, new = second.get("evt-0"), second.get("evt-260"), second.get("evt-310")
    assert old is not None and old["current"]["version"] == 1
    assert updated is not None and updated["current"]["version"] == 2
    assert new is not None and new["event_id"] == "evt-310"
    second.stop()

    third = started_view(view_settings, views)
    assert third.records_applied == 0
    assert len(third) == 320


def _checkpoint_elsewhere(settings: Settings, topic: TopicIdentity, **offsets: int) -> None:
    """A view directory left by a view of another topic (or partition count, or topic)."""
    assert settings.api.view_dir
    store = RocksViewStore(Path(settings.api.view_dir))
    store.reset(topic)
    positions = {int(p.removeprefix("p")): offset for p, offset in offsets.items()}
    store.write([("stale-event", b"not a snapshot", 1)], positions)
    store.close()


@pytest.mark.parametrize(
    ("describe", "differs", "offsets"),
    [
        ("another topic", {"name": "old"}, {}),
        ("another partition count", {"partitions": 5}, {}),
        (
            "another topic id (the topic was created again)",
            {"topic_id": "AaH/ei3IceKG2Nvq/t3foQ"},
            {},
        ),
        ("an offset the topic does not have", {}, {"p0": 1_000_000}),
    ],
)
def test_a_checkpoint_that_is_not_this_topics_rebuilds_the_view(
    describe: str,
    differs: dict[str, Any],
    offsets: dict[str, int],
    view_settings: Settings,
    topic: StateTopic,
    views: list[StateView],
    request: pytest.FixtureRequest,
) -> None:
    if offsets and request.config.getoption("--kafka") == "tansu":
        pytest.skip("Tansu answers a fetch past the end with nothing: no error, no end")
    for index in range(40):
        topic.send(snapshot(f"evt-{index}"))
    topic.flush()
    # The identity a view of this very topic records (its id when the broker has ids).
    first = started_view(view_settings, views)
    first.stop()
    checkpoint = RocksViewStore(Path(str(view_settings.api.view_dir)))
    stored = checkpoint.checkpoint()
    checkpoint.close()
    assert stored is not None and stored.topic.partitions == view_settings.kafka.partitions
    if "topic_id" in differs and stored.topic.topic_id is None:
        pytest.skip("this broker has no topic ids")
    changes = {**differs}
    if "name" in changes:
        changes["name"] = f"{topic.name}.old"
    _checkpoint_elsewhere(view_settings, dataclasses.replace(stored.topic, **changes), **offsets)

    view = started_view(view_settings, views)
    assert view.records_applied == 40, describe
    assert len(view) == 40
    assert view.get("stale-event") is None, "the old view's events must be gone"


def test_snapshots_older_than_the_retention_are_absent_and_purged(
    view_settings: Settings, topic: StateTopic, views: list[StateView]
) -> None:
    hour = 3600 * 1000
    now = datetime.now(UTC)
    old = now - timedelta(hours=3)
    old_ms = int(old.timestamp() * 1000)
    for index in range(20):
        topic.send(snapshot(f"old-{index}", updated_at=old), old_ms)
    # An old record time but a recent update: served, and kept by the sweep.
    topic.send(snapshot("recent-in-old-record", updated_at=now), old_ms)
    topic.send(snapshot("recent", updated_at=now))
    topic.flush()

    settings = view_settings.model_copy(
        update={"topics": view_settings.topics.model_copy(update={"state_retention_ms": hour})}
    )
    view = started_view(settings, views)
    assert view.records_applied == 22
    assert view.get("old-3") is None, "an expired snapshot must read as absent"
    assert view.get("recent") is not None
    assert view.get("recent-in-old-record") is not None
    wait_for(lambda: len(view) == 2, 10, "the sweep to purge the expired snapshots")
    assert view.get("recent-in-old-record") is not None

    # The same topic without retention serves everything.
    forever = view_settings.model_copy(
        update={
            "topics": view_settings.topics.model_copy(update={"state_retention_ms": -1}),
            "api": view_settings.api.model_copy(update={"view_store": "memory"}),
        }
    )
    view.stop()
    unlimited = started_view(forever, views)
    assert unlimited.get("old-3") is not None
    assert len(unlimited) == 22


def test_a_snapshot_written_with_another_schema_version_is_resolved(
    view_settings: Settings, topic: StateTopic, views: list[StateView]
) -> None:
    """A newer writer (a field added with a default) reaches the view re-encoded in the
    API's own schema; records in the API's schema are stored as they are."""
    evolved = json.loads(schema_text("event_state"))
    evolved["fields"].append({"name": "region", "type": "string", "default": "eu"})
    schema_id = topic.client.register_schema(
        subject_for(topic.name), Schema(json.dumps(evolved), "AVRO")
    )
    body = avro_bytes(evolved, {**snapshot("evt-new"), "region": "us"})
    topic.send_raw("evt-new", b"\x00" + schema_id.to_bytes(4, "big") + body)
    topic.send(snapshot("evt-old"))
    topic.flush()

    view = started_view(view_settings, views)
    assert view.records_applied == 2
    state = view.get("evt-new")
    assert state is not None and "region" not in state
    assert public_view(state)[0] == 200
    assert view.get("evt-old") is not None
