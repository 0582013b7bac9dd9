"""What an adapter asks the HTTP layer to send, and what came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from riskrelay.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One HTTP call. ``headers`` add to (and may replace) the provider's auth headers.

    ``prerequisite``: the call only establishes an identity the event's own call needs
    (e.g. a Dataspike applicant); the dispatcher then asks the adapter for the next call.
    ``accept_statuses``: non-2xx statuses that are an answer for this call, not a failure
    (e.g. 409 from an applicant create whose body names the existing applicant).
    ``retry_statuses``: statuses that are transient for this call only (e.g. Unit21's 423
    on an update of an event it has not finished processing).
    ``route``: the path with its ids as placeholders (``/v1/events/{event_id}/update``),
    for the ``endpoint`` label of the request metrics, which must not carry ids. Leave it
    ``None`` when the path holds no id.
    ``batchable``: the provider may take this call together with others of its kind in
    one request (its adapter's ``batch_format`` says how; ``riskrelay.deliver.batch``).
    """

    method: str
    path: str
    json: Any = None
    form: list[tuple[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prerequisite: bool = False
    accept_statuses: frozenset[int] = frozenset()
    retry_statuses: frozenset[int] = frozenset()
    route: str | None = None
    batchable: bool = False

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class NothingToSend:
    """An adapter's answer when the provider already has all it can take of this event
    (e.g. a new version of a payment whose Stripe evaluation exists: Stripe cannot
    update one). The delivery is complete without a call; ``reason`` says why."""

    reason: str

    @property
    def endpoint(self) -> str:
        return f"none: {self.reason}"


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None

    def as_record(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt's result for one call, and whether it was a half-open probe.

    ``split``: the call went out in a batch the provider refused as a whole; it has not
    been judged on its own yet, so the lane sends it alone (``riskrelay.deliver.batch``).
    """

    response: ProviderResponse | None
    error: DeliveryError | None
    attempt: Attempt | None
    probe: bool
    split: bool = False
