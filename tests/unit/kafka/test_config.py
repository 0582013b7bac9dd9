"""Kafka client configuration: the security settings reach every client's configuration,
librdkafka accepts what is built, and wrong combinations are one configuration line.

Clients are constructed for real (librdkafka validates its configuration at
construction, before any connection); none connects to a broker here. That the
settings carry a real connection is tests/integration/kafka/test_tls.py.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import ValidationError

from riskrelay.errors import ConfigError
from riskrelay.kafka.config import (
    base_config,
    client_config,
    consumer_config,
    producer_config,
    registry_client_config,
    security_config,
)
from riskrelay.settings import (
    KAFKA_RESERVED_PROPERTIES,
    KafkaSettings,
    RegistrySettings,
    Settings,
    load_settings,
)

SRC = Path(__file__).resolve().parents[3] / "src" / "riskrelay"
BOOTSTRAP = "127.0.0.1:1"  # nothing listens: construction only
QUIET = {"log_level": 0}  # librdkafka would log its connection attempts to stderr


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("RISKRELAY_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, str]:
    """Paths that exist (librdkafka reads them only when it connects)."""
    files = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        path = tmp_path / name
        path.write_text("placeholder\n")
        files[name] = str(path)
    return files


def _kafka(**values: Any) -> KafkaSettings:
    return KafkaSettings(**values)


SCRAM = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "svc-riskrelay",
    "sasl_password": "scram-secret",
}
OIDC = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "OAUTHBEARER",
    "oauth_token_endpoint_url": "http://127.0.0.1:1/oauth2/token",
    "oauth_client_id": "riskrelay",
    "oauth_client_secret": "oidc-secret",
    "oauth_scope": "kafka",
    "oauth_extensions": "logicalCluster=lkc-abc12,identityPoolId=pool-xyz",
}


# --------------------------------------------------------------------------- what is built


def test_plaintext_adds_nothing() -> None:
    config = client_config(BOOTSTRAP, _kafka(), **{"group.id": "g"})
    assert config == {"bootstrap.servers": BOOTSTRAP, "group.id": "g"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_password_mechanisms(mechanism: str) -> None:
    kafka = _kafka(**{**SCRAM, "sasl_mechanism": mechanism})
    assert security_config(kafka) == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": mechanism,
        "sasl.username": "svc-riskrelay",
        "sasl.password": "scram-secret",
    }


def test_oauthbearer_uses_librdkafka_oidc() -> None:
    assert security_config(_kafka(**OIDC)) == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "http://127.0.0.1:1/oauth2/token",
        "sasl.oauthbearer.client.id": "riskrelay",
        "sasl.oauthbearer.client.secret": "oidc-secret",
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-abc12,identityPoolId=pool-xyz",
    }


def test_mutual_tls(pem_files: dict[str, str]) -> None:
    kafka = _kafka(
        security_protocol="ssl",
        ssl_ca_location=pem_files["ca.pem"],
        ssl_certificate_location=pem_files["client.pem"],
        ssl_key_location=pem_files["client.key"],
        ssl_key_password="key-secret",
    )
    assert security_config(kafka) == {
        "security.protocol": "ssl",
        "ssl.ca.location": pem_files["ca.pem"],
        "ssl.certificate.location": pem_files["client.pem"],
        "ssl.key.location": pem_files["client.key"],
        "ssl.key.password": "key-secret",
    }


def test_a_missing_file_names_its_variable(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    kafka = _kafka(security_protocol="SSL", ssl_ca_location=missing)
    with pytest.raises(ConfigError, match=f"^RISKRELAY_KAFKA_SSL_CA_LOCATION: {missing} "):
        client_config(BOOTSTRAP, kafka)
    probe = _kafka(security_protocol="SSL", ssl_ca_location="probe")
    assert security_config(probe)["ssl.ca.location"] == "probe"


def test_security_wins_over_a_client_and_extra_properties_win_over_tuning() -> None:
    kafka = _kafka(
        **SCRAM,
        client_config={"linger.ms": 3, "client.dns.lookup": "use_all_dns_ips", "x.on": True},
    )
    config = producer_config(BOOTSTRAP, kafka, **{"security.protocol": "plaintext"})
    assert config["security.protocol"] == "sasl_ssl"
    assert config["sasl.password"] == "scram-secret"
    assert config["linger.ms"] == "3"  # the operator's tuning over riskrelay's 20
    assert config["client.dns.lookup"] == "use_all_dns_ips"
    assert config["x.on"] == "true"
    assert config["enable.idempotence"] is True  # reserved: riskrelay's


def test_every_builder_carries_the_settings(pem_files: dict[str, str]) -> None:
    kafka = _kafka(**SCRAM)
    built = {
        "client": client_config(BOOTSTRAP, kafka),
        "base": base_config(BOOTSTRAP, kafka),
        "producer": producer_config(BOOTSTRAP, kafka, **{"transactional.id": "t"}),
        "consumer": consumer_config(BOOTSTRAP, "g", kafka, **{"group.instance.id": "w-0"}),
    }
    expected = security_config(kafka)
    for name, config in built.items():
        assert expected.items() <= config.items(), name


def test_without_settings_every_builder_reads_the_environment(env: pytest.MonkeyPatch) -> None:
    """Callers that hold no settings (the SDK, the registry store, topic admin, the state
    reader) still get the cluster's credentials."""
    for name, value in {
        "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
        "RISKRELAY_KAFKA_SASL_MECHANISM": "scram-sha-256",
        "RISKRELAY_KAFKA_SASL_USERNAME": "from-env",
        "RISKRELAY_KAFKA_SASL_PASSWORD": "env-secret",
        "RISKRELAY_KAFKA_CLIENT_CONFIG": '{"socket.keepalive.enable": true}',
    }.items():
        env.setenv(name, value)
    for config in (
        client_config(BOOTSTRAP),
        base_config(BOOTSTRAP),
        producer_config(BOOTSTRAP, **{"linger.ms": 5}),
    ):
        assert config["security.protocol"] == "sasl_plaintext"
        assert config["sasl.mechanism"] == "SCRAM-SHA-256"
        assert (config["sasl.username"], config["sasl.password"]) == ("from-env", "env-secret")
        assert config["socket.keepalive.enable"] == "true"
    env.setenv("RISKRELAY_KAFKA_SASL_PASSWORD", "")
    with pytest.raises(ConfigError, match=r"^RISKRELAY_KAFKA_SASL_PASSWORD: required"):
        client_config(BOOTSTRAP)


