"""The Stripe adapter through the real delivery stack (settings → ``build_provider`` →
``Dispatcher``) against the Stripe sandbox: evaluations created and learned, every
evaluation kind reported to them, intervention keys carried from raised to resolved,
idempotent replays of redeliveries, refusals, and the test-mode rate limit."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, build_provider
from riskrelay.deliver.providers.stripe import (
    EVALUATIONS,
    INTERVENTIONS,
    STRIPE_VERSION,
    StripeAdapter,
    idempotency_key,
)
from riskrelay.dev.demo import evaluation_event, payment_event
from riskrelay.enrich.stateless import EnrichOptions, enrich
from riskrelay.errors import PermanentDeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.forms import parse_form
from riskrelay.sandbox.stripe import DEFAULT_API_KEY
from riskrelay.settings import StripeSettings
from riskrelay.state.identities import Identity

WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
SUBJECT = "user-00042"
REPORTED = (
    "DISPUTE_OPENED",
    "EARLY_FRAUD_WARNING_RECEIVED",
    "REFUNDED",
    "USER_INTERVENTION_RAISED",
    "USER_INTERVENTION_RESOLVED",
)


@pytest.fixture(scope="module")
def stripe_box() -> Iterator[SandboxThread]:
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("stripe", config=config) as box:
        yield box


@pytest.fixture
def stripe(stripe_box: SandboxThread) -> SandboxThread:
    stripe_box.reset()
    return stripe_box


class Identities:
    """The worker's identity table for one partition, in memory."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, table: str, key: str) -> str | None:
        return self.entries.get((table, key))

    def keep(self, learned: tuple[Identity, ...]) -> None:
        self.entries.update({(i.table, i.key): i.value for i in learned})


class Desk:
    """One Stripe provider built the production way, delivering one event at a time and
    keeping what each delivery learned, as the pipeline does."""

    def __init__(self, sandbox: SandboxThread, **policy: Any) -> None:
        settings = StripeSettings(
            base_url=sandbox.base_url,
            api_key=DEFAULT_API_KEY,
            retry_initial_delay_s=0.01,
            retry_max_delay_s=0.05,
            **policy,
        )
        self.provider = build_provider(StripeAdapter(), settings)
        self.dispatcher = Dispatcher([self.provider], WorkerMetrics())
        self.identities = Identities()

    async def send(
        self, event: CanonicalEvent, identities: Identities | None = None
    ) -> DeliveryOutcome:
        known = self.identities if identities is None else identities
        routed = self.dispatcher.route(event.envelope)
        assert list(routed) == [self.provider]
        body = {**event.body, "version": 1, "operation": "CREATE"}
        [outcome] = await self.dispatcher.deliver(routed, event.envelope, body, 1, known)
        known.keep(outcome.learned)
        return outcome


def payment(payment_id: str, seed: int = 1) -> CanonicalEvent:
    record = payment_event(random.Random(seed), SUBJECT, "PURCHASE", WHEN, payment_id=payment_id)
    return normalize(Family.PAYMENT, record, SourcePosition("risk.payment.v1", 0, 0), WHEN)


def reported(kind: str, payment_id: str, seed: int = 1) -> CanonicalEvent:
    record = evaluation_event(
        random.Random(seed), SUBJECT, kind, WHEN, payment_id, intervention_id="intv-1"
    )
    return normalize(Family.EVALUATION, record, SourcePosition("risk.evaluation.v1", 0, 0), WHEN)


def calls(sandbox: SandboxThread) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if not r["path"].startswith("/_sandbox/")]


