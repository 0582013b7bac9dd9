"""One provider's delivery policy as a single frozen object, built once from settings.

Settings are flat environment variables (``RISKRELAY_UNIT21_MAX_ATTEMPTS``...); the
policy groups them by the part that uses them, so the breaker and the retry loop each
take only their own piece and tests can build either without the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riskrelay.deliver.batch import BatchPolicy
from riskrelay.deliver.breaker import BreakerPolicy
from riskrelay.deliver.retry import RetryPolicy
from riskrelay.settings import ProviderSettings


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    """Limits, retries and breaker of one provider (defaults = ``ProviderSettings``'s)."""

    max_concurrency: int = 64
    rate_limit_per_s: float | None = None
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    batch: BatchPolicy = field(default_factory=BatchPolicy)

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> ProviderPolicy:
        s = settings
        return cls(
            max_concurrency=s.max_concurrency,
            rate_limit_per_s=s.rate_limit_per_s,
            timeout_s=s.timeout_s,
            retry=RetryPolicy(
                max_attempts=s.max_attempts,
                initial_delay_s=s.retry_initial_delay_s,
                max_delay_s=s.retry_max_delay_s,
                max_elapsed_s=s.retry_max_elapsed_s,
            ),
            breaker=BreakerPolicy(
                failure_threshold=s.breaker_failure_threshold,
                error_ratio=s.breaker_error_ratio,
                window_s=s.breaker_window_s,
                min_requests=s.breaker_min_requests,
                open_s=s.breaker_open_s,
                half_open_probes=s.breaker_half_open_probes,
                credentials_probe_interval_s=s.credentials_probe_interval_s,
            ),
            batch=BatchPolicy(max_items=s.batch_max_events, linger_s=s.batch_linger_ms / 1000),
        )
