"""Batched calls: many events' calls to one provider in one HTTP request, where the
provider's API takes a batch (Unit21: ``POST /v1/events/create`` with up to 250 events).

Why: every event goes to Unit21, whose documented rate limit is 200 calls/s, and each HTTP
call costs the worker ~60 µs of CPU in aiohttp whatever its size. One call per event caps
a worker at 200 events/s in production and spends a quarter of its CPU on HTTP; a batch
of 15 spends it once.

How, as Kafka's producer does it: calls wait in a queue for at most ``linger_s`` (or
until ``max_items`` wait), then the lane admits one HTTP call for them (breaker, slot,
rate token: one each per HTTP call, not per event) and takes up to ``max_items`` from
the queue at that moment, so under load, while every slot is busy or the rate limit
holds, the next batch grows instead of the queue of calls. A lone call goes out in its
single form, exactly as without batching.

Each call keeps its own retry loop in the lane: a batch that fails for a transient
reason (5xx, 429, timeout) fails every call in it, and each retries with its own
back-off, in whatever batch forms then. A batch the provider refuses as a whole (a 4xx:
Unit21 fails a batch with 400 when one item is invalid) does not judge its calls: each is
sent alone next, so only the invalid one fails (``Sent.split``). A batch answered 2xx is
split into one response per call by the format; a call whose own result is an error
(Unit21: 409) fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from riskrelay.deliver.breaker import Permit
from riskrelay.deliver.http import classify
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse, Sent
from riskrelay.errors import CredentialsError, PermanentDeliveryError, TransientDeliveryError


class BatchFormat(Protocol):
    """How a provider takes several calls in one request (an adapter's ``batch_format``)."""

    max_items: int
    """The provider's limit of calls per batch."""

    def combine(self, requests: Sequence[ProviderRequest]) -> ProviderRequest:
        """One request carrying ``requests`` (at least two), in order."""
        ...

    def split(self, response: ProviderResponse, count: int) -> list[ProviderResponse] | None:
        """The response to each of the ``count`` calls of a batch answered 2xx, in order,
        each as the provider answers that call alone; ``None`` if the answer is not that."""
        ...


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """``max_items`` 1 turns batching off."""

    max_items: int = 1
    linger_s: float = 0.005

    @property
    def enabled(self) -> bool:
        return self.max_items > 1


Admit = Callable[[], Awaitable[Permit]]
"""Waits for the breaker, a concurrency slot and a rate token; the slot stays held."""
AttemptUnder = Callable[[ProviderRequest, Permit], Awaitable[Sent]]
"""One HTTP attempt under a permit (records it with the breaker and the metrics)."""


@dataclass(slots=True)
class _Waiting:
    request: ProviderRequest
    future: asyncio.Future[Sent]
    since: float


class Batcher:
    """One provider's queue of batchable calls and the task that sends them."""

    def __init__(
        self,
        batch_format: BatchFormat,
        policy: BatchPolicy,
        admit: Admit,
        attempt: AttemptUnder,
        release: Callable[[], None],
        observe_size: Callable[[int], None],
    ) -> None:
        self._format = batch_format
        self._max_items = min(policy.max_items, batch_format.max_items)
        self._linger_s = policy.linger_s
        self._admit = admit
        self._attempt = attempt
        self._release = release
        self._observe_size = observe_size
        self._queue: deque[_Waiting] = deque()
        self._ready: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def send(self, request: ProviderRequest) -> Sent:
        """The result of ``request``'s attempt, sent in the next batch."""
        if self._drainer is None:
            self._ready, self._full = asyncio.Event(), asyncio.Event()
            self._drainer = asyncio.create_task(self._drain(), name="batcher")
        assert self._ready is not None and self._full is not None
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(request, future, time.monotonic()))
        self._ready.set()
        if len(self._queue) >= self._max_items:
            self._full.set()
        return await future  # cancelled with its event: the drainer skips it

    async def _drain(self) -> None:
        assert self._ready is not None and self._full is not None
        queue = self._queue
        while True:
            if not queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            remaining = queue[0].since + self._linger_s - time.monotonic()
            if remaining > 0 and len(queue) < self._max_items:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), remaining)
            permit = await self._admit()
            items = self._take()
            if not items:  # every waiting call was cancelled meanwhile
                self._release()
                continue
            task = asyncio.create_task(self._send_batch(items, permit))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _take(self) -> list[_Waiting]:
        items: list[_Waiting] = []
        queue = self._queue
        while queue and len(items) < self._max_items:
            waiting = queue.popleft()
            if not waiting.future.done():
                items.append(waiting)
        return items

    async def _send_batch(self, items: list[_Waiting], permit: Permit) -> None:
        try:
            self._observe_size(len(items))
            if len(items) == 1:
                results = [await self._attempt(items[0].request, permit)]
            else:
                requests = [item.request for item in items]
                sent = await self._attempt(self._format.combine(requests), permit)
                results = self._split(sent, requests)
        except BaseException as exc:  # cancelled (closing), or a bug: fail no call silently
            for item in items:
                if not item.future.done():
                    if isinstance(exc, Exception):
                        item.future.set_exception(exc)
                    else:
                        item.future.cancel()
            raise
        finally:
            self._release()
        for item, result in zip(items, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _split(self, sent: Sent, requests: list[ProviderRequest]) -> list[Sent]:
        error = sent.error
        if error is not None:
            if isinstance(error, PermanentDeliveryError) and not isinstance(
                error, CredentialsError
            ):
                # Refused as a whole: say nothing of each call yet, send each alone.
                return [Sent(None, None, None, sent.probe, split=True) for _ in requests]
            return [sent] * len(requests)  # transient or credentials: the same for all
        assert sent.response is not None and sent.attempt is not None
        batch_attempt = sent.attempt
        responses = self._format.split(sent.response, len(requests))
        if responses is None:
            unreadable = TransientDeliveryError(
                f"HTTP {sent.response.status}: a batch answer that does not name a result "
                f"for each of its {len(requests)} calls: {sent.response.body[:300]}"
            )
            unreadable.attempt = batch_attempt
            return [Sent(None, unreadable, batch_attempt, sent.probe)] * len(requests)
        results: list[Sent] = []
        for request, response in zip(requests, responses, strict=True):
            failure = classify(response, request)
            attempt = Attempt(
                batch_attempt.started_at,
                batch_attempt.duration_ms,
                response.status,
                None if failure is None else str(failure),
            )
            if failure is not None:
                failure.attempt = attempt
                failure.headers = response.headers
                results.append(Sent(None, failure, attempt, sent.probe))
            else:
                results.append(Sent(response, None, attempt, sent.probe))
        return results

    async def close(self) -> None:
        """Stop sending; calls still waiting are cancelled."""
        tasks = [t for t in (self._drainer, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._drainer = None
        while self._queue:
            self._queue.popleft().future.cancel()
