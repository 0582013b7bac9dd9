"""The exception tree. Every error riskrelay raises derives from ``RiskRelayError``::

    RiskRelayError
    ├── ConfigError              bad settings or routing file (CLI: one line, exit 2)
    ├── BrokerError              the embedded broker would not start or answer
    ├── RegistryError            schema registry unreachable or refused a schema
    ├── InputError               a record that cannot be processed (goes to the DLQ)
    │   ├── DecodeError          not Confluent wire format, unknown schema id, bad Avro
    │   ├── ValidationError      decoded, but a field breaks the contract
    │   └── UnknownEventError    an event kind nobody handles
    └── DeliveryError            a provider call failed
        ├── TransientDeliveryError   worth retrying (network, timeout, 408/425/429/5xx)
        ├── CredentialsError         401/403: our credentials are wrong, not the event
        └── PermanentDeliveryError   the provider refused this event (other 4xx)

Third-party exceptions (librdkafka, aiohttp, fastavro) are mapped to these at the
boundary of the package that talks to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskrelay.deliver.request import Attempt


class RiskRelayError(Exception):
    """Root of every riskrelay error."""


class ConfigError(RiskRelayError):
    pass


class BrokerError(RiskRelayError):
    pass


class RegistryError(RiskRelayError):
    pass


class InputError(RiskRelayError):
    """A record that cannot be processed. ``reason`` is the DLQ reason code."""

    reason = "invalid_input"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class DecodeError(InputError):
    reason = "undecodable"


class ValidationError(InputError):
    reason = "invalid_field"


class UnknownEventError(InputError):
    reason = "unknown_event_type"


class DeliveryError(RiskRelayError):
    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempt: Attempt | None = None
        self.headers: dict[str, str] = {}  # of the response, when there was one


class TransientDeliveryError(DeliveryError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    pass


class AwaitingIdentityError(DeliveryError):
    """The event needs an identity another input topic's event establishes (a Stripe
    evaluation event needs its payment's evaluation, and payments arrive on another
    topic, in no order relative to evaluations). The event waits for it, bounded."""


class CredentialsError(DeliveryError):
    """401/403. The event is fine; our key is not. Never a reason to dead-letter."""
