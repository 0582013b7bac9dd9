"""Configuration from the environment (12-factor), one frozen model per component.

Every variable starts with ``RISKRELAY_``; the README lists them all. Secrets are
``SecretStr`` so they never reach a log line or a repr.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    dlq: str = "risk.dlq.v1"
    schemas: str = "_schemas"

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
    """

    base_url: str | None = None
    api_key: SecretStr | None = None
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


class CoinflowSettings(ProviderSettings):
    model_config = _config("RISKRELAY_COINFLOW_")


class Unit21Settings(ProviderSettings):
    model_config = _config("RISKRELAY_UNIT21_")


class DataspikeSettings(ProviderSettings):
    model_config = _config("RISKRELAY_DATASPIKE_")


class StripeSettings(ProviderSettings):
    model_config = _config("RISKRELAY_STRIPE_")


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


class ApiSettings(BaseSettings):
    """The HTTP API. ``keys``: ``name:scope[+scope]:secret,...`` (scopes ``ingest``,
    ``read``), and/or a file of such entries; the API does not start without a key."""

    model_config = _config("RISKRELAY_API_")

    host: str = "127.0.0.1"
    port: int = 8080
    retry_after_s: int = Field(default=1, ge=1)
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
    api: ApiSettings = Field(default_factory=ApiSettings)
    dev: DevSettings = Field(default_factory=DevSettings)
    data_dir: str = Field(default=".riskrelay")


def load_settings() -> Settings:
    return Settings()
