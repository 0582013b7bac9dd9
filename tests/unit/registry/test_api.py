"""The Confluent REST API over real HTTP, on an in-memory log (no Kafka: fast, exhaustive).

``SchemaRegistryClient`` is the real client; raw ``httpx`` covers what the client hides
(status codes, bodies, headers).
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from riskrelay.errors import ConfigError
from riskrelay.registry import RegistryThread, records
from tests.unit.registry.conftest import MemoryLog
from tests.unit.registry.schemas import V1, V2_REQUIRED, V2_WITH_DEFAULT, avro, record

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def post(http: httpx.Client, url: str, body: object) -> httpx.Response:
    return http.post(url, content=json.dumps(body), headers={"Content-Type": CONTENT_TYPE})


def test_register_get_lookup_and_list(client: SchemaRegistryClient) -> None:
    first = client.register_schema("pay-value", avro(V1))
    assert first == 1
    assert client.get_schema(first).schema_str == V1
    latest = client.get_latest_version("pay-value")
    assert (latest.subject, latest.version, latest.schema_id) == ("pay-value", 1, 1)
    found = client.lookup_schema("pay-value", avro(V1))
    assert (found.version, found.schema_id) == (1, 1)
    assert client.register_schema("pay-value", avro(V2_WITH_DEFAULT)) == 2
    assert client.get_subjects() == ["pay-value"]
    assert client.get_versions("pay-value") == [1, 2]
    assert client.get_version("pay-value", 1).schema.schema_str == V1
    assert client.get_schema_types() == ["AVRO"]


def test_identical_schema_reuses_id_and_version(http: httpx.Client, memory_log: MemoryLog) -> None:
    assert post(http, "/subjects/s/versions", {"schema": V1}).json() == {"id": 1}
    # Same schema, different spelling: no new version, no new record.
    spaced = json.dumps(json.loads(V1), indent=4)
    assert post(http, "/subjects/s/versions", {"schema": spaced, "schemaType": "AVRO"}).json() == {
        "id": 1
    }
    assert http.get("/subjects/s/versions").json() == [1]
    assert len(memory_log.records) == 1
    # Another subject: same global id, its own version 1.
    assert post(http, "/subjects/t/versions", {"schema": V1}).json() == {"id": 1}
    assert http.get("/schemas/ids/1/versions").json() == [
        {"subject": "s", "version": 1},
        {"subject": "t", "version": 1},
    ]
    assert http.get("/schemas/ids/1/subjects").json() == ["s", "t"]


def test_response_shapes_and_content_type(http: httpx.Client) -> None:
    post(http, "/subjects/s/versions", {"schema": V1})
    response = http.get("/subjects/s/versions/latest")
    assert response.headers["content-type"].startswith(CONTENT_TYPE)
    assert response.json() == {"subject": "s", "version": 1, "id": 1, "schema": V1}
    assert http.get("/subjects/s/versions/-1").json()["version"] == 1
    assert http.get("/subjects/s/versions/1/schema").text == V1
    assert http.get("/schemas/ids/1").json() == {"schema": V1}
    assert http.get("/schemas/ids/1/schema").text == V1
    assert http.get("/").json() == {}
    assert http.get("/mode").json() == {"mode": "READWRITE"}
    assert post(http, "/subjects/s", {"schema": V1}).json() == {
        "subject": "s",
        "version": 1,
        "id": 1,
        "schema": V1,
    }


def test_not_found_and_invalid_inputs(http: httpx.Client) -> None:
    post(http, "/subjects/s/versions", {"schema": V1})
    assert error_of(http.get("/subjects/nope/versions")) == (
        404,
        40401,
        "Subject 'nope' not found.",
    )
    assert error_of(http.get("/subjects/nope/versions/1"))[:2] == (404, 40401)
    assert error_of(http.get("/subjects/s/versions/7"))[:2] == (404, 40402)
    assert error_of(http.get("/subjects/s/versions/0"))[:2] == (422, 42202)
    assert error_of(http.get("/subjects/s/versions/abc"))[:2] == (422, 42202)
    assert error_of(http.get("/schemas/ids/99")) == (404, 40403, "Schema 99 not found")
    assert error_of(post(http, "/subjects/s", {"schema": V2_WITH_DEFAULT}))[:2] == (404, 40403)
    assert error_of(post(http, "/subjects/nope", {"schema": V1}))[:2] == (404, 40401)
    status, code, message = error_of(post(http, "/subjects/s/versions", {"schema": "{"}))
    assert (status, code) == (422, 42201)
    assert "Error parsing JSON" in message
    status, code, message = error_of(
        post(http, "/subjects/s/versions", {"schema": V1, "schemaType": "JSON"})
    )
    assert (status, code) == (422, 42201)
    assert "only AVRO" in message
    assert error_of(post(http, "/subjects/s/versions", {}))[:2] == (422, 42201)


def test_transport_level_errors_are_json_too(http: httpx.Client) -> None:
    bad_json = http.post(
        "/subjects/s/versions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert error_of(bad_json)[:2] == (400, 400)
    xml = http.post("/subjects/s/versions", content=b"<a/>", headers={"Content-Type": "text/xml"})
    assert error_of(xml)[:2] == (415, 415)
    assert error_of(http.get("/no/such/route")) == (404, 404, "HTTP 404 Not Found")
    assert error_of(http.patch("/subjects"))[:2] == (405, 405)


def test_client_sees_confluent_error_codes(client: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_latest_version("missing-value")
    assert (caught.value.http_status_code, caught.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_schema(12345)
    assert (caught.value.http_status_code, caught.value.error_code) == (404, 40403)
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("x-value", avro('{"type": "record", "name": "R", "fields": 1}'))
    assert (caught.value.http_status_code, caught.value.error_code) == (422, 42201)


def test_backward_default_rejects_required_field_until_level_is_none(
    client: SchemaRegistryClient,
) -> None:
    client.register_schema("pay-value", avro(V1))
    assert client.test_compatibility("pay-value", avro(V2_WITH_DEFAULT)) is True
    assert client.test_compatibility("pay-value", avro(V2_REQUIRED)) is False
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("pay-value", avro(V2_REQUIRED))
    assert (caught.value.http_status_code, caught.value.error_code) == (409, 409)
    assert 'incompatible with an earlier schema for subject "pay-value"' in str(
        caught.value.error_message
    )
    assert "'currency' in the new schema has no default value" in str(caught.value.error_message)
    # The client is typed "-> str" but hands back Confluent's PUT body unchanged.
    answer: object = client.set_compatibility("pay-value", "NONE")
    assert answer == {"compatibility": "NONE"}
    assert client.get_compatibility("pay-value") == "NONE"
    assert client.register_schema("pay-value", avro(V2_REQUIRED)) == 2


def test_compatibility_endpoint_messages_only_when_verbose(http: httpx.Client) -> None:
    post(http, "/subjects/s/versions", {"schema": V1})
    terse = post(http, "/compatibility/subjects/s/versions/latest", {"schema": V2_REQUIRED})
    assert terse.json() == {"is_compatible": False, "messages": []}
    verbose = post(
        http, "/compatibility/subjects/s/versions?verbose=true", {"schema": V2_REQUIRED}
    ).json()
    assert verbose["is_compatible"] is False
    assert verbose["messages"][0].startswith("version 1 (BACKWARD): READER_FIELD_MISSING")
    ok = post(
        http, "/compatibility/subjects/s/versions/1?verbose=true", {"schema": V2_WITH_DEFAULT}
    )
    assert ok.json() == {"is_compatible": True, "messages": []}
    # Nothing registered yet: nothing to break; a numbered version must exist though.
    fresh = post(http, "/compatibility/subjects/new/versions/latest", {"schema": V2_REQUIRED})
    assert fresh.json()["is_compatible"] is True
    missing = post(http, "/compatibility/subjects/s/versions/5", {"schema": V1})
    assert error_of(missing)[:2] == (404, 40402)


def test_config_global_and_per_subject(http: httpx.Client) -> None:
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.put("/config", json={"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert http.get("/config").json() == {"compatibilityLevel": "FULL"}
    assert error_of(http.get("/config/s"))[:2] == (404, 40408)
    assert http.get("/config/s?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    assert http.put("/config/s", json={"compatibility": "NONE"}).json() == {"compatibility": "NONE"}
    assert http.get("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert http.delete("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert error_of(http.get("/config/s"))[:2] == (404, 40408)
    assert http.delete("/config").json() == {"compatibilityLevel": "FULL"}
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert error_of(http.put("/config", json={"compatibility": "SIDEWAYS"}))[:2] == (422, 42203)


def test_soft_then_permanent_delete(http: httpx.Client, memory_log: MemoryLog) -> None:
    post(http, "/subjects/s/versions", {"schema": V1})
    post(http, "/subjects/s/versions", {"schema": V2_WITH_DEFAULT})
    assert error_of(http.delete("/subjects/s?permanent=true"))[:2] == (404, 40405)
    assert http.delete("/subjects/s/versions/1").json() == 1
    assert error_of(http.delete("/subjects/s/versions/1"))[:2] == (404, 40406)
    assert http.get("/subjects/s/versions").json() == [2]
    assert http.get("/subjects/s/versions?deleted=true").json() == [1, 2]
    assert http.get("/subjects/s/versions/1?deleted=true").json()["id"] == 1
    assert error_of(http.get("/subjects/s/versions/1"))[:2] == (404, 40402)
    assert http.get("/schemas/ids/1").json() == {"schema": V1}  # consumers still decode
    assert http.delete("/subjects/s").json() == [2]
    assert error_of(http.delete("/subjects/s"))[:2] == (404, 40404)
    assert http.get("/subjects").json() == []
    assert http.get("/subjects?deleted=true").json() == ["s"]
    assert error_of(http.get("/subjects/s/versions"))[:2] == (404, 40401)
    # A new version after soft deletes continues the numbering, with no compatibility check
    # against deleted versions.
    assert post(http, "/subjects/s/versions", {"schema": V2_REQUIRED}).json() == {"id": 3}
    assert http.get("/subjects/s/versions").json() == [3]
    assert error_of(http.delete("/subjects/s/versions/3?permanent=true"))[:2] == (404, 40407)
    assert http.delete("/subjects/s/versions/1?permanent=true").json() == 1
    assert error_of(http.get("/schemas/ids/1"))[:2] == (404, 40403)
    assert records.encode_id_hwm(3) in memory_log.records


def test_failed_write_answers_500_and_resyncs(
    registry: RegistryThread, http: httpx.Client, memory_log: MemoryLog
) -> None:
    memory_log.fail_writes = 1
    memory_log.land_before_failure = 1  # the record landed although the write "failed"
    status, code, message = error_of(post(http, "/subjects/s/versions", {"schema": V1}))
    assert (status, code) == (500, 50001)
    assert "simulated" in message
    # The next write rereads the log first, so it sees the version that did land.
    assert post(http, "/subjects/s/versions", {"schema": V2_WITH_DEFAULT}).json() == {"id": 2}
    assert memory_log.replays == 1
    assert http.get("/subjects/s/versions").json() == [1, 2]


def test_state_is_rebuilt_from_the_log_on_start(memory_log: MemoryLog) -> None:
    with RegistryThread(memory_log) as first, httpx.Client(base_url=first.url) as http:
        post(http, "/subjects/s/versions", {"schema": V1})
        http.put("/config/s", json={"compatibility": "FORWARD"})
    assert memory_log.closed
    with RegistryThread(memory_log) as second, httpx.Client(base_url=second.url) as http:
        assert http.get("/subjects/s/versions/1").json()["id"] == 1
        assert http.get("/config/s").json() == {"compatibilityLevel": "FORWARD"}
        assert post(http, "/subjects/t/versions", {"schema": V2_WITH_DEFAULT}).json() == {"id": 2}


def test_concurrent_registrations_get_distinct_ids_and_versions(
    registry: RegistryThread, memory_log: MemoryLog
) -> None:
    def register(n: int) -> int:
        schema = record({"name": f"f{n}", "type": "int"}, name=f"R{n}")
        with httpx.Client(base_url=registry.url) as http:
            reply = post(http, "/subjects/many/versions", {"schema": schema})
            assert reply.status_code == 200, reply.text
            return int(reply.json()["id"])

    with httpx.Client(base_url=registry.url) as http:
        http.put("/config/many", json={"compatibility": "NONE"})
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(register, range(16)))
        assert sorted(ids) == list(range(1, 17))
        assert http.get("/subjects/many/versions").json() == list(range(1, 17))
    assert len(memory_log.records) == 17  # the config record and one per version


def test_a_taken_port_fails_start_and_closes_the_log(memory_log: MemoryLog) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            RegistryThread(memory_log, port=port).start()
    assert memory_log.closed
