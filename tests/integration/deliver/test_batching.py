"""Unit21 creates in batches, against the real Unit21 sandbox: each event is stored once
and gets its own answer, one invalid event fails alone, an outage is retried in batches."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider
from riskrelay.deliver.providers.unit21 import PAYMENT_EVENTS
from riskrelay.deliver.request import ProviderRequest
from riskrelay.deliver.retry import CallResult
from riskrelay.dev.demo import payment_event
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.server import SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.state.identities import NoIdentities
from tests.integration.deliver.support import WHEN, SandboxFactory, events, provider


def payments(count: int) -> list[CanonicalEvent]:
    rng = random.Random(3)
    source = SourcePosition("risk.payment.v1", 0, 0)
    return [
        normalize(
            Family.PAYMENT, payment_event(rng, f"user-{i:05d}", "PURCHASE", WHEN), source, WHEN
        )
        for i in range(count)
    ]


def deliver(target: Provider, batch: list[CanonicalEvent]) -> list[DeliveryOutcome]:
    async def scenario() -> list[DeliveryOutcome]:
        dispatcher = Dispatcher([target], WorkerMetrics())
        try:
            found = await asyncio.gather(
                *(
                    dispatcher.deliver([target], e.envelope, e.body, 1, NoIdentities())
                    for e in batch
                )
            )
        finally:
            await dispatcher.close()
        return [outcome for [outcome] in found]

    return asyncio.run(scenario())


def stored_ids(sandbox: SandboxThread, status: int = 200) -> list[str]:
    return [
        r["json"]["general_data"]["event_id"]
        for r in per_event(sandbox.requests())
        if r["status"] == status
    ]


def test_concurrent_creates_share_requests_and_each_event_gets_its_own_answer(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory()
    batch = payments(120)
    outcomes = deliver(provider(sandbox, batch_max_events=100), batch)
    expected = [e.envelope.event_id for e in batch]
    assert all(o.delivered for o in outcomes), [str(o.error) for o in outcomes][:3]
    assert [o.response_ref for o in outcomes] == expected
    # what each payment taught (its Unit21 parent event) is its own
    assert [o.learned[0].value for o in outcomes] == expected
    assert {o.learned[0].table for o in outcomes} == {PAYMENT_EVENTS}
    assert sorted(stored_ids(sandbox)) == sorted(expected)
    requests = sandbox.requests()
    assert len(requests) <= 4, [len(r["json"].get("events", [1])) for r in requests]
    assert max(len(r["json"].get("events", [r["json"]])) for r in requests) <= 100
    assert sandbox.stats()["events"] == 120


def test_an_invalid_event_in_a_batch_fails_alone(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory()
    target = provider(sandbox, batch_max_events=50)
    batch = events(12)
    good = [target.adapter.build_request(e.body, 1, NoIdentities()) for e in batch]
    assert all(isinstance(r, ProviderRequest) and r.batchable for r in good)
    broken: Any = orjson.loads(orjson.dumps(good[5].json))
    broken["general_data"]["event_time"] *= 1000  # milliseconds: the sandbox refuses it
    requests = [*good[:5], ProviderRequest("POST", "/v1/events/create", broken, batchable=True)]
    requests += good[6:]

    async def scenario() -> list[CallResult]:
        try:
            return list(await asyncio.gather(*(target.lane.call(r) for r in requests)))
        finally:
            await target.lane.close()

    results = asyncio.run(scenario())
    assert [r.error is None for r in results] == [i != 5 for i in range(12)]
    assert results[5].error is not None and results[5].error.status == 400
    assert "event_time" in str(results[5].error)
    raw = sandbox.requests()
    assert raw[0]["status"] == 400 and len(raw[0]["json"]["events"]) == 12
    assert len(raw) == 13  # the refused batch, then each event alone
    expected = [e.envelope.event_id for i, e in enumerate(batch) if i != 5]
    assert sorted(stored_ids(sandbox)) == sorted(expected)


def test_an_outage_is_retried_in_batches_and_nothing_fails(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory({"outage": {"status": 503, "duration_s": 1.5, "retry_after": 1}})
    target = provider(sandbox, batch_max_events=100, retry_initial_delay_s=0.05)
    batch = events(200)
    outcomes = deliver(target, batch)
    assert all(o.delivered for o in outcomes)
    assert all(o.result.attempts[0].status_code == 503 for o in outcomes)
    assert sorted(stored_ids(sandbox)) == sorted(e.envelope.event_id for e in batch)
    refused = [r for r in sandbox.requests() if r["status"] == 503]
    assert len(refused) < 40, "each event retried on its own instead of in batches"
