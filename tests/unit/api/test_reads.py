"""GET /v1/events/{id} through ``FastReads`` answers exactly what FastAPI's documented
route answers: two apps over the same view, one with the fast path and one without, and
every answer compared (status, headers, body bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from riskrelay.api.app import create_app
from riskrelay.api.auth import ApiKeys, parse_keys
from riskrelay.api.reads import FastReads
from riskrelay.models import AvroRecord
from riskrelay.settings import ApiSettings
from tests.unit.api.conftest import (
    BOTH,
    BOTH_KEY,
    INGEST_KEY,
    KEYS,
    READ_KEY,
    DictView,
    RecordingPublisher,
    Served,
    in_flight,
    processed,
    sign_in,
)


@dataclass
class Pair:
    view: DictView
    fast: Served
    slow: Served

    def both(self) -> tuple[httpx.Client, httpx.Client]:
        return self.fast.client, self.slow.client


@pytest.fixture
def pair() -> Iterator[Pair]:
    view = DictView()
    keys = ApiKeys(parse_keys(KEYS, "test"))
    settings = ApiSettings(retry_after_s=3)
    apps = [
        create_app(view, settings, keys=keys, publisher=RecordingPublisher(), fast_reads=fast)
        for fast in (True, False)
    ]
    assert any(m.cls is FastReads for m in apps[0].user_middleware)
    assert not any(m.cls is FastReads for m in apps[1].user_middleware)
    served = Pair(view, Served(apps[0]), Served(apps[1]))
    yield served
    served.fast.stop()
    served.slow.stop()


def _seen(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "server")]
    return response.status_code, headers, response.content


def assert_same(pair: Pair, path: str, headers: list[tuple[str, str]] | None = None) -> int:
    fast, slow = (
        _seen(client.request("GET", httpx.URL(path), headers=headers)) for client in pair.both()
    )
    assert fast == slow, path
    return fast[0]


def states() -> dict[str, AvroRecord]:
    return {
        "evt-done": processed("evt-done"),
        "evt-locked": in_flight(None, "evt-locked"),
        "evt-updating": in_flight(processed("evt-updating"), "evt-updating", version=2),
        "tenant/evt 1": processed("tenant/evt 1"),
        "événement": processed("événement"),
    }


PATHS = [
    "/v1/events/evt-done",
    "/v1/events/evt-locked",
    "/v1/events/evt-updating",
    "/v1/events/evt-unknown",
    "/v1/events/tenant%2Fevt%201",
    "/v1/events/tenant/evt 1",
    "/v1/events/%C3%A9v%C3%A9nement",
    "/v1/events/evt-done?verbose=1",
    "/v1/events/",
    "/v1/events/%00",
    "/v1/events/a%0Ab",
    "/v1/events/%09",
    "/v1/events/%20%20",
    "/v1/events/" + "e" * 255,
    "/v1/events/" + "e" * 256,
    "/v1/events/" + "é" * 256,
    "/v1/events",
    "/v1/eventsx/evt-done",
]

HEADERS = [
    [],
    [("X-API-Key", READ_KEY)],
    [("X-API-Key", BOTH_KEY)],
    [("X-API-Key", INGEST_KEY)],
    [("X-API-Key", "not-a-configured-key-000")],
    [("X-API-Key", "")],
    [("Authorization", f"Bearer {READ_KEY}")],
    [("Authorization", f"bearer {READ_KEY}")],
    [("Authorization", f"Bearer   {READ_KEY}")],
    [("Authorization", f"Basic {READ_KEY}")],
    [("Authorization", "Bearer")],
    [("Authorization", f"Bearer {INGEST_KEY}")],
    [("X-API-Key", "not-a-configured-key-000"), ("Authorization", f"Bearer {READ_KEY}")],
    [("X-API-Key", ""), ("Authorization", f"Bearer {READ_KEY}")],
    [("X-API-Key", READ_KEY), ("X-API-Key", "not-a-configured-key-000")],
    [("X-API-Key", "not-a-configured-key-000"), ("X-API-Key", READ_KEY)],
]


def test_every_id_and_key_gets_the_same_answer_from_both_paths(pair: Pair) -> None:
    pair.view.states.update(states())
    seen = {assert_same(pair, path, headers) for path in PATHS for headers in HEADERS}
    assert seen == {200, 401, 403, 404, 405, 422, 423}


def test_both_paths_answer_503_while_catching_up_after_the_key_and_id_checks(
    pair: Pair,
) -> None:
    pair.view.states.update(states())
    pair.view.ready.clear()
    statuses = {
        (path, tuple(headers)): assert_same(pair, path, headers)
        for path in ("/v1/events/evt-done", "/v1/events/", "/v1/events/evt-unknown")
        for headers in ([], [("X-API-Key", READ_KEY)], [("X-API-Key", INGEST_KEY)])
    }
    read = (("X-API-Key", READ_KEY),)
    assert statuses[("/v1/events/evt-done", read)] == 503
    assert statuses[("/v1/events/", read)] == 422  # the id is checked first
    assert statuses[("/v1/events/evt-done", ())] == 401  # and the key before it


def test_read_your_writes_is_the_same_on_both_paths(pair: Pair) -> None:
    pair.view.states["evt-done"] = processed("evt-done")
    for client in pair.both():
        assert client.post("/v1/events", json=sign_in("evt-new"), headers=BOTH).status_code == 202
        update = client.put("/v1/events/evt-done", json=sign_in("evt-done"), headers=BOTH)
        assert update.status_code == 202
    assert assert_same(pair, "/v1/events/evt-new", list(BOTH.items())) == 423
    assert assert_same(pair, "/v1/events/evt-done", list(BOTH.items())) == 200
    assert pair.fast.client.get("/v1/events/evt-done", headers=BOTH).json()["update_pending"]


def test_other_methods_and_routes_still_go_through_the_app(pair: Pair) -> None:
    for client in pair.both():
        assert client.head("/v1/events/evt-done", headers=BOTH).status_code == 405
        assert client.get("/readyz").status_code == 200
        assert client.get("/openapi.json").status_code == 200
    assert assert_same(pair, "/v1/events/evt-done", [("X-API-Key", READ_KEY)]) == 404


class _BrokenView(DictView):
    """A store that fails: the server-error handler must still answer."""

    def get(self, event_id: str) -> AvroRecord | None:
        raise RuntimeError(f"the store failed on {event_id}")


def test_an_error_in_the_fast_path_is_the_documented_500() -> None:
    keys = ApiKeys(parse_keys(KEYS, "test"))
    answers = []
    for fast in (True, False):
        served = Served(create_app(_BrokenView(), keys=keys, fast_reads=fast))
        try:
            answers.append(_seen(served.client.get("/v1/events/evt-1", headers=BOTH)))
        finally:
            served.stop()
    assert answers[0] == answers[1]
    status, _, body = answers[0]
    assert (status, body) == (500, b'{"status":"error","message":"internal error"}')
