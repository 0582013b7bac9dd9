"""The adapter interface every provider implements.

An adapter is pure: it maps a normalized event to HTTP calls and reads identities out of
responses; the dispatcher does the I/O. Most events take one call. An event whose call
needs an identity the provider must create first (a Dataspike applicant) takes two: the
adapter returns the creating call marked ``prerequisite``, the dispatcher sends it, keeps
what ``learn`` reads from the answer, and asks again.
"""

from __future__ import annotations

from typing import Protocol

from riskrelay.deliver.batch import BatchFormat
from riskrelay.deliver.request import NothingToSend, ProviderRequest, ProviderResponse
from riskrelay.models import AvroRecord, Envelope
from riskrelay.state.identities import Identity, IdentityLookup


class ProviderAdapter(Protocol):
    name: str

    @property
    def batch_format(self) -> BatchFormat | None:
        """How the provider takes several calls in one request, if it does (requests the
        adapter marks ``batchable`` then go in batches; ``riskrelay.deliver.batch``)."""
        ...

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Headers that authenticate every request."""
        ...

    def accepts(self, envelope: Envelope) -> bool:
        """Whether this provider takes events of this family and kind at all."""
        ...

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest | NothingToSend:
        """The next call for one version of a normalized event, given the identities
        known so far, or ``NothingToSend`` when the provider already has all it can take.
        Raises ``PermanentDeliveryError`` when the event cannot be sent (e.g. an
        evaluation event for a payment Stripe never saw)."""
        ...

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        """Identities the answer to ``request`` establishes (usually none). Raises
        ``PermanentDeliveryError`` when an answer that must name one does not."""
        ...

    def response_ref(self, response: ProviderResponse) -> str | None:
        """The provider's reference for the delivered event, if its response has one."""
        ...