# --------------------------------------------------------------------------- librdkafka accepts it


def _constructors() -> Iterator[tuple[str, Callable[[dict[str, Any]], Any]]]:
    yield "producer", Producer
    yield "consumer", Consumer
    yield "admin", AdminClient


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(SCRAM, id="scram-sha-512"),
        pytest.param({**SCRAM, "sasl_mechanism": "PLAIN"}, id="plain"),
        pytest.param(
            {**SCRAM, "sasl_mechanism": "SCRAM-SHA-256", "security_protocol": "SASL_PLAINTEXT"},
            id="scram-sha-256-plaintext",
        ),
        pytest.param(OIDC, id="oauthbearer-oidc"),
        pytest.param(
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "client_config": {
                    "enable.sasl.oauthbearer.unsecure.jwt": "true",
                    "sasl.oauthbearer.config": "principal=riskrelay",
                },
            },
            id="oauthbearer-unsecured-jwt",
        ),
        pytest.param({"security_protocol": "SSL"}, id="tls-system-ca"),
    ],
)
def test_librdkafka_accepts_the_configuration(values: dict[str, Any]) -> None:
    kafka = _kafka(**values)
    configs = {
        "producer": producer_config(BOOTSTRAP, kafka, **{"transactional.id": "t-1"}),
        "consumer": consumer_config(BOOTSTRAP, "g", kafka, **{"group.instance.id": "w-0"}),
        "admin": base_config(BOOTSTRAP, kafka),
    }
    for name, construct in _constructors():
        client = construct({**configs[name], **QUIET})
        if name == "consumer":
            client.close()


def test_librdkafka_rejects_what_it_does_not_know() -> None:
    """The check above can fail: an unknown property is refused at construction."""
    kafka = _kafka(client_config={"no.such.property": "1"})
    with pytest.raises(Exception, match="No such configuration property"):
        Producer({**producer_config(BOOTSTRAP, kafka), **QUIET})


# --------------------------------------------------------------------------- wrong combinations


