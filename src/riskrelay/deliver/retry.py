"""Retry policy for one provider call: exponential backoff with full jitter, honouring
``Retry-After``, bounded by attempts and by elapsed time (tenacity does the looping)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from riskrelay.deliver.http import ProviderHttp
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse
from riskrelay.errors import DeliveryError, TransientDeliveryError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_elapsed_s: float = 60.0


@dataclass(frozen=True, slots=True)
class CallResult:
    """Every attempt, and either the successful response or the final error."""

    attempts: list[Attempt]
    response: ProviderResponse | None
    error: DeliveryError | None


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    jitter = wait_random_exponential(multiplier=policy.initial_delay_s, max=policy.max_delay_s)

    def wait(state: RetryCallState) -> float:
        delay = jitter(state)
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after_s", None)
        return max(delay, retry_after) if retry_after is not None else delay

    return wait


async def call_with_retry(
    http: ProviderHttp,
    request: ProviderRequest,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> CallResult:
    attempts: list[Attempt] = []

    async def once() -> ProviderResponse:
        try:
            response, attempt = await http.attempt(request)
        except DeliveryError as error:
            if error.attempt is not None:
                attempts.append(error.attempt)
            raise
        attempts.append(attempt)
        return response

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientDeliveryError),
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_elapsed_s),
        wait=_wait(policy),
        sleep=sleep,
        reraise=True,
    )
    try:
        response: ProviderResponse = await retrying(once)
    except DeliveryError as error:
        return CallResult(attempts, None, error)
    return CallResult(attempts, response, None)
