"""The adapter interface every provider implements."""

from __future__ import annotations

from typing import Protocol

from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.models import AvroRecord, Envelope


class ProviderAdapter(Protocol):
    name: str

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Headers that authenticate every request."""
        ...

    def accepts(self, envelope: Envelope) -> bool:
        """Whether this provider takes events of this family and kind at all."""
        ...

    def build_request(self, body: AvroRecord, version: int) -> ProviderRequest:
        """The provider call for one version of a normalized event (a pure function)."""
        ...

    def response_ref(self, response: ProviderResponse) -> str | None:
        """The provider's reference for the delivered event, if its response has one."""
        ...
