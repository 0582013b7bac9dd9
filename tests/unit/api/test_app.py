"""The /v1 routes over HTTP: auth, bad input, the create/update rules and read-your-writes
(the view's snapshots written by the test, as the worker would write them)."""

from __future__ import annotations

import socket
import time

import orjson
import pytest

from riskrelay.models import Family
from riskrelay.settings import ApiSettings
from tests.unit.api.conftest import (
    BOTH,
    BOTH_KEY,
    INGEST_KEY,
    READ_KEY,
    Api,
    in_flight,
    processed,
    purchase,
    serve,
    sign_in,
)

# -- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/events/evt-1"), ("POST", "/v1/events"), ("PUT", "/v1/events/evt-1")],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "not-a-configured-key-000"},
        {"Authorization": "Bearer not-a-configured-key-000"},
        {"Authorization": f"Basic {BOTH_KEY}"},
        {"X-API-Key": ""},
    ],
    ids=["none", "wrong-header-key", "wrong-bearer", "basic-scheme", "empty"],
)
def test_every_v1_route_answers_401_with_www_authenticate_without_a_valid_key(
    api: Api, method: str, path: str, headers: dict[str, str]
) -> None:
    response = api.client.request(method, path, headers=headers, json=sign_in())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="riskrelay"'
    assert response.json()["status"] == "unauthorized"
    assert api.publisher.published == []


def test_scopes_split_reading_from_ingesting(api: Api) -> None:
    read_only = {"X-API-Key": READ_KEY}
    ingest_only = {"Authorization": f"Bearer {INGEST_KEY}"}
    refused = api.client.post("/v1/events", json=sign_in(), headers=read_only)
    assert refused.status_code == 403
    assert "ingest scope" in refused.json()["message"]
    assert "WWW-Authenticate" not in refused.headers
    assert api.client.post("/v1/events", json=sign_in(), headers=ingest_only).status_code == 202
    assert api.client.get("/v1/events/evt-1", headers=ingest_only).status_code == 403
    assert api.client.get("/v1/events/evt-1", headers=read_only).status_code == 423
    assert api.client.put("/v1/events/evt-1", json=sign_in(), headers=read_only).status_code == 403


