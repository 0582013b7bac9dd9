"""The Unit21 adapter through the real delivery stack against the Unit21 sandbox.

Providers are built the production way (``Unit21Settings`` → ``build_provider``) and
events go through ``Dispatcher.deliver``; the sandbox validates every request against
the contract, stores the event (read back with ``GET /v1/events/{id}``) and records the
request, and the tests read both.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider, build_provider
from riskrelay.deliver.providers.unit21 import PAYMENT_EVENTS, Unit21Adapter
from riskrelay.dev.demo import EVALUATION_KINDS, PAYMENT_KINDS, evaluation_event, payment_event
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from riskrelay.settings import Unit21Settings
from riskrelay.state.identities import Identity, IdentityLookup, NoIdentities
from tests.integration.deliver.support import until

KEY = "unit21-contract-key"
WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
SUBJECT = "user-00042"
EXPONENTS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}


@pytest.fixture(scope="module")
def unit21_box() -> Iterator[SandboxThread]:
    config = SandboxConfig(api_key=KEY, processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("unit21", config=config) as box:
        yield box


@pytest.fixture
def unit21(unit21_box: SandboxThread) -> SandboxThread:
    unit21_box.reset()
    return unit21_box


def provider(sandbox: SandboxThread, **policy: Any) -> Provider:
    settings = Unit21Settings(
        base_url=sandbox.base_url,
        api_key=KEY,
        retry_initial_delay_s=0.01,
        retry_max_delay_s=0.05,
        **policy,
    )
    return build_provider(Unit21Adapter(), settings)


class Learned:
    """The identities deliveries have learned so far (the worker's identity table)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def add(self, identities: tuple[Identity, ...]) -> None:
        for identity in identities:
            self.entries[identity.table, identity.key] = identity.value

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))


def deliver(
    sandbox: SandboxThread,
    steps: list[tuple[CanonicalEvent, int]],
    identities: IdentityLookup | None = None,
) -> tuple[list[DeliveryOutcome], list[dict[str, Any] | None]]:
    """Deliver each (event, version) in turn; then read every event back from Unit21."""
    target, known = provider(sandbox), identities or NoIdentities()

    async def scenario() -> tuple[list[DeliveryOutcome], list[dict[str, Any] | None]]:
        dispatcher = Dispatcher([target], WorkerMetrics())
        outcomes = []
        try:
            for event, version in steps:
                assert list(dispatcher.route(event.envelope)) == [target]
                [outcome] = await dispatcher.deliver(
                    [target], event.envelope, event.body, version, known
                )
                if isinstance(known, Learned):
                    known.add(outcome.learned)
                outcomes.append(outcome)
        finally:
            await dispatcher.close()
        stored = [await read_back(sandbox, event.body["event_id"]) for event, _ in steps]
        return outcomes, stored

    return asyncio.run(scenario())


async def read_back(sandbox: SandboxThread, event_id: str) -> dict[str, Any] | None:
    url = f"{sandbox.base_url}/v1/events/{event_id}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"u21-key": KEY}) as response,
    ):
        return await response.json() if response.status == 200 else None


def provider_requests(sandbox: SandboxThread) -> list[dict[str, Any]]:
    """What the pipeline sent (not the tests' own reads)."""
    return [
        r
        for r in sandbox.requests()
        if not r["path"].startswith("/_sandbox/") and r["method"] != "GET"
    ]


def payment(kind: str, seed: int = 5, **changes: Any) -> CanonicalEvent:
    record = payment_event(random.Random(seed), SUBJECT, kind, WHEN)
    record.update(changes)
    return normalize(Family.PAYMENT, record, SourcePosition("risk.payment.v1", 0, 0), WHEN)


def evaluation(kind: str, payment_id: str, seed: int = 5) -> CanonicalEvent:
    record = evaluation_event(random.Random(seed), SUBJECT, kind, WHEN, payment_id)
    return normalize(Family.EVALUATION, record, SourcePosition("risk.evaluation.v1", 0, 0), WHEN)


def major(money: dict[str, Any]) -> float:
    return float(Decimal(money["amount_minor"]) / 10 ** EXPONENTS[money["currency"]])


def changed(event: CanonicalEvent, **payment_changes: Any) -> CanonicalEvent:
    """The same event id with other contents: the next version's body."""
    body = dict(event.body)
    body["payment"] = {**body["payment"], **payment_changes}
    return CanonicalEvent(event.envelope, body)


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_every_payment_kind_is_created_then_updated(unit21: SandboxThread, kind: str) -> None:
    created = payment(kind)
    amount = created.body["payment"]["amount"]
    bigger = {**amount, "amount_minor": amount["amount_minor"] + 1}
    updated = changed(created, status="refunded", amount=bigger)
    outcomes, [stored, _] = deliver(unit21, [(created, 1), (updated, 2)])

    event_id = created.body["event_id"]
    assert [o.delivered for o in outcomes] == [True, True]
    assert [o.endpoint for o in outcomes] == [
        "POST /v1/events/create",
        f"PUT /v1/events/{event_id}/update",
    ]
    assert [o.response_ref for o in outcomes] == [event_id, event_id]
    create, update = provider_requests(unit21)
    assert (create["status"], update["status"]) == (200, 200)
    assert create["json"]["options"] == {"upsert_on_conflict": True}
    sent = create["json"]
    general, data = sent["general_data"], sent["transaction_data"]
    assert general["event_type"] == "transaction"
    assert general["event_time"] == int(WHEN.timestamp())
    assert general["event_subtype"] in {
        "ach", "purchase", "deposit", "withdrawal", "refund", "p2p", "reversal", "debit",
        "loan_issued", "loan_payment",
    }  # fmt: skip
    assert general["status"] == created.body["payment"]["status"]
    assert data["amount"] == major(amount)
    assert data["sent_currency"] == amount["currency"].lower()
    assert sent["custom_data"]["kind"] == kind.lower()
    # what Unit21 now holds is the update, in full
    assert stored is not None
    assert stored["general_data"]["status"] == "refunded"
    assert stored["transaction_data"]["amount"] == major(bigger)
    assert stored["transaction_data"] == {**data, **stored["transaction_data"]}
    assert "options" not in stored