@pytest.mark.parametrize("with_enrichment", [True, False], ids=["enriched", "not-enriched"])
def test_a_payment_with_a_malformed_email_and_country_is_evaluated_without_them(
    stripe: SandboxThread, with_enrichment: bool
) -> None:
    """Normalization keeps a malformed e-mail, phone and country; Stripe gets the payment
    without them (it refuses such values, which would cost the payment its evaluation)."""
    record = payment_event(random.Random(1), SUBJECT, "PURCHASE", WHEN, payment_id="pay-bad")
    record["user"] = {**record["user"], "email": "not-an-email", "phone": "12"}
    record["shipping_address"] = {**record["shipping_address"], "country": "ZZ"}
    event = normalize(Family.PAYMENT, record, SourcePosition("risk.payment.v1", 0, 0), WHEN)
    assert event.body["user"]["email"] == "not-an-email"  # kept by normalization
    if with_enrichment:
        body = enrich(event.body, EnrichOptions(ip_country=None))
        event = CanonicalEvent(event.envelope, body)

    async def scenario() -> DeliveryOutcome:
        desk = Desk(stripe)
        outcome = await desk.send(event)
        await desk.dispatcher.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.delivered, outcome.error
    [create] = calls(stripe)
    assert create["status"] == 200
    params = parse_form(create["body"].encode())
    user = event.body["user"]
    assert params["customer_details"] == {"name": f"{user['first_name']} {user['last_name']}"}
    address = params["payment_details"]["shipping_details"]["address"]
    assert "country" not in address
    assert address["line1"] == event.body["payment"]["shipping_address"]["street"]


def test_a_payment_and_every_evaluation_kind(stripe: SandboxThread) -> None:
    purchase = payment("pay-1")
    events = [reported(kind, "pay-1", seed) for seed, kind in enumerate(REPORTED)]

    async def scenario() -> list[DeliveryOutcome]:
        desk = Desk(stripe)
        outcomes = [await desk.send(event) for event in [purchase, *events]]
        await desk.dispatcher.close()
        return outcomes

    created, *outcomes = asyncio.run(scenario())
    assert created.delivered, created.error
    evaluation_id = created.response_ref
    assert evaluation_id is not None and evaluation_id.startswith("peval_")
    assert created.learned == (Identity(EVALUATIONS, "pay-1", evaluation_id),)

    [create, *reports] = calls(stripe)
    assert (create["method"], create["path"]) == ("POST", "/v1/radar/payment_evaluations")
    assert create["headers"]["stripe-version"] == STRIPE_VERSION
    assert create["headers"]["idempotency-key"] == idempotency_key(purchase.envelope.event_id, 1)
    basic = "Basic " + base64.b64encode(f"{DEFAULT_API_KEY}:".encode()).decode()
    assert create["headers"]["authorization"].endswith(basic[-4:])
    params = parse_form(create["body"].encode())
    amount = purchase.body["payment"]["amount"]
    assert params["payment_details"]["amount"] == str(amount["amount_minor"])
    assert params["payment_details"]["currency"] == amount["currency"].lower()
    assert params["metadata"]["payment_id"] == "pay-1"
    assert params["metadata"]["event_id"] == purchase.envelope.event_id

    path = f"/v1/payment_evaluations/{evaluation_id}/report_events"
    assert [r["path"] for r in reports] == [path] * len(REPORTED)
    assert all(o.delivered and o.response_ref == evaluation_id for o in outcomes), outcomes
    raised, resolved = outcomes[3], outcomes[4]
    [key] = [i.value for i in raised.learned]
    assert raised.learned == (Identity(INTERVENTIONS, "intv-1", key),)
    sent = parse_form(reports[4]["body"].encode())["events"][0]["user_intervention_resolved"]
    assert sent["key"] == key
    assert resolved.learned == ()

    final = reports[-1]["response"]
    assert [e["type"] for e in final["events"]] == [kind.lower() for kind in REPORTED]
    assert final["events"][3]["user_intervention_raised"]["key"] == key
    assert final["events"][4]["user_intervention_resolved"]["key"] == key
    assert all(e["occurred_at"] == int(WHEN.timestamp()) for e in final["events"])


