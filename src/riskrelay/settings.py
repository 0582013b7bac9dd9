"""Configuration from the environment (12-factor), one frozen model per component.

Every variable starts with ``RISKRELAY_``; the README lists them all. Secrets are
``SecretStr`` so they never reach a log line or a repr. Providers' settings may also come
from the routing file (``RISKRELAY_ROUTING_FILE``, docs/routing.md); the environment wins.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from riskrelay.errors import ConfigError

ProviderName = Literal["coinflow", "unit21", "dataspike", "stripe"]
PROVIDERS: tuple[ProviderName, ...] = ("coinflow", "unit21", "dataspike", "stripe")


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# librdkafka properties RISKRELAY_KAFKA_CLIENT_CONFIG may not set, and why: riskrelay's
# guarantees rest on the first group (transactions, offsets, partitioning); the second
# has a setting of its own, so there is one way to set each.
KAFKA_RESERVED_PROPERTIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "bootstrap.servers",
            "group.id",
            "group.instance.id",
            "transactional.id",
            "enable.idempotence",
            "isolation.level",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "auto.offset.reset",
            "enable.partition.eof",
            "partitioner",
            "acks",
            "request.required.acks",
            "max.in.flight.requests.per.connection",
            "max.in.flight",
        ),
        "riskrelay sets it per client",
    ),
    "session.timeout.ms": "use RISKRELAY_KAFKA_SESSION_TIMEOUT_MS",
    "security.protocol": "use RISKRELAY_KAFKA_SECURITY_PROTOCOL",
    "sasl.mechanism": "use RISKRELAY_KAFKA_SASL_MECHANISM",
    "sasl.mechanisms": "use RISKRELAY_KAFKA_SASL_MECHANISM",
    "sasl.username": "use RISKRELAY_KAFKA_SASL_USERNAME",
    "sasl.password": "use RISKRELAY_KAFKA_SASL_PASSWORD",
    "ssl.ca.location": "use RISKRELAY_KAFKA_SSL_CA_LOCATION",
    "ssl.certificate.location": "use RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION",
    "ssl.key.location": "use RISKRELAY_KAFKA_SSL_KEY_LOCATION",
    "ssl.key.password": "use RISKRELAY_KAFKA_SSL_KEY_PASSWORD",
    "sasl.oauthbearer.method": "set RISKRELAY_KAFKA_OAUTH_TOKEN_ENDPOINT_URL (OIDC)",
    "sasl.oauthbearer.token.endpoint.url": "use RISKRELAY_KAFKA_OAUTH_TOKEN_ENDPOINT_URL",
    "sasl.oauthbearer.client.id": "use RISKRELAY_KAFKA_OAUTH_CLIENT_ID",
    "sasl.oauthbearer.client.secret": "use RISKRELAY_KAFKA_OAUTH_CLIENT_SECRET",
    "sasl.oauthbearer.scope": "use RISKRELAY_KAFKA_OAUTH_SCOPE",
    "sasl.oauthbearer.extensions": "use RISKRELAY_KAFKA_OAUTH_EXTENSIONS",
}
_PROPERTY_NAME = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)*")
_UNSECURED_JWT = "enable.sasl.oauthbearer.unsecure.jwt"


def _security_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("kafka_security", message)


class KafkaSettings(BaseSettings):
    """Where Kafka is and how to reach it. Without ``bootstrap`` the local tools start an
    embedded broker (plaintext: leave the security settings unset for it).

    The security settings (TLS, SASL PLAIN / SCRAM / OAUTHBEARER with OIDC client
    credentials) apply to every client riskrelay creates (``riskrelay.kafka.config``).
    Combinations are checked here so a wrong one stops the process at start with one
    line naming the variable, rather than as a broker's authentication failure later.
    """

    model_config = _config("RISKRELAY_KAFKA_")

    bootstrap: str | None = None
    embedded: Literal["noida", "tansu"] = "noida"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    client_config: dict[str, SecretStr] = Field(default_factory=dict)
    """Other librdkafka properties for every client, as a JSON object (e.g.
    ``{"client.dns.lookup": "use_all_dns_ips"}``); they win over riskrelay's tuning but
    may not touch ``KAFKA_RESERVED_PROPERTIES``. Values are kept secret (inline PEMs)."""
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = Field(default=None, validate_default=True)
    sasl_username: str | None = Field(default=None, validate_default=True)
    sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    oauth_token_endpoint_url: str | None = Field(default=None, validate_default=True)
    """OIDC token endpoint: OAUTHBEARER tokens by the client-credentials grant."""
    oauth_client_id: str | None = Field(default=None, validate_default=True)
    oauth_client_secret: SecretStr | None = Field(default=None, validate_default=True)
    oauth_scope: str | None = None
    oauth_extensions: str | None = None
    """SASL extensions, ``key=value,...`` (Confluent Cloud: ``logicalCluster=lkc-…,
    identityPoolId=pool-…``)."""
    ssl_ca_location: str | None = None
    """CA bundle (PEM) that signed the brokers' certificates; unset: the system's."""
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = Field(default=None, validate_default=True)
    ssl_key_password: SecretStr | None = None

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("client_config", mode="before")
    @classmethod
    def _property_values_as_text(cls, value: Any) -> Any:
        """librdkafka takes every value as text; JSON true/5 are written as it expects."""
        if not isinstance(value, dict):
            return value
        return {
            key: (str(v).lower() if isinstance(v, bool) else str(v))
            if isinstance(v, bool | int | float)
            else v
            for key, v in value.items()
        }

    @field_validator("client_config")
    @classmethod
    def _no_reserved_properties(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key in value:
            if not _PROPERTY_NAME.fullmatch(key):
                raise _security_error(f"{key!r} is not a librdkafka property name")
            if key in KAFKA_RESERVED_PROPERTIES:
                raise _security_error(
                    f"{key!r} cannot be set here: {KAFKA_RESERVED_PROPERTIES[key]}"
                )
        return value

    @field_validator("sasl_mechanism")
    @classmethod
    def _mechanism_matches_protocol(
        cls, mechanism: SaslMechanism | None, info: ValidationInfo
    ) -> SaslMechanism | None:
        protocol = info.data.get("security_protocol", "PLAINTEXT")
        if protocol in _SASL_PROTOCOLS and mechanism is None:
            raise _security_error(
                f"required with RISKRELAY_KAFKA_SECURITY_PROTOCOL={protocol} "
                "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
            )
        if mechanism is not None and protocol not in _SASL_PROTOCOLS:
            raise _security_error(
                f"{mechanism} needs RISKRELAY_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or "
                f"SASL_PLAINTEXT); it is {protocol}"
            )
        return mechanism

    @field_validator("sasl_username", "sasl_password")
    @classmethod
    def _password_credentials(cls, value: Any, info: ValidationInfo) -> Any:
        mechanism = info.data.get("sasl_mechanism")
        if mechanism in _PASSWORD_MECHANISMS and not _given(value):
            raise _security_error(f"required with RISKRELAY_KAFKA_SASL_MECHANISM={mechanism}")
        if _given(value) and mechanism not in _PASSWORD_MECHANISMS:
            raise _security_error(
                "is used only with RISKRELAY_KAFKA_SASL_MECHANISM PLAIN, SCRAM-SHA-256 or "
                f"SCRAM-SHA-512 (it is {mechanism or 'unset'})"
            )
        return value

    @field_validator("oauth_token_endpoint_url", "oauth_client_id", "oauth_client_secret")
    @classmethod
    def _oidc_credentials(cls, value: Any, info: ValidationInfo) -> Any:
        mechanism = info.data.get("sasl_mechanism")
        extra: dict[str, SecretStr] = info.data.get("client_config") or {}
        unsecured = extra.get(_UNSECURED_JWT, SecretStr("")).get_secret_value() in ("true", "1")
        if mechanism == "OAUTHBEARER" and not _given(value) and not unsecured:
            raise _security_error(
                "required with RISKRELAY_KAFKA_SASL_MECHANISM=OAUTHBEARER (OIDC client "
                "credentials: token endpoint URL, client id and client secret)"
            )
        if _given(value) and mechanism != "OAUTHBEARER":
            raise _security_error(
                "is used only with RISKRELAY_KAFKA_SASL_MECHANISM=OAUTHBEARER "
                f"(it is {mechanism or 'unset'})"
            )
        url = info.field_name == "oauth_token_endpoint_url" and _given(value)
        if url and not str(value).startswith(("https://", "http://")):
            raise _security_error("must be an http(s):// URL")
        return value

    @field_validator("oauth_scope", "oauth_extensions")
    @classmethod
    def _oauth_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        mechanism = info.data.get("sasl_mechanism")
        if value and mechanism != "OAUTHBEARER":
            raise _security_error(
                "is used only with RISKRELAY_KAFKA_SASL_MECHANISM=OAUTHBEARER "
                f"(it is {mechanism or 'unset'})"
            )
        return value

    @field_validator(
        "ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password"
    )
    @classmethod
    def _tls_files(cls, value: Any, info: ValidationInfo) -> Any:
        protocol = info.data.get("security_protocol", "PLAINTEXT")
        if _given(value) and protocol not in _TLS_PROTOCOLS:
            raise _security_error(
                f"needs RISKRELAY_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL; it is {protocol}"
            )
        certificate = info.data.get("ssl_certificate_location")
        if info.field_name == "ssl_key_location" and bool(certificate) != _given(value):
            raise _security_error(
                "required with RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION (a client "
                "certificate needs its key)"
                if certificate
                else "set without RISKRELAY_KAFKA_SSL_CERTIFICATE_LOCATION"
            )
        key = info.data.get("ssl_key_location")
        if info.field_name == "ssl_key_password" and _given(value) and not key:
            raise _security_error("set without RISKRELAY_KAFKA_SSL_KEY_LOCATION")
        return value


def _given(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)


class TopicSettings(BaseSettings):
    """Topic names; ``prefix`` namespaces all of them (e.g. ``staging.``)."""

    model_config = _config("RISKRELAY_TOPIC_")

    prefix: str = ""
    lifecycle: str = "risk.lifecycle.v1"
    payment: str = "risk.payment.v1"
    evaluation: str = "risk.evaluation.v1"
    normalized: str = "risk.normalized.v1"
    deliveries: str = "risk.deliveries.v1"
    event_state: str = "risk.event-state.v1"
    identities: str = "risk.identities.v1"
    profiles: str = "risk.profiles.v1"
    dlq: str = "risk.dlq.v1"
    schemas: str = "_schemas"
    state_retention_ms: int = Field(default=30 * 24 * 3600 * 1000, ge=-1)
    """``retention.ms`` of the state topic, and the age after which the API stops serving
    a snapshot (-1: keep forever)."""

    def name(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    def family_topic(self, family: str) -> str:
        """The input topic of a family (``LIFECYCLE``, ``PAYMENT`` or ``EVALUATION``)."""
        return self.name(getattr(self, family.lower()))

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.name(t) for t in (self.lifecycle, self.payment, self.evaluation))


class RegistrySettings(BaseSettings):
    """Schema registry. Without ``url`` the local tools start the bundled registry."""

    model_config = _config("RISKRELAY_SCHEMA_REGISTRY_")

    url: str | None = None
    port: int = 8081
    username: str | None = Field(default=None, validate_default=True)
    """HTTP basic auth (Confluent Cloud: the Schema Registry API key)."""
    password: SecretStr | None = Field(default=None, validate_default=True)
    ssl_ca_location: str | None = None
    """CA bundle (PEM) for an https registry; unset: the system's."""
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = Field(default=None, validate_default=True)

    @field_validator("username", "password")
    @classmethod
    def _basic_auth(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "username" and value and ":" in value:
            raise _security_error("may not contain ':' (HTTP basic auth)")
        if info.field_name == "password" and bool(info.data.get("username")) != _given(value):
            raise _security_error(
                "required with RISKRELAY_SCHEMA_REGISTRY_USERNAME"
                if info.data.get("username")
                else "set without RISKRELAY_SCHEMA_REGISTRY_USERNAME"
            )
        return value

    @field_validator("ssl_ca_location", "ssl_certificate_location", "ssl_key_location")
    @classmethod
    def _tls_files(cls, value: str | None, info: ValidationInfo) -> str | None:
        url = info.data.get("url") or ""
        if value and url.startswith("http://"):
            raise _security_error("needs an https:// RISKRELAY_SCHEMA_REGISTRY_URL")
        certificate = info.data.get("ssl_certificate_location")
        if info.field_name == "ssl_key_location" and bool(certificate) != bool(value):
            raise _security_error(
                "required with RISKRELAY_SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION"
                if certificate
                else "set without RISKRELAY_SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION"
            )
        return value


class ProviderSettings(BaseSettings):
    """One provider's endpoint, credentials and delivery policy
    (``riskrelay.deliver.policy.ProviderPolicy`` is built from these).

    ``rate_limit_per_s`` defaults to unlimited; the providers' documented limits are
    Unit21 200/s, Stripe 100/s (live mode) and Coinflow about 100/min (``1.67``).

    ``api_key_env`` names another variable that holds the key, so the routing file can say
    where a secret is without holding it; ``RISKRELAY_<PROVIDER>_API_KEY`` still wins.
    A subclass's own fields are that provider's options (the routing file's ``options``).
    """

    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(default=10.0, gt=0)
    enabled: bool = True
    max_concurrency: int = Field(default=64, ge=1)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    retry_initial_delay_s: float = Field(default=0.2, gt=0)
    retry_max_delay_s: float = Field(default=10.0, gt=0)
    retry_max_elapsed_s: float = Field(default=120.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_error_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_window_s: float = Field(default=10.0, gt=0)
    breaker_min_requests: int = Field(default=20, ge=1)
    breaker_open_s: float = Field(default=5.0, gt=0)
    breaker_half_open_probes: int = Field(default=1, ge=1)
    credentials_probe_interval_s: float = Field(default=10.0, gt=0)
    batch_max_events: int = Field(default=1, ge=1)
    """Events per HTTP request where the provider takes batches (1: one per request)."""
    batch_linger_ms: float = Field(default=5.0, ge=0)
    """How long a batchable call waits for others to join it (Kafka's ``linger.ms``)."""

    @model_validator(mode="before")
    @classmethod
    def _key_from_named_variable(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("api_key") and data.get("api_key_env"):
            key = os.environ.get(str(data["api_key_env"]))
            if key:
                return {**data, "api_key": key}
        return data


class CoinflowSettings(ProviderSettings):
    model_config = _config("RISKRELAY_COINFLOW_")

    merchant_id: str | None = None
    """Coinflow merchant id, for redeem calls whose event carries none."""


class Unit21Settings(ProviderSettings):
    model_config = _config("RISKRELAY_UNIT21_")

    batch_max_events: int = Field(default=100, ge=1, le=250)
    """Unit21 takes up to 250 events per ``/v1/events/create`` and allows 200 calls/s:
    batches are on by default (creates only; updates are one ``PUT`` each)."""


class DataspikeSettings(ProviderSettings):
    model_config = _config("RISKRELAY_DATASPIKE_")


class StripeSettings(ProviderSettings):
    model_config = _config("RISKRELAY_STRIPE_")

    stripe_version: str | None = None
    """``Stripe-Version`` header to send instead of the adapter's own (a preview API's
    version moves)."""


class ProvidersSettings(BaseModel):
    model_config = {"frozen": True}

    coinflow: CoinflowSettings = Field(default_factory=CoinflowSettings)
    unit21: Unit21Settings = Field(default_factory=Unit21Settings)
    dataspike: DataspikeSettings = Field(default_factory=DataspikeSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)

    def get(self, name: ProviderName) -> ProviderSettings:
        settings: ProviderSettings = getattr(self, name)
        return settings


class WorkerSettings(BaseSettings):
    model_config = _config("RISKRELAY_WORKER_")

    group_id: str = "riskrelay-worker"
    instance_id: str | None = None
    batch_size: int = Field(default=100, ge=1)
    poll_timeout_s: float = Field(default=0.1, gt=0)
    max_in_flight: int = Field(default=3_000, ge=1)
    commit_interval_s: float = Field(default=0.2, gt=0)
    shutdown_timeout_s: float = Field(default=20.0, ge=0)
    revoke_timeout_s: float = Field(default=10.0, ge=0)
    revoke_commit_timeout_s: float = Field(default=3.0, gt=0)
    ordering: Literal["subject", "partition"] = "subject"
    state_store: Literal["rocksdb", "memory"] = "rocksdb"
    transactional_id: str | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464


class EnrichSettings(BaseSettings):
    """The enrichment stage (docs/enrichment.md): stateless signals and subject profiles.

    The failed-sign-in and velocity windows keep the names of the signals they fill
    (``failed_sign_ins_1h`` counts over ``failed_sign_ins_1h_window_s``), so the signal
    names stay stable in the normalized schema whatever the windows are set to.
    """

    model_config = _config("RISKRELAY_ENRICH_")

    enabled: bool = True
    phone_default_region: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    """Region for phone numbers written without a ``+`` country code (e.g. ``US``)."""
    pii_minimization: bool = False
    """Replace e-mail, phone and IP by keyed hashes on the normalized (analytics) topic;
    providers still receive the clear values."""
    pii_hmac_key: SecretStr | None = Field(default=None, validate_default=True)
    failed_sign_ins_1h_window_s: int = Field(default=3_600, ge=1)
    failed_sign_ins_24h_window_s: int = Field(default=86_400, ge=1)
    velocity_1h_window_s: int = Field(default=3_600, ge=1)
    recent_days: int = Field(default=90, ge=1)
    """A device or IP not seen for this long is new again."""
    max_failed_sign_ins: int = Field(default=100, ge=1)
    max_devices: int = Field(default=20, ge=1)
    max_ips: int = Field(default=20, ge=1)
    max_countries: int = Field(default=10, ge=1)
    max_kind_events: int = Field(default=100, ge=1)
    max_applied: int = Field(default=4, ge=1)
    profile_cache: int = Field(default=1024, ge=0)
    """Subject profiles kept decoded in memory (the most recently used)."""

    @field_validator("pii_hmac_key")
    @classmethod
    def _key_when_minimizing(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Minimization without a key would have to invent one (hashes no run could
        reproduce) or send clear values: neither is acceptable, so it does not start."""
        if info.data.get("pii_minimization") and not (key and key.get_secret_value()):
            raise PydanticCustomError(
                "missing_key", "must be set when RISKRELAY_ENRICH_PII_MINIMIZATION is on"
            )
        return key


class ApiSettings(BaseSettings):
    """The HTTP API. ``keys``: ``name:scope[+scope]:secret,...`` (scopes ``ingest``,
    ``read``), and/or a file of such entries; the API does not start without a key."""

    model_config = _config("RISKRELAY_API_")

    host: str = "127.0.0.1"
    port: int = 8080
    retry_after_s: int = Field(default=1, ge=1)
    view_store: Literal["rocksdb", "memory"] = "rocksdb"
    view_dir: str | None = None
    """Where the RocksDB view lives (default ``<RISKRELAY_DATA_DIR>/api-view``); one per
    API process. It survives restarts, so a restart reads only what is new."""
    view_sweep_interval_s: float = Field(default=60.0, gt=0)
    keys: SecretStr | None = None
    keys_file: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    accepted_max_events: int = Field(default=100_000, ge=1)
    accepted_ttl_s: float = Field(default=300.0, gt=0)


class DevSettings(BaseSettings):
    """Ports of the local stack started by ``riskrelay dev``."""

    model_config = _config("RISKRELAY_DEV_")

    broker_port: int = 9092
    sandbox_base_port: int = 8090
    data_dir: str = ".riskrelay/dev"

    def sandbox_port(self, provider: ProviderName) -> int:
        return self.sandbox_base_port + PROVIDERS.index(provider)


class LogSettings(BaseSettings):
    """Logging of every command (``riskrelay.logging``). ``pii``: keep personal data in
    log lines, for local debugging only; secrets are redacted regardless."""

    model_config = _config("RISKRELAY_LOG_")

    level: Literal["debug", "info", "warning", "error"] = "info"
    pii: bool = False


class Settings(BaseSettings):
    """The root: every component's settings, read from the environment at once."""

    model_config = _config("RISKRELAY_")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    providers: ProvidersSettings = Field(default_factory=ProvidersSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dev: DevSettings = Field(default_factory=DevSettings)
    data_dir: str = Field(default=".riskrelay")
    routing_file: str | None = None
    """YAML or TOML file of routes and provider settings (docs/routing.md). Without it,
    every configured provider receives every event its adapter accepts."""


def load_settings() -> Settings:
    """The environment's settings with the routing file's provider settings applied
    (environment > file > defaults). Any mistake is a ``ConfigError`` of one line."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(environment_error(exc)) from None
    except SettingsError as exc:  # e.g. a value that should be JSON is not
        raise ConfigError(f"bad settings: {exc}") from None
    if settings.routing_file is None:
        return settings
    from riskrelay.routing import load_routing  # the routing file builds on these models

    routing = load_routing(settings.routing_file)
    return settings.model_copy(update={"providers": routing.apply(settings.providers)})


def _settings_models(
    model: type[BaseModel], into: dict[str, type[BaseModel]]
) -> dict[str, type[BaseModel]]:
    into[model.__name__] = model
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            _settings_models(field.annotation, into)
    return into


def environment_error(exc: ValidationError) -> str:
    """``RISKRELAY_UNIT21_TIMEOUT_S: Input should be a valid number (got 'abc')``: the
    error of the sub-model that read the variable names the variable."""
    error = exc.errors(include_url=False)[0]
    model = _settings_models(Settings, {}).get(exc.title, Settings)
    field = str(error["loc"][0]) if error["loc"] else ""
    info = model.model_fields.get(field)
    secret = info is not None and SecretStr in (info.annotation, *get_args(info.annotation))
    got = "" if secret or error["input"] is None else f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    return (
        f"{model.model_config.get('env_prefix', 'RISKRELAY_')}{field.upper()}: {error['msg']}"
        + got
        + (f" (and {more} more)" if more else "")
    )