@pytest.mark.parametrize("kind", EVALUATION_KINDS)
def test_every_evaluation_kind_is_created_then_updated_under_its_payment(
    unit21: SandboxThread, kind: str
) -> None:
    paid = payment("PURCHASE")
    payment_id = paid.body["payment"]["payment_id"]
    evaluated = evaluation(kind, payment_id)
    again = CanonicalEvent(evaluated.envelope, {**evaluated.body, "tags": {"round": "2"}})
    outcomes, [_, first, stored] = deliver(
        unit21, [(paid, 1), (evaluated, 1), (again, 2)], Learned()
    )
    assert all(o.delivered for o in outcomes)
    assert outcomes[0].learned == (Identity(PAYMENT_EVENTS, payment_id, paid.body["event_id"]),)
    _, create, update = provider_requests(unit21)
    assert (create["method"], create["status"], update["method"], update["status"]) == (
        "POST",
        200,
        "PUT",
        200,
    )
    sent = create["json"]
    general, data = sent["general_data"], sent["transaction_data"]
    assert general["event_type"] == "transaction"
    assert general["parents"] == [paid.body["event_id"]]
    assert sent["custom_data"]["payment_id"] == payment_id
    assert sent["custom_data"]["kind"] == kind.lower()
    detail = evaluated.body["evaluation"].get(
        {"DISPUTE_OPENED": "dispute", "REFUNDED": "refund"}.get(kind, "")
    )
    assert data["amount"] == (0.0 if detail is None else major(detail["amount"]))
    assert first is not None and stored is not None
    assert stored["general_data"]["tags"] == ["round:2"]
    assert stored["general_data"]["parents"] == [paid.body["event_id"]]


def test_a_redelivered_create_upserts(unit21: SandboxThread) -> None:
    created = payment("PURCHASE")
    outcomes, [stored] = deliver(unit21, [(created, 1)])
    again, _ = deliver(unit21, [(changed(created, status="failed"), 1)])
    assert outcomes[0].delivered and again[0].delivered
    first, second = provider_requests(unit21)
    assert (first["status"], second["status"]) == (200, 200)
    assert first["response"]["previously_existed"] is False
    assert second["response"]["previously_existed"] is True  # an upsert, not a 409
    assert stored is not None


def test_an_update_unit21_is_still_processing_is_retried(unit21: SandboxThread) -> None:
    created = payment("DEPOSIT")
    event_id = created.body["event_id"]
    deliver(unit21, [(created, 1)])
    unit21.set_faults({"error_ratio": {"423": 1.0}, "paths": [f"/v1/events/{event_id}/update"]})
    target = provider(unit21)

    async def scenario() -> DeliveryOutcome:
        dispatcher = Dispatcher([target], WorkerMetrics())
        update = changed(created, status="succeeded")
        task = asyncio.create_task(
            dispatcher.deliver([target], update.envelope, update.body, 2, NoIdentities())
        )
        await until(
            lambda: sum(r["status"] == 423 for r in provider_requests(unit21)) >= 2,
            what="two 423s",
        )
        unit21.clear_faults()
        [outcome] = await asyncio.wait_for(task, 10)
        await dispatcher.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.delivered
    statuses = [a.status_code for a in outcome.result.attempts]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {423} and len(statuses) >= 3


def test_calls_after_the_quota_is_spent_wait_for_the_reset() -> None:
    config = SandboxConfig(api_key=KEY, processing_delay_s=0, rate_limit_per_s=3)
    batch = [payment("PURCHASE", seed=seed) for seed in range(8)]
    with SandboxThread("unit21", config=config) as sandbox:
        target = provider(sandbox, max_concurrency=1, batch_max_events=1)  # a call per event

        async def scenario() -> list[list[DeliveryOutcome]]:
            dispatcher = Dispatcher([target], WorkerMetrics())
            results = await asyncio.gather(
                *(
                    dispatcher.deliver([target], e.envelope, e.body, 1, NoIdentities())
                    for e in batch
                )
            )
            await dispatcher.close()
            return results

        start = time.monotonic()
        results = asyncio.run(scenario())
        elapsed = time.monotonic() - start
        requests = provider_requests(sandbox)
    assert all(outcome.delivered for [outcome] in results)
    # no request was refused: each one after a "Remaining: 0" waited for the next window
    assert [r["status"] for r in requests] == [200] * len(batch)
    per_window = Counter(math.floor(r["received_at"]) for r in requests)
    assert max(per_window.values()) <= 3
    assert len(per_window) >= 3 and elapsed > 1.0  # 8 calls at 3 per one-second window
