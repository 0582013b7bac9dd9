"""The registry on a real broker, used through the real Confluent client over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from riskrelay.registry import KafkaSchemaLog, RegistryThread
from tests.unit.registry.schemas import V1, V2_REQUIRED, V2_WITH_DEFAULT, avro


def test_schemas_topic_is_created_compacted_with_one_partition(
    kafka_registry: RegistryThread, kafka_bootstrap: str, schemas_topic: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = admin.list_topics(schemas_topic, timeout=10).topics[schemas_topic]
    assert list(topic.partitions) == [0]
    resource = ConfigResource(ConfigResource.Type.TOPIC, schemas_topic)
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"


def test_register_get_lookup_list(client: SchemaRegistryClient) -> None:
    schema_id = client.register_schema("pay-value", avro(V1))
    assert client.register_schema("pay-value", avro(V1)) == schema_id  # identical: same id
    assert client.register_schema("other-value", avro(V1)) == schema_id  # global ids
    assert client.get_schema(schema_id).schema_str == V1
    latest = client.get_latest_version("pay-value")
    assert (latest.version, latest.schema_id, latest.schema.schema_str) == (1, schema_id, V1)
    found = client.lookup_schema("pay-value", avro(json.dumps(json.loads(V1), indent=2)))
    assert (found.subject, found.version, found.schema_id) == ("pay-value", 1, schema_id)
    second = client.register_schema("pay-value", avro(V2_WITH_DEFAULT))
    assert second == schema_id + 1
    assert client.get_subjects() == ["other-value", "pay-value"]
    assert client.get_versions("pay-value") == [1, 2]


def test_avro_serializer_round_trip_uses_confluent_wire_format(
    client: SchemaRegistryClient, kafka_registry: RegistryThread
) -> None:
    ctx = SerializationContext("risk.payment.v1", MessageField.VALUE)
    serialize = AvroSerializer(client, V1)
    payment = {"id": "pay-1", "amount": 1250}
    data = serialize(payment, ctx)
    assert data is not None
    schema_id = client.get_latest_version("risk.payment.v1-value").schema_id
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == schema_id
    # A fresh client has nothing cached: the writer schema comes over HTTP by id.
    with SchemaRegistryClient({"url": kafka_registry.url}) as reader_client:
        assert AvroDeserializer(reader_client)(data, ctx) == payment
        # A reader on the newer version fills the default for old data.
        reader_client.register_schema("risk.payment.v1-value", avro(V2_WITH_DEFAULT))
        upgraded = AvroDeserializer(reader_client, V2_WITH_DEFAULT)(data, ctx)
    assert upgraded == {**payment, "currency": "USD"}


def test_backward_compatibility_rules(
    client: SchemaRegistryClient, kafka_registry: RegistryThread
) -> None:
    client.register_schema("pay-value", avro(V1))
    assert client.test_compatibility("pay-value", avro(V2_WITH_DEFAULT)) is True
    assert client.test_compatibility_all_versions("pay-value", avro(V2_REQUIRED)) is False
    with httpx.Client(base_url=kafka_registry.url) as http:
        verbose = http.post(
            "/compatibility/subjects/pay-value/versions/latest?verbose=true",
            json={"schema": V2_REQUIRED},
        ).json()
    assert verbose["is_compatible"] is False
    assert "'currency' in the new schema has no default value" in verbose["messages"][0]
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("pay-value", avro(V2_REQUIRED))
    assert (caught.value.http_status_code, caught.value.error_code) == (409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in str(caught.value.error_message)
    assert client.register_schema("pay-value", avro(V2_WITH_DEFAULT)) == 2
    client.set_compatibility("pay-value", "NONE")
    assert client.register_schema("pay-value", avro(V2_REQUIRED)) == 3
    assert client.get_versions("pay-value") == [1, 2, 3]


def test_restart_on_the_same_topic_loses_nothing(kafka_bootstrap: str, schemas_topic: str) -> None:
    def serve() -> RegistryThread:
        return RegistryThread(KafkaSchemaLog(kafka_bootstrap, schemas_topic))

    with serve() as first, SchemaRegistryClient({"url": first.url}) as sr:
        ids = [
            sr.register_schema("a-value", avro(V1)),
            sr.register_schema("a-value", avro(V2_WITH_DEFAULT)),
            sr.register_schema("b-value", avro(V1)),
        ]
        sr.set_compatibility(level="FULL")
        sr.set_compatibility("b-value", "NONE")
        sr.register_schema("c-value", avro(V2_REQUIRED))
        sr.delete_subject("c-value")
    assert ids == [1, 2, 1]
    with serve() as second, SchemaRegistryClient({"url": second.url}) as sr:
        assert sr.get_subjects() == ["a-value", "b-value"]
        assert sr.get_versions("a-value") == [1, 2]
        assert sr.get_version("a-value", 2).schema_id == 2
        assert sr.get_latest_version("b-value").schema_id == 1
        assert sr.get_compatibility() == "FULL"
        assert sr.get_compatibility("b-value") == "NONE"
        assert sr.get_schema(3).schema_str == V2_REQUIRED  # soft-deleted, still decodable
        new_id = sr.register_schema("d-value", avro(V1.replace("Payment", "Refund")))
    assert new_id == 4  # continues after the highest id, deleted ones included


def test_bad_input_answers_confluent_errors(kafka_registry: RegistryThread) -> None:
    with httpx.Client(base_url=kafka_registry.url) as http:
        invalid = http.post(
            "/subjects/pay-value/versions",
            json={"schema": '{"type": "record", "name": "P", "fields": [{"name": "a"}]}'},
        )
        unknown_subject = http.get("/subjects/nobody-value/versions/latest")
        unknown_id = http.get("/schemas/ids/424242")
    assert invalid.status_code == 422
    assert invalid.json()["error_code"] == 42201
    assert invalid.json()["message"].startswith("Invalid schema: ")
    assert len(invalid.json()["message"]) > len("Invalid schema: ")
    assert (unknown_subject.status_code, unknown_subject.json()["error_code"]) == (404, 40401)
    assert (unknown_id.status_code, unknown_id.json()["error_code"]) == (404, 40403)
