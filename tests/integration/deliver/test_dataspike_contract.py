"""Dataspike through the real delivery stack (settings → ``build_provider`` →
``Dispatcher``) against the real Dataspike sandbox: the applicant map, its crash
recovery through the 409, and both transmon routes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider, build_provider
from riskrelay.deliver.providers.dataspike import (
    APPLICANT_TABLE,
    APPLICANTS_PATH,
    PAYMENT_PATH,
    TRANSACTION_PATH,
    DataspikeAdapter,
)
from riskrelay.dev.demo import payment_event
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from riskrelay.settings import DataspikeSettings
from riskrelay.state.identities import Identity
from tests.integration.deliver.support import KEY, WHEN


class MemoryIdentities:
    """The worker's identity table in miniature: what deliveries learned, by key."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))

    def keep(self, learned: tuple[Identity, ...]) -> None:
        for identity in learned:
            self.entries[(identity.table, identity.key)] = identity.value


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxThread]:
    config = SandboxConfig(api_key=KEY, processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("dataspike", config=config) as sandbox:
        yield sandbox


@pytest.fixture
def dataspike(box: SandboxThread) -> SandboxThread:
    box.reset()
    return box


def provider(sandbox: SandboxThread) -> Provider:
    settings = DataspikeSettings(
        base_url=sandbox.base_url, api_key=KEY, max_attempts=2, retry_initial_delay_s=0.01
    )
    return build_provider(DataspikeAdapter(), settings)


def event(subject: str, kind: str = "PURCHASE", seed: int = 0) -> CanonicalEvent:
    record = payment_event(random.Random(seed), subject, kind, WHEN)
    return normalize(Family.PAYMENT, record, SourcePosition("risk.payment.v1", 0, seed), WHEN)


def deliver(
    sandbox: SandboxThread,
    steps: list[tuple[CanonicalEvent, MemoryIdentities]],
) -> list[DeliveryOutcome]:
    """Deliver each event in turn with its lookup, keeping what each delivery learned
    (the pipeline does the same with the partition's identity table)."""

    async def scenario() -> list[DeliveryOutcome]:
        target = provider(sandbox)
        dispatcher = Dispatcher([target], WorkerMetrics())
        outcomes = []
        for canonical, identities in steps:
            body = {**canonical.body, "version": 1, "operation": "CREATE"}
            [outcome] = await dispatcher.deliver([target], canonical.envelope, body, 1, identities)
            identities.keep(outcome.learned)
            outcomes.append(outcome)
        await dispatcher.close()
        return outcomes

    return asyncio.run(scenario())


def calls(sandbox: SandboxThread) -> list[tuple[str, int]]:
    return [(r["path"], r["status"]) for r in sandbox.requests()]


def response_of(record: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = record["response"]
    return response


def test_first_payment_creates_the_applicant_then_posts_with_its_id(
    dataspike: SandboxThread,
) -> None:
    [outcome] = deliver(dataspike, [(event("user-00001"), MemoryIdentities())])
    assert outcome.delivered, outcome.error
    assert calls(dataspike) == [(APPLICANTS_PATH, 200), (PAYMENT_PATH, 200)]
    create, payment = dataspike.requests()
    applicant_id = response_of(create)["id"]
    assert create["json"]["external_id"] == "user-00001"
    assert create["headers"]["content-type"].startswith("application/json")
    assert payment["json"]["applicant_id"] == applicant_id
    assert outcome.learned == (Identity(APPLICANT_TABLE, "user-00001", applicant_id),)
    assert outcome.endpoint == f"POST {PAYMENT_PATH}"
    assert outcome.response_ref == response_of(payment)["event_id"]
    assert [a.status_code for a in outcome.result.attempts] == [200, 200]


def test_the_next_event_of_the_subject_reuses_its_applicant(dataspike: SandboxThread) -> None:
    identities = MemoryIdentities()
    steps = [(event("user-00002", seed=seed), identities) for seed in range(3)]
    outcomes = deliver(dataspike, steps)
    assert all(o.delivered for o in outcomes)
    assert calls(dataspike) == [(APPLICANTS_PATH, 200)] + [(PAYMENT_PATH, 200)] * 3
    applicant_id = identities.get(APPLICANT_TABLE, "user-00002")
    assert {r["json"]["applicant_id"] for r in dataspike.requests()[1:]} == {applicant_id}
    assert [len(o.learned) for o in outcomes] == [1, 0, 0]


def test_a_lost_mapping_recovers_the_same_applicant_through_the_409(
    dataspike: SandboxThread,
) -> None:
    """The second lookup never saw the first delivery's identity, as after a crash
    between Dataspike's answer and the commit of the mapping."""
    before, after = MemoryIdentities(), MemoryIdentities()
    outcomes = deliver(
        dataspike, [(event("user-00003", seed=1), before), (event("user-00003", seed=2), after)]
    )
    assert all(o.delivered for o in outcomes)
    assert calls(dataspike) == [
        (APPLICANTS_PATH, 200),
        (PAYMENT_PATH, 200),
        (APPLICANTS_PATH, 409),
        (PAYMENT_PATH, 200),
    ]
    created, first, again, second = dataspike.requests()
    applicant_id = response_of(created)["id"]
    assert response_of(again)["id"] == applicant_id
    assert first["json"]["applicant_id"] == second["json"]["applicant_id"] == applicant_id
    assert after.get(APPLICANT_TABLE, "user-00003") == applicant_id
    assert outcomes[1].learned == (Identity(APPLICANT_TABLE, "user-00003", applicant_id),)


@pytest.mark.parametrize("kind", ["DEPOSIT", "WITHDRAWAL", "TRANSFER"])
def test_a_transaction_kind_lands_on_transmon_transaction(
    dataspike: SandboxThread, kind: str
) -> None:
    identities = MemoryIdentities()
    canonical = event("user-00004", kind, seed=3)
    [outcome] = deliver(dataspike, [(canonical, identities)])
    assert outcome.delivered, outcome.error
    assert calls(dataspike) == [(APPLICANTS_PATH, 200), (TRANSACTION_PATH, 200)]
    sent = dataspike.requests()[1]["json"]
    assert sent["applicant_id"] == identities.get(APPLICANT_TABLE, "user-00004")
    assert sent["transaction_type"] == kind
    assert sent["currency_code"] == canonical.body["payment"]["amount"]["currency"]


def test_a_mix_of_subjects_and_kinds_is_accepted_with_one_applicant_each(
    dataspike: SandboxThread,
) -> None:
    identities = MemoryIdentities()
    rng = random.Random(11)
    subjects = [f"user-{n:05d}" for n in range(10, 16)]
    kinds = ["PURCHASE", "DEPOSIT", "WITHDRAWAL", "TRANSFER"]
    steps = [
        (event(rng.choice(subjects), rng.choice(kinds), seed=seed), identities)
        for seed in range(60)
    ]
    outcomes = deliver(dataspike, steps)
    assert all(o.delivered for o in outcomes), [str(o.error) for o in outcomes if o.error]
    recorded = dataspike.requests()
    assert all(200 <= r["status"] < 300 for r in recorded), calls(dataspike)
    creates = [r["json"]["external_id"] for r in recorded if r["path"] == APPLICANTS_PATH]
    used = {canonical.envelope.subject_id for canonical, _ in steps}
    assert sorted(creates) == sorted(used)
    events = [r for r in recorded if r["path"] != APPLICANTS_PATH]
    assert len(events) == len(steps)
    assert [o.response_ref for o in outcomes] == [response_of(r)["event_id"] for r in events]