def test_redeliveries_are_replayed_not_repeated(stripe: SandboxThread) -> None:
    """A crash between Stripe's answer and the commit loses the delivery and what it
    learned; the same event version is sent again and Stripe replays its answer."""
    purchase, raised = payment("pay-2"), reported("USER_INTERVENTION_RAISED", "pay-2")
    dispute = reported("DISPUTE_OPENED", "pay-2", seed=9)

    async def scenario() -> list[DeliveryOutcome]:
        desk = Desk(stripe)
        first = await desk.send(purchase)
        again = await desk.send(purchase, Identities())  # the restarted worker knows nothing
        raised_first = await desk.send(raised)
        after_crash = Identities()
        after_crash.keep(first.learned)  # the payment's evaluation was committed
        raised_again = await desk.send(raised, after_crash)
        last = await desk.send(dispute)
        await desk.dispatcher.close()
        return [first, again, raised_first, raised_again, last]

    first, again, raised_first, raised_again, last = asyncio.run(scenario())
    assert all(o.delivered for o in (first, again, raised_first, raised_again, last))
    for original, replay in ((first, again), (raised_first, raised_again)):
        assert original.result.response is not None and replay.result.response is not None
        assert "Idempotent-Replayed" not in original.result.response.headers
        assert replay.result.response.headers["Idempotent-Replayed"] == "true"
        assert replay.response_ref == original.response_ref
        assert replay.learned == original.learned and replay.learned
    created = [r for r in calls(stripe) if r["path"] == "/v1/radar/payment_evaluations"]
    assert len(created) == 2 and len({r["response"]["id"] for r in created}) == 1
    assert last.result.response is not None
    events = orjson.loads(last.result.response.body)["events"]
    assert [e["type"] for e in events] == ["user_intervention_raised", "dispute_opened"]


def test_events_stripe_cannot_place_are_refused_without_a_call(stripe: SandboxThread) -> None:
    async def scenario() -> list[DeliveryOutcome]:
        desk = Desk(stripe, retry_max_elapsed_s=0.3)  # how long an event awaits its payment
        unknown = await desk.send(reported("REFUNDED", "pay-never-sent"))
        await desk.send(payment("pay-3"))
        unraised = await desk.send(reported("USER_INTERVENTION_RESOLVED", "pay-3"))
        await desk.dispatcher.close()
        return [unknown, unraised]

    unknown, unraised = asyncio.run(scenario())
    assert isinstance(unknown.error, PermanentDeliveryError)
    assert str(unknown.error).startswith(
        "no Stripe payment evaluation for payment pay-never-sent"
        " (the payment was not delivered to Stripe) (waited "
    )
    assert isinstance(unraised.error, PermanentDeliveryError)
    assert str(unraised.error).startswith("no Stripe key for intervention intv-1")
    assert unknown.result.attempts == [] and unraised.result.attempts == []
    assert [r["path"] for r in calls(stripe)] == ["/v1/radar/payment_evaluations"]


def test_the_rate_limit_is_retried_after_its_retry_after() -> None:
    """Stripe's test-mode limit, scaled down (5/s) so the test stays short and cannot
    miss it: 12 payments at once are more than two one-second windows hold. The breaker
    is kept out of it (by default 5 straight 429s open it for 5 s: also a delay, but
    not the retry behaviour under test)."""
    config = SandboxConfig(processing_delay_s=0, rate_limit_per_s=5)
    payments = [payment(f"pay-limit-{i}", seed=i) for i in range(12)]
    with SandboxThread("stripe", config=config) as box:

        async def scenario() -> list[DeliveryOutcome]:
            desk = Desk(box, breaker_failure_threshold=100, breaker_min_requests=100)
            outcomes = await asyncio.gather(*(desk.send(event) for event in payments))
            await desk.dispatcher.close()
            return list(outcomes)

        outcomes = asyncio.run(scenario())
        recorded = calls(box)
    assert all(o.delivered for o in outcomes), [str(o.error) for o in outcomes]
    assert len({o.response_ref for o in outcomes}) == 12
    limited = [o for o in outcomes if o.result.attempts[0].status_code == 429]
    assert limited, "the burst never hit the limit"
    assert all(o.result.attempts[-1].status_code == 200 for o in limited)
    refused = sorted(r["received_at"] for r in recorded if r["status"] == 429)
    accepted = sorted(r["received_at"] for r in recorded if r["status"] == 200)
    assert accepted[-1] - refused[0] >= 0.5  # waited for the next window, not hammered