def test_operations_routes_need_no_key(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["status"] == "ready"
    assert "riskrelay_api_view_ready 1.0" in api.client.get("/metrics").text


def test_an_app_without_keys_refuses_every_v1_request() -> None:
    from riskrelay.api.app import create_app
    from tests.unit.api.conftest import DictView, Served

    served = Served(create_app(DictView()))
    try:
        response = served.client.get("/v1/events/x", headers={"X-API-Key": BOTH_KEY})
        assert response.status_code == 401
        assert served.client.post("/v1/events", json=sign_in()).status_code == 404  # read-only
    finally:
        served.stop()


# -- bad input ----------------------------------------------------------------------------


def post_raw(api: Api, body: bytes, content_type: str | None = "application/json") -> dict:
    headers = dict(BOTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = api.client.post("/v1/events", content=body, headers=headers)
    return {**response.json(), "code": response.status_code}


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_that_is_not_json_by_content_type_is_415(api: Api, content_type: str | None) -> None:
    answer = post_raw(api, orjson.dumps(sign_in()), content_type)
    assert (answer["code"], answer["status"]) == (415, "unsupported_media_type")
    assert answer["message"].startswith("send the event as Content-Type: application/json")


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(api: Api) -> None:
    body = orjson.dumps(sign_in())
    assert post_raw(api, body, "application/json; charset=UTF-8")["code"] == 202
    assert post_raw(api, body, "application/json; charset=latin-1")["code"] == 415


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{", "the body is not JSON"),
        (b"", "the body is not JSON"),
        (b"{'event_id': 1}", "the body is not JSON"),
        (b'{"a": NaN}', "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
    ],
)
def test_malformed_json_is_400(api: Api, body: bytes, expected: str) -> None:
    answer = post_raw(api, body)
    assert answer["code"] == 400
    assert answer["message"].startswith(expected)


def test_an_oversized_body_is_413_from_its_declared_length(api: Api) -> None:
    body = orjson.dumps(sign_in(details="x" * 5000))
    answer = post_raw(api, body)
    assert (answer["code"], answer["message"]) == (413, "the body is larger than 4096 bytes")


def test_an_oversized_chunked_body_is_413_while_it_is_read(api: Api) -> None:
    def chunks():  # no Content-Length: the limit applies while reading
        yield b'{"details": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = api.client.post(
        "/v1/events", content=chunks(), headers={**BOTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert api.publisher.published == []


def test_a_lying_content_length_never_makes_the_server_read_past_the_limit(api: Api) -> None:
    """A client that declares a small length and sends more gets a 4xx, never a 5xx: the
    server takes what was declared and refuses the rest as a malformed next request."""
    with socket.create_connection(("127.0.0.1", api.client.base_url.port or 80), 5) as sock:
        head = (
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-API-Key: {BOTH_KEY}\r\nContent-Length: 2\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{}" + b"x" * 10_000)
        reply = sock.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 4"), reply


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ([1, 2], "", "must be a JSON object (an event)"),
        ({**sign_in(), "event_type": "SIGN_ON"}, "event_type", "is not a known event type"),
        ({k: v for k, v in sign_in().items() if k != "event_type"}, "event_type", "is required"),
        ({**sign_in(), "event_id": ""}, "event_id", "must not be empty"),
        ({**sign_in(), "event_id": " \t"}, "event_id", "must not be blank"),
        ({**sign_in(), "event_id": "a\nb"}, "event_id", "control characters"),
        ({**sign_in(), "event_id": "e" * 256}, "event_id", "longer than 255 characters"),
        ({**sign_in(), "subject_id": 42}, "subject_id", "must be a string, not an integer"),
        ({**sign_in(), "occurred_at": "2026-05-01 noon"}, "occurred_at", "RFC 3339"),
        ({**sign_in(), "occurred_at": "2026-05-01T12:00:00"}, "occurred_at", "with an offset"),
        ({**sign_in(), "occurred_at": 10**17}, "occurred_at", "out of the years 1 to 9999"),
        ({**sign_in(), "occurred_at": True}, "occurred_at", "RFC 3339"),
        ({**sign_in(), "operation": "UPDATE"}, "operation", "is set by the API"),
        ({**sign_in(), "favourite_colour": "red"}, "favourite_colour", "not a field"),
        ({**sign_in(), "user": {"risk_score": "high"}}, "user.risk_score", "must be an integer"),
        ({**sign_in(), "user": {"risk_score": 2**31}}, "user.risk_score", "between"),
        ({**sign_in(), "user": {"date_of_birth": "1990-02-30"}}, "user.date_of_birth", "YYYY"),
        ({**sign_in(), "user": {"nickname": "x"}}, "user.nickname", "not a field"),
        ({**sign_in(), "user": "someone"}, "user", "must be an object, not a string"),
        ({**sign_in(), "changed_fields": ["a", 1]}, "changed_fields[1]", "must be a string"),
        ({**sign_in(), "tags": {"k": 1}}, "tags.k", "must be a string"),
        ({**sign_in(), "upsert_on_conflict": "yes"}, "upsert_on_conflict", "must be a boolean"),
        (
            {**sign_in(), "event_type": "BUYER_CHALLENGE", "challenge": {"kind": "FACE"}},
            "challenge.kind",
            "must be one of EMAIL_LINK",
        ),
        (
            {**sign_in(), "event_type": "BUYER_CHALLENGE"},
            "challenge",
            "required for BUYER_CHALLENGE",
        ),
        (
            {**purchase(), "amount": {"amount_minor": 5, "currency": "ZZZ"}},
            "amount.currency",
            "ISO 4217",
        ),
        ({**purchase(), "amount": {"amount_minor": 5}}, "amount.currency", "is required"),
        (
            {**purchase(), "amount": {"amount_minor": 1.5, "currency": "USD"}},
            "amount.amount_minor",
            "must be an integer, not a number",
        ),
        (
            {**purchase(), "amount": {"amount_minor": -1, "currency": "USD"}},
            "amount.amount_minor",
            "is negative",
        ),
    ],
)
def test_invalid_events_are_422_naming_the_field_and_the_reason(
    api: Api, body: object, path: str, reason: str
) -> None:
    answer = post_raw(api, orjson.dumps(body))
    assert answer["code"] == 422, answer
    assert any(e["path"] == path and reason in e["reason"] for e in answer["errors"]), answer
    assert api.publisher.published == []


def test_every_broken_field_is_listed_at_once(api: Api) -> None:
    body = {**sign_in(), "subject_id": None, "occurred_at": "soon", "extra": 1}
    answer = post_raw(api, orjson.dumps(body))
    assert {e["path"] for e in answer["errors"]} == {"subject_id", "occurred_at", "extra"}
    assert answer["message"].count(";") == 2


@pytest.mark.parametrize(
    ("raw_path", "status", "reason"),
    [
        ("/v1/events/", 422, "at least 1 character"),
        ("/v1/events/%00", 422, "control characters"),
        ("/v1/events/a%0Ab", 422, "control characters"),
        ("/v1/events/%20%20", 422, "must not be blank"),
        ("/v1/events/" + "e" * 256, 422, "at most 255 characters"),
    ],
)
def test_bad_ids_in_the_path_are_422(api: Api, raw_path: str, status: int, reason: str) -> None:
    for method in ("GET", "PUT"):
        response = api.client.request(method, raw_path, headers=BOTH, json=sign_in())
        assert response.status_code == status
        assert reason in response.json()["errors"][0]["reason"]


def test_ids_with_a_slash_are_addressable(api: Api) -> None:
    assert post_raw(api, orjson.dumps(sign_in("tenant/evt 1")))["code"] == 202
    located = api.client.get("/v1/events/tenant%2Fevt%201", headers=BOTH)
    assert (located.status_code, located.json()["event_id"]) == (423, "tenant/evt 1")


# -- create / update rules ----------------------------------------------------------------


def test_post_publishes_the_avro_input_record_of_the_inferred_family(api: Api) -> None:
    response = api.client.post("/v1/events", json=purchase(), headers=BOTH)
    assert response.status_code == 202
    assert response.json() == {
        "event_id": "pay-1",
        "status": "accepted",
        "operation": "create",
        "family": "payment",
        "kind": "purchase",
        "expected_version": 1,
    }
    assert response.headers["Location"] == "/v1/events/pay-1"
    (published,) = api.publisher.published
    assert published.family is Family.PAYMENT
    record = published.record
    assert (record["operation"], record["upsert_on_conflict"]) == ("CREATE", False)
    assert record["occurred_at"].isoformat() == "2026-05-01T12:00:00+00:00"
    assert record["fee"] is None and record["is_guest"] is False and record["tags"] == {}
    assert record["sender"]["entity_type"] == "USER"  # the Avro default


def test_a_create_of_a_known_id_is_409_unless_it_asks_for_upsert(api: Api) -> None:
    api.view.states["evt-1"] = processed()
    conflict = api.client.post("/v1/events", json=sign_in(), headers=BOTH)
    assert conflict.status_code == 409
    assert conflict.json()["event_id"] == "evt-1"
    upsert = api.client.post("/v1/events", json=sign_in(upsert_on_conflict=True), headers=BOTH)
    assert upsert.status_code == 202
    assert (upsert.json()["operation"], upsert.json()["expected_version"]) == ("update", 2)
    (published,) = api.publisher.published
    assert (published.record["operation"], published.record["upsert_on_conflict"]) == (
        "CREATE",
        True,
    )


def test_an_id_accepted_by_this_process_conflicts_before_the_view_shows_it(api: Api) -> None:
    assert api.client.post("/v1/events", json=sign_in(), headers=BOTH).status_code == 202
    assert api.client.post("/v1/events", json=sign_in(), headers=BOTH).status_code == 409


def test_put_updates_a_known_id_and_404s_an_unknown_one(api: Api) -> None:
    unknown = api.client.put("/v1/events/evt-1", json=sign_in(), headers=BOTH)
    assert (unknown.status_code, unknown.json()["status"]) == (404, "not_found")
    api.view.states["evt-1"] = processed()
    body = {k: v for k, v in sign_in().items() if k != "event_id"}
    updated = api.client.put("/v1/events/evt-1", json=body, headers=BOTH)
    assert updated.status_code == 202
    assert updated.json()["expected_version"] == 2
    (published,) = api.publisher.published
    assert (published.event_id, published.record["operation"]) == ("evt-1", "UPDATE")


def test_put_refuses_a_different_id_subject_or_family(api: Api) -> None:
    api.view.states["evt-1"] = processed()
    other_id = api.client.put("/v1/events/evt-1", json=sign_in("evt-2"), headers=BOTH)
    assert other_id.json()["errors"] == [
        {"path": "event_id", "reason": "must match the id in the path"}
    ]
    other_subject = api.client.put("/v1/events/evt-1", json=sign_in(subject_id="u2"), headers=BOTH)
    assert (other_subject.status_code, other_subject.json()["errors"][0]["path"]) == (
        422,
        "subject_id",
    )
    other_family = api.client.put("/v1/events/evt-1", json=purchase("evt-1"), headers=BOTH)
    assert (other_family.status_code, other_family.json()["errors"][0]["path"]) == (
        422,
        "event_type",
    )
    assert api.client.put(
        "/v1/events/evt-1", json=sign_in(upsert_on_conflict=True), headers=BOTH
    ).json()["errors"] == [{"path": "upsert_on_conflict", "reason": "is for POST only"}]
    assert api.publisher.published == []


def test_a_broker_that_does_not_confirm_is_503_and_nothing_is_remembered(api: Api) -> None:
    api.publisher.fail = True
    failed = api.client.post("/v1/events", json=sign_in(), headers=BOTH)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert api.client.get("/v1/events/evt-1", headers=BOTH).status_code == 404
    api.publisher.fail = False
    assert api.client.post("/v1/events", json=sign_in(), headers=BOTH).status_code == 202


def test_concurrent_creates_of_one_id_accept_exactly_one(api: Api) -> None:
    import concurrent.futures

    api.publisher.delay_s = 0.2
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(
            pool.map(
                lambda _: api.client.post("/v1/events", json=sign_in(), headers=BOTH).status_code,
                range(4),
            )
        )
    assert statuses == [202, 409, 409, 409]
    assert len(api.publisher.published) == 1


def test_v1_answers_503_while_the_view_catches_up(api: Api) -> None:
    api.view.ready.clear()
    for method, path in (("GET", "/v1/events/evt-1"), ("POST", "/v1/events")):
        response = api.client.request(method, path, headers=BOTH, json=sign_in())
        assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert api.client.get("/readyz").status_code == 503


# -- read-your-writes ---------------------------------------------------------------------


def test_after_a_create_get_is_423_until_the_view_shows_the_version(api: Api) -> None:
    url = "/v1/events/evt-1"
    assert api.client.get(url, headers=BOTH).status_code == 404
    assert api.client.post("/v1/events", json=sign_in(), headers=BOTH).status_code == 202
    locked = api.client.get(url, headers=BOTH)
    assert (locked.status_code, locked.headers["Retry-After"]) == (423, "2")
    assert locked.json()["pending_version"] == 1
    assert api.client.get("/readyz").json()["accepted_unseen"] == 1
    api.view.states["evt-1"] = in_flight(None)
    assert api.client.get(url, headers=BOTH).status_code == 423
    api.view.states["evt-1"] = processed()
    done = api.client.get(url, headers=BOTH).json()
    assert (done["version"], done["update_pending"], done["pending_version"]) == (1, False, None)
    assert api.client.get("/readyz").json()["accepted_unseen"] == 0


def test_after_an_update_get_serves_the_old_version_with_update_pending(api: Api) -> None:
    url = "/v1/events/evt-1"
    api.view.states["evt-1"] = processed()
    assert api.client.put(url, json=sign_in(), headers=BOTH).status_code == 202
    during = api.client.get(url, headers=BOTH).json()
    assert (during["version"], during["update_pending"], during["pending_version"]) == (1, True, 2)
    assert api.client.put(url, json=sign_in(), headers=BOTH).json()["expected_version"] == 3
    api.view.states["evt-1"] = in_flight(processed(), version=2)
    during = api.client.get(url, headers=BOTH).json()
    assert (during["version"], during["pending_version"]) == (1, 3)
    api.view.states["evt-1"] = processed(version=3)
    after = api.client.get(url, headers=BOTH).json()
    assert (after["version"], after["update_pending"]) == (3, False)


def test_accepted_ids_are_forgotten_after_the_ttl() -> None:
    served, _, _ = serve(ApiSettings(accepted_ttl_s=0.3))
    try:
        served.client.post("/v1/events", json=sign_in(), headers=BOTH)
        assert served.client.get("/v1/events/evt-1", headers=BOTH).status_code == 423
        time.sleep(0.4)
        assert served.client.get("/v1/events/evt-1", headers=BOTH).status_code == 404
    finally:
        served.stop()


def test_ingest_metrics_count_answers_by_operation_and_status(api: Api) -> None:
    api.client.post("/v1/events", json=sign_in(), headers=BOTH)
    api.client.post("/v1/events", json=sign_in(), headers=BOTH)
    text = api.client.get("/metrics").text
    assert 'riskrelay_api_ingest_requests_total{operation="create",status="202"} 1.0' in text
    assert 'riskrelay_api_ingest_requests_total{operation="create",status="409"} 1.0' in text
    assert "riskrelay_api_accepted_unseen_events 1.0" in text
    assert "evt-1" not in text


def test_keys_and_bodies_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    secret_body = sign_in(user={"email": "pii-marker@example.com", "risk_score": "x"})
    api.client.post("/v1/events", json=secret_body, headers={"X-API-Key": "key-marker-000000000"})
    api.client.post("/v1/events", json=secret_body, headers=BOTH)
    api.client.post(
        "/v1/events", json=sign_in(user={"email": "pii-marker@example.com"}), headers=BOTH
    )
    api.client.get("/v1/events/evt-1", headers={"Authorization": "Bearer key-marker-000000000"})
    assert "pii-marker" not in caplog.text
    assert "key-marker" not in caplog.text and BOTH_KEY not in caplog.text
