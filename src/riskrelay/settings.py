"""Configuration from the environment (12-factor), one frozen model per component.

Every variable starts with ``RISKRELAY_``; the README lists them all. Secrets are
``SecretStr`` so they never reach a log line or a repr. Providers' settings may also come
from the routing file (``RISKRELAY_ROUTING_FILE``, docs/routing.md); the environment wins.
"""

from __future__ import annotations

import os
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


class KafkaSettings(BaseSettings):
    """Where Kafka is. Without ``bootstrap`` the local tools start an embedded broker."""

    model_config = _config("RISKRELAY_KAFKA_")

    bootstrap: str | None = None
    embedded: Literal["noida", "tansu"] = "noida"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=6_000)


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
    batch_size: int = Field(default=500, ge=1)
    poll_timeout_s: float = Field(default=0.1, gt=0)
    max_in_flight: int = Field(default=5_000, ge=1)
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
    max_applied: int = Field(default=16, ge=1)

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
        raise ConfigError(_environment_error(exc)) from None
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


def _environment_error(exc: ValidationError) -> str:
    """``RISKRELAY_UNIT21_TIMEOUT_S: Input should be a valid number (got 'abc')``: the
    error of the sub-model that read the variable names the variable."""
    error = exc.errors(include_url=False)[0]
    model = _settings_models(Settings, {}).get(exc.title, Settings)
    field = str(error["loc"][0]) if error["loc"] else ""
    info = model.model_fields.get(field)
    secret = info is not None and SecretStr in (info.annotation, *get_args(info.annotation))
    got = "" if secret else f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    return (
        f"{model.model_config.get('env_prefix', 'RISKRELAY_')}{field.upper()}: {error['msg']}"
        + got
        + (f" (and {more} more)" if more else "")
    )