@pytest.mark.parametrize(
    ("env_values", "line"),
    [
        (
            {"RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "RISKRELAY_KAFKA_SASL_MECHANISM: required with "
            "RISKRELAY_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {"RISKRELAY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"},
            "RISKRELAY_KAFKA_SASL_MECHANISM: SCRAM-SHA-256 needs "
            "RISKRELAY_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {
                "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "RISKRELAY_KAFKA_SASL_MECHANISM": "PLAIN",
                "RISKRELAY_KAFKA_SASL_USERNAME": "u",
            },
            "RISKRELAY_KAFKA_SASL_PASSWORD: required with RISKRELAY_KAFKA_SASL_MECHANISM=PLAIN",
        ),
        (
            {
                "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "RISKRELAY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            },
            "RISKRELAY_KAFKA_SASL_USERNAME: required with "
            "RISKRELAY_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
        ),
        (
            {
                "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "RISKRELAY_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
                "RISKRELAY_KAFKA_OAUTH_TOKEN_ENDPOINT_URL": "https://idp.example/token",
                "RISKRELAY_KAFKA_OAUTH_CLIENT_ID": "riskrelay",
            },
            "RISKRELAY_KAFKA_OAUTH_CLIENT_SECRET: required with "
            "RISKRELAY_KAFKA_SASL_MECHANISM=OAUTHBEARER",
        ),
        (
            {
                "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "RISKRELAY_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
                "RISKRELAY_KAFKA_SASL_USERNAME": "u",
            },
            "RISKRELAY_KAFKA_SASL_USERNAME: is used only with",
        ),
        (
            {"RISKRELAY_KAFKA_OAUTH_CLIENT_ID": "riskrelay"},
            "RISKRELAY_KAFKA_OAUTH_CLIENT_ID: is used only with "
            "RISKRELAY_KAFKA_SASL_MECHANISM=OAUTHBEARER (it is unset)",
        ),
        (
            {"RISKRELAY_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem"},
            "RISKRELAY_KAFKA_SSL_CA_LOCATION: needs RISKRELAY_KAFKA_SECURITY_PROTOCOL=SSL or "
            "SASL_SSL; it is PLAINTEXT",
        ),
        (
            {
                "RISKRELAY_KAFKA_SECURITY_PROTOCOL": "SSL",
                "RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION": "/etc/client.pem",
            },
            "RISKRELAY_KAFKA_SSL_KEY_LOCATION: required with "
            "RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION",
        ),
        (
            {"RISKRELAY_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "RISKRELAY_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL', "
            "'SASL_PLAINTEXT' or 'SASL_SSL'",
        ),
        (
            {"RISKRELAY_KAFKA_CLIENT_CONFIG": '{"transactional.id": "x"}'},
            "RISKRELAY_KAFKA_CLIENT_CONFIG: 'transactional.id' cannot be set here: riskrelay "
            "sets it per client",
        ),
        (
            {"RISKRELAY_KAFKA_CLIENT_CONFIG": '{"sasl.password": "x"}'},
            "RISKRELAY_KAFKA_CLIENT_CONFIG: 'sasl.password' cannot be set here: use "
            "RISKRELAY_KAFKA_SASL_PASSWORD",
        ),
        (
            {"RISKRELAY_SCHEMA_REGISTRY_USERNAME": "key"},
            "RISKRELAY_SCHEMA_REGISTRY_PASSWORD: required with RISKRELAY_SCHEMA_REGISTRY_USERNAME",
        ),
        (
            {
                "RISKRELAY_SCHEMA_REGISTRY_URL": "http://registry:8081",
                "RISKRELAY_SCHEMA_REGISTRY_SSL_CA_LOCATION": "/etc/ca.pem",
            },
            "RISKRELAY_SCHEMA_REGISTRY_SSL_CA_LOCATION: needs an https:// "
            "RISKRELAY_SCHEMA_REGISTRY_URL",
        ),
    ],
)
def test_wrong_combinations_are_one_line(
    env: pytest.MonkeyPatch, env_values: dict[str, str], line: str
) -> None:
    for name, value in env_values.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(line), message
    assert "\n" not in message


def test_secrets_never_reach_a_message_or_a_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("RISKRELAY_KAFKA_SASL_PASSWORD", "hunter2-secret")  # without a mechanism
    env.setenv("RISKRELAY_KAFKA_CLIENT_CONFIG", '{"ssl.key.pem": "-----BEGIN hunter2"}')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    env.delenv("RISKRELAY_KAFKA_SASL_PASSWORD")
    assert "hunter2" not in repr(Settings().kafka)


def test_reserved_properties_are_refused_one_by_one() -> None:
    for key in KAFKA_RESERVED_PROPERTIES:
        with pytest.raises(ValidationError, match="cannot be set here"):
            KafkaSettings(client_config={key: "x"})
    with pytest.raises(ValidationError, match="not a librdkafka property"):
        KafkaSettings(client_config={"error_cb": "x"})


# --------------------------------------------------------------------------- schema registry


def test_registry_basic_auth_and_tls(pem_files: dict[str, str]) -> None:
    registry = RegistrySettings(
        url="https://registry.example",
        username="SRKEY",
        password="sr-secret",
        ssl_ca_location=pem_files["ca.pem"],
        ssl_certificate_location=pem_files["client.pem"],
        ssl_key_location=pem_files["client.key"],
    )
    config = registry_client_config("https://registry.example", registry)
    assert config == {
        "url": "https://registry.example",
        "basic.auth.user.info": "SRKEY:sr-secret",
        "ssl.ca.location": pem_files["ca.pem"],
        "ssl.certificate.location": pem_files["client.pem"],
        "ssl.key.location": pem_files["client.key"],
    }
    assert registry_client_config("http://r:8081", RegistrySettings()) == {"url": "http://r:8081"}


def test_registry_client_accepts_basic_auth() -> None:
    registry = RegistrySettings(username="SRKEY", password="sr-secret")
    client = SchemaRegistryClient(registry_client_config("https://registry.example", registry))
    assert client is not None
    with pytest.raises(ConfigError, match=r"^RISKRELAY_SCHEMA_REGISTRY_SSL_CA_LOCATION: /nope"):
        registry_client_config(
            "https://registry.example", RegistrySettings(ssl_ca_location="/nope/ca.pem")
        )


# --------------------------------------------------------------------------- no other way in

CLIENTS = {"Producer", "Consumer", "AdminClient", "SchemaRegistryClient"}
BUILDERS = {
    "client_config",
    "base_config",
    "producer_config",
    "consumer_config",
    "registry_client_config",
}
# The embedded broker riskrelay starts itself is always plaintext.
EXEMPT = {"kafka/embedded.py"}


def _builder_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) in BUILDERS
    )


