"""A scripted stand-in for ``ProviderHttp`` and a sleep that only records."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from riskrelay.deliver.http import classify
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse
from riskrelay.errors import TransientDeliveryError

NETWORK = -1
"""Script entry for a network error (no HTTP status)."""


class ScriptedHttp:
    """Answers each attempt with the next scripted status (the last one repeats).

    Errors are the real classification of ``riskrelay.deliver.http``; every attempt
    "takes" ``duration_s``. ``retry_after`` goes out as the ``Retry-After`` header.
    """

    def __init__(
        self, script: Iterable[int], duration_s: float = 0.0, retry_after: str | None = None
    ) -> None:
        self.script = list(script)
        self.duration_s = duration_s
        self.retry_after = retry_after
        self.sent: list[ProviderRequest] = []
        self.closed = False

    async def attempt(self, request: ProviderRequest) -> tuple[ProviderResponse, Attempt]:
        self.sent.append(request)
        status = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        await asyncio.sleep(0)
        duration_ms = self.duration_s * 1000
        if status == NETWORK:
            error = TransientDeliveryError("network error: ConnectionResetError")
            error.attempt = Attempt(datetime.now(UTC), duration_ms, None, str(error))
            raise error
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        response = ProviderResponse(status, '{"event_id": "e-1"}', headers)
        failure = classify(response)
        attempt = Attempt(
            datetime.now(UTC), duration_ms, status, None if failure is None else str(failure)
        )
        if failure is not None:
            failure.attempt = attempt
            raise failure
        return response, attempt

    async def close(self) -> None:
        self.closed = True


class RecordingSleep:
    """Records back-off delays without waiting (yields to the loop once)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)
