"""librdkafka configuration built from settings: one place, so every client agrees.

Every client riskrelay creates (the worker's consumer and transactional producer, the
state and identity readers, the admin clients that create and describe topics, the API's
producer and view reader, the SDK producer, the bundled registry's store) gets its
configuration from ``client_config``: the cluster, its security settings (TLS, SASL) and
the operator's extra properties (``RISKRELAY_KAFKA_CLIENT_CONFIG``), around what that
client needs for itself. A client given no ``KafkaSettings`` reads them from the
environment, so a new client cannot silently connect without the cluster's credentials.
The schema registry client's configuration is built here too (``registry_client_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from riskrelay.errors import ConfigError
from riskrelay.settings import (
    KAFKA_RESERVED_PROPERTIES,
    KafkaSettings,
    RegistrySettings,
    environment_error,
)

ClientConfig = dict[str, Any]


def kafka_settings(kafka: KafkaSettings | None = None) -> KafkaSettings:
    """``kafka``, or the environment's; a mistake there is a one-line ``ConfigError``."""
    if kafka is not None:
        return kafka
    try:
        return KafkaSettings()
    except ValidationError as exc:
        raise ConfigError(environment_error(exc)) from None


def security_config(kafka: KafkaSettings) -> ClientConfig:
    """The librdkafka properties of the cluster's TLS and SASL settings (none: plaintext).

    OAUTHBEARER uses librdkafka's own OIDC client (``sasl.oauthbearer.method=oidc``):
    it fetches and refreshes tokens by the client-credentials grant, so no Python
    callback runs on the client's threads.
    """
    config: ClientConfig = {}
    if kafka.security_protocol != "PLAINTEXT":
        config["security.protocol"] = kafka.security_protocol.lower()
    if kafka.sasl_mechanism is not None:
        config["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username is not None:
        config["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        config["sasl.password"] = kafka.sasl_password.get_secret_value()
    if kafka.oauth_token_endpoint_url is not None:
        config["sasl.oauthbearer.method"] = "oidc"
        config["sasl.oauthbearer.token.endpoint.url"] = kafka.oauth_token_endpoint_url
    if kafka.oauth_client_id is not None:
        config["sasl.oauthbearer.client.id"] = kafka.oauth_client_id
    if kafka.oauth_client_secret is not None:
        config["sasl.oauthbearer.client.secret"] = kafka.oauth_client_secret.get_secret_value()
    if kafka.oauth_scope:
        config["sasl.oauthbearer.scope"] = kafka.oauth_scope
    if kafka.oauth_extensions:
        config["sasl.oauthbearer.extensions"] = kafka.oauth_extensions
    files = {
        "ssl.ca.location": ("RISKRELAY_KAFKA_SSL_CA_LOCATION", kafka.ssl_ca_location),
        "ssl.certificate.location": (
            "RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION",
            kafka.ssl_certificate_location,
        ),
        "ssl.key.location": ("RISKRELAY_KAFKA_SSL_KEY_LOCATION", kafka.ssl_key_location),
    }
    for key, (variable, path) in files.items():
        if path is None:
            continue
        # librdkafka's own message for a missing file names neither the variable nor the
        # path ("ssl.ca.location failed: error:80000002..."); "probe" is its search mode.
        if path != "probe" and not Path(path).exists():
            raise ConfigError(f"{variable}: {path} does not exist")
        config[key] = path
    if kafka.ssl_key_password is not None:
        config["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    return config


def extra_config(kafka: KafkaSettings) -> ClientConfig:
    """``RISKRELAY_KAFKA_CLIENT_CONFIG``; reserved properties are refused by the settings."""
    extra = {key: value.get_secret_value() for key, value in kafka.client_config.items()}
    assert not extra.keys() & KAFKA_RESERVED_PROPERTIES.keys()  # validated by KafkaSettings
    return extra


def client_config(
    bootstrap: str, kafka: KafkaSettings | None = None, /, **properties: Any
) -> ClientConfig:
    """The configuration of any client: ``properties`` (what this client needs) with the
    cluster's security settings and the operator's extra properties applied over them.

    Security comes after ``properties`` so no client can drop it by accident; the extra
    properties come last and may tune anything the settings did not reserve.
    """
    kafka = kafka_settings(kafka)
    return {
        "bootstrap.servers": bootstrap,
        **properties,
        **security_config(kafka),
        **extra_config(kafka),
    }


def base_config(bootstrap: str, kafka: KafkaSettings | None = None, /) -> ClientConfig:
    """A client that needs nothing of its own (admin clients, plain readers)."""
    return client_config(bootstrap, kafka)


def producer_config(
    bootstrap: str, kafka: KafkaSettings | None = None, /, **overrides: Any
) -> ClientConfig:
    """Idempotent, murmur2 (Java-compatible) partitioning, batched and compressed."""
    return client_config(
        bootstrap,
        kafka,
        **{
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1_048_576,
            "compression.type": "zstd",
            **overrides,
        },
    )


def consumer_config(
    bootstrap: str, group_id: str, kafka: KafkaSettings, /, **overrides: Any
) -> ClientConfig:
    """Manual commits, read_committed, settings that stop an idle consumer spinning, and
    fetches sized for the worker's memory budget."""
    return client_config(
        bootstrap,
        kafka,
        **{
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": kafka.session_timeout_ms,
            "fetch.wait.max.ms": 100,
            "fetch.queue.backoff.ms": 5,
            "queued.max.messages.kbytes": 2048,
            # What one fetch may bring (librdkafka's defaults: 50 MB, 1 MB a partition),
            # held in memory until consumed: ~3,000 events' worth is plenty for a worker
            # that handles a few thousand a second, and a backlog stays on the broker.
            "fetch.max.bytes": 4 * 1024 * 1024,
            "max.partition.fetch.bytes": 256 * 1024,
            **overrides,
        },
    )


def registry_client_config(url: str, registry: RegistrySettings | None = None) -> ClientConfig:
    """``SchemaRegistryClient`` configuration: the URL with basic auth and TLS files."""
    if registry is None:
        try:
            registry = RegistrySettings()
        except ValidationError as exc:
            raise ConfigError(environment_error(exc)) from None
    config: ClientConfig = {"url": url}
    if registry.username is not None and registry.password is not None:
        config["basic.auth.user.info"] = (
            f"{registry.username}:{registry.password.get_secret_value()}"
        )
    files = {
        "ssl.ca.location": registry.ssl_ca_location,
        "ssl.certificate.location": registry.ssl_certificate_location,
        "ssl.key.location": registry.ssl_key_location,
    }
    for key, path in files.items():
        if path is not None:
            if not Path(path).exists():
                variable = "RISKRELAY_SCHEMA_REGISTRY_" + key.replace(".", "_").upper()
                raise ConfigError(f"{variable}: {path} does not exist")
            config[key] = path
    return config