def _client_config_problem(arg: ast.AST | None) -> str | None:
    """None when ``arg`` is built by kafka.config: a builder call, or a dict spreading one
    first and adding no security properties after it."""
    if arg is None:
        return "no configuration"
    if _builder_call(arg):
        return None
    if isinstance(arg, ast.Dict) and arg.keys and arg.keys[0] is None:
        if not _builder_call(arg.values[0]):
            return "spreads something other than a kafka.config builder"
        for key in arg.keys[1:]:
            if isinstance(key, ast.Constant) and str(key.value).startswith(
                ("security.", "sasl.", "ssl.")
            ):
                return f"overrides {key.value} after the cluster's settings"
        return None
    return "not built by riskrelay.kafka.config"


def client_constructions(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in CLIENTS:
            arg = node.args[0] if node.args else None
            yield node.lineno, name, _client_config_problem(arg)


def test_the_source_check_can_fail() -> None:
    bad = ast.parse(
        "Producer({'bootstrap.servers': b})\n"
        "AdminClient({**base_config(b), 'sasl.username': 'x'})\n"
        "Consumer({**other(b)})\n"
        "Consumer(client_config(b, **{'group.id': 'g'}))\n"
        "AdminClient(base_config(b))\n"
    )
    problems = [problem for _, _, problem in client_constructions(bad)]
    assert problems[:3] == [
        "not built by riskrelay.kafka.config",
        "overrides sasl.username after the cluster's settings",
        "spreads something other than a kafka.config builder",
    ]
    assert problems[3:] == [None, None]


def test_every_client_in_the_package_is_built_by_kafka_config() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative in EXEMPT:
            continue
        for line, name, problem in client_constructions(ast.parse(path.read_text())):
            if problem is not None:
                problems.append(f"{relative}:{line}: {name}(...) {problem}")
    assert not problems, "\n".join(problems)


def test_registry_client_speaks_https_with_basic_auth(tmp_path: Path) -> None:
    """A real HTTPS server with the test CA's certificate: the client trusts it through
    RISKRELAY_SCHEMA_REGISTRY_SSL_CA_LOCATION and sends the basic auth credentials."""
    import http.server
    import ssl
    import threading

    import trustme

    from riskrelay.decode.avro import registry_client

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = b'["risk.lifecycle.v1-value"]'
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_port}"
        registry = RegistrySettings(
            url=url, username="SRKEY", password="sr-secret", ssl_ca_location=str(ca_file)
        )
        assert registry_client(url, registry).get_subjects() == ["risk.lifecycle.v1-value"]
        assert seen == ["Basic U1JLRVk6c3Itc2VjcmV0"]  # base64("SRKEY:sr-secret")
        untrusting = registry_client(url, RegistrySettings(url=url))
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.get_subjects()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
