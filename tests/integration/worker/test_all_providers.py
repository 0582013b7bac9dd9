"""All four providers end to end: a mixed stream of the three families through the real
broker, registry, worker and provider sandboxes, routed by the shipped routing file.

Checks, per provider, that exactly the events the routing file names arrive, in each
subject's order; that Dataspike applicants are created once per subject; that Stripe
evaluation events go to the evaluation of their payment and a resolved intervention
carries the key Stripe returned for its raised one.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml

from riskrelay.dev.demo import demo_stream
from riskrelay.kafka.embedded import free_port
from riskrelay.kafka.topics import ensure_topics, topic_specs
from riskrelay.models import AvroRecord, Family
from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from riskrelay.sandbox.unit21 import per_event
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import (
    CoinflowSettings,
    DataspikeSettings,
    ProvidersSettings,
    RegistrySettings,
    Settings,
    StripeSettings,
    Unit21Settings,
    WorkerSettings,
)
from tests.fixtures.pipeline import WorkerThread, wait_for

ROUTING_FILE = Path(__file__).resolve().parents[3] / "config" / "routing.yaml"
KEYS = {
    "coinflow": "test-coinflow-key",
    "unit21": "test-unit21-key",
    "dataspike": "test-dataspike-key",
    "stripe": "sk_test_e2e",
}
# What each adapter takes at all (docs/providers.md), independently of the routing file.
TAKES: dict[str, Callable[[Family, str], bool]] = {
    "coinflow": lambda f, k: (
        (f is Family.LIFECYCLE and k in COINFLOW_LIFECYCLE)
        or (f is Family.PAYMENT and k == "redeem")
    ),
    "unit21": lambda f, k: True,
    "dataspike": lambda f, k: (
        f is Family.PAYMENT and k in ("purchase", "deposit", "withdrawal", "transfer")
    ),
    "stripe": lambda f, k: f is Family.EVALUATION or (f is Family.PAYMENT and k in STRIPE_PAYMENTS),
}
COINFLOW_LIFECYCLE = ("sign_up", "sign_in", "sign_in_failure", "buyer_challenge")
STRIPE_PAYMENTS = ("purchase", "deposit")
EVENTS = 2_000


def routed(routes: dict[str, Any], family: Family, kind: str) -> set[str]:
    """The providers the routing file names for an event, among those that take it."""
    table = routes.get(family.value.lower())
    names = set(TAKES) if table is None else set(table.get(kind, table.get("*", [])))
    return {name for name in names if TAKES[name](family, kind)}


@pytest.fixture
def sandboxes() -> Iterator[dict[str, SandboxThread]]:
    started: dict[str, SandboxThread] = {}
    try:
        for name, key in KEYS.items():
            config = SandboxConfig(api_key=key, processing_delay_s=0, rate_limit_per_s=0)
            started[name] = SandboxThread(name, config=config).start()
        yield started
    finally:
        for sandbox in started.values():
            sandbox.stop()


def all_provider_settings(
    settings: Settings, registry_url: str, sandboxes: dict[str, SandboxThread]
) -> Settings:
    def conf(name: str) -> dict[str, Any]:
        # Explicit values win over the routing file's (its rate limits are the real
        # providers'; the sandboxes here have none).
        return {
            "base_url": sandboxes[name].base_url,
            "api_key": KEYS[name],
            "rate_limit_per_s": 10_000,
        }

    return settings.model_copy(
        update={
            "registry": RegistrySettings(url=registry_url),
            "routing_file": str(ROUTING_FILE),
            "providers": ProvidersSettings(
                coinflow=CoinflowSettings(**conf("coinflow")),
                unit21=Unit21Settings(**conf("unit21")),
                dataspike=DataspikeSettings(**conf("dataspike")),
                stripe=StripeSettings(**conf("stripe")),
            ),
            "worker": WorkerSettings(
                group_id=f"test-{uuid.uuid4().hex[:8]}",
                metrics_port=free_port(),
                state_store="memory",
            ),
        }
    )


def calls(sandbox: SandboxThread, prefix: str) -> list[dict[str, Any]]:
    """Requests under ``prefix``, a Unit21 batch as one per event it carried."""
    return [r for r in per_event(sandbox.requests()) if r["path"].startswith(prefix)]


def form(request: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(request["body"], keep_blank_values=True))


def idempotent_event_id(request: dict[str, Any]) -> str:
    """Stripe calls carry ``riskrelay:<event id>:v<version>``."""
    return str(request["headers"]["idempotency-key"].split(":")[1])


def test_a_mixed_stream_reaches_exactly_the_routed_providers_in_subject_order(
    settings: Settings,
    registry_url: str,
    sandboxes: dict[str, SandboxThread],
    worker_factory: Callable[..., WorkerThread],
) -> None:
    routes = yaml.safe_load(ROUTING_FILE.read_text())["routes"]
    stream = list(demo_stream(EVENTS, seed=21))
    kinds = {(family, event["event_type"]) for family, event in stream}
    assert len(kinds) == 17 + 10 + 5  # every kind of every family

    pipeline = all_provider_settings(settings, registry_url, sandboxes)
    assert pipeline.kafka.bootstrap and pipeline.registry.url
    ensure_topics(pipeline.kafka.bootstrap, topic_specs(pipeline))
    with EventProducer(
        pipeline.kafka.bootstrap, pipeline.registry.url, pipeline.topics
    ) as producer:
        for family, event in stream:
            producer.send(family, event)

    expected: dict[str, list[tuple[Family, AvroRecord]]] = defaultdict(list)
    for family, event in stream:
        for provider in routed(routes, family, event["event_type"].lower()):
            expected[provider].append((family, event))
    # Stripe answers later versions with nothing to send (no call): see docs/providers.md.
    expected["stripe"] = [(f, e) for f, e in expected["stripe"] if e["operation"] == "CREATE"]

    worker = worker_factory(pipeline)
    total = sum(len(routed(routes, f, e["event_type"].lower())) for f, e in stream)

    def outcomes() -> dict[tuple[str, str], float]:
        return {
            (p, o): worker.counter("riskrelay_provider_deliveries", provider=p, outcome=o)
            for p in KEYS
            for o in ("delivered", "failed")
        }

    try:
        wait_for(lambda: sum(outcomes().values()) >= total, 120, "every routed delivery")
    except AssertionError:
        want = Counter(p for p, events in expected.items() for _ in events)
        raise AssertionError(f"{total} deliveries expected ({want}), got {outcomes()}") from None
    bad = [r for s in sandboxes.values() for r in s.requests() if r["status"] >= 300][:3]
    from tests.fixtures.pipeline import read_topic

    dl = read_topic(pipeline, pipeline.topics.name(pipeline.topics.dlq), "dlq", 3, 5)
    print("DEBUG", bad, [(r["reason"], r["provider"], r["message"]) for _, r in dl])
    for provider in KEYS:
        assert (
            worker.counter("riskrelay_provider_deliveries", provider=provider, outcome="failed")
            == 0
        )

    # Unit21: every event once by id (create), updates by PUT, in subject order.
    unit21 = calls(sandboxes["unit21"], "/v1/events")
    received = [
        (r["json"]["general_data"]["event_id"], r["method"]) for r in unit21 if r["status"] < 300
    ]
    want = [
        (e["event_id"], "POST" if e["operation"] == "CREATE" else "PUT")
        for _, e in expected["unit21"]
    ]
    assert Counter(received) == Counter(want)
    assert_subject_order(
        expected["unit21"],
        received_ids_by_subject(unit21, lambda r: r["json"]["general_data"]["event_id"], stream),
    )

    # Coinflow: the four lifecycle kinds and redeems, per subject in order.
    coinflow = [r for r in sandboxes["coinflow"].requests() if r["path"].startswith("/api/")]
    assert all(r["status"] < 300 for r in coinflow)
    by_subject: dict[str, list[str]] = defaultdict(list)
    for request in coinflow:
        if request["path"] == "/api/events":
            by_subject[request["json"]["customerId"]].append(request["json"]["eventType"])
    names = {
        "sign_up": "SignUp",
        "sign_in": "SignIn",
        "sign_in_failure": "SignInFailure",
        "buyer_challenge": "BuyerChallenge",
    }
    want_subject: dict[str, list[str]] = defaultdict(list)
    for family, event in expected["coinflow"]:
        if family is Family.LIFECYCLE:
            want_subject[event["subject_id"]].append(names[event["event_type"].lower()])
    assert by_subject == want_subject
    redeems = [r for r in coinflow if r["path"] == "/api/redeem/evm/creditsAuthMsg"]
    assert len(redeems) == sum(1 for f, _ in expected["coinflow"] if f is Family.PAYMENT)
    assert all(r["json"]["merchantId"] and "message" in r["response"] for r in redeems)

    # Dataspike: one applicant per subject, created before its first event, then reused.
    dataspike = sandboxes["dataspike"]
    creates = calls(dataspike, "/api/v3/applicants")
    subjects = {e["subject_id"] for _, e in expected["dataspike"]}
    assert len(creates) == len(subjects) and all(r["status"] == 200 for r in creates)
    assert {r["json"]["external_id"] for r in creates} == subjects
    applicant_of = {r["json"]["external_id"]: r["response"]["id"] for r in creates}
    subject_of = {v: k for k, v in applicant_of.items()}
    monitored = calls(dataspike, "/api/v3/transmon/")
    assert all(r["status"] < 300 for r in monitored)
    assert len(monitored) == len(expected["dataspike"])
    seen_paths: dict[str, list[str]] = defaultdict(list)
    for request in monitored:
        seen_paths[subject_of[request["json"]["applicant_id"]]].append(request["path"])
    want_paths: dict[str, list[str]] = defaultdict(list)
    for _, event in expected["dataspike"]:
        endpoint = "payment" if event["event_type"] == "PURCHASE" else "transaction"
        want_paths[event["subject_id"]].append(f"/api/v3/transmon/{endpoint}")
    assert seen_paths == want_paths

    # Stripe: evaluation per payment; reports to that evaluation; keys carried over.
    stripe = [r for r in sandboxes["stripe"].requests() if r["path"].startswith("/v1/")]
    assert all(r["status"] < 300 for r in stripe)
    created = [r for r in stripe if r["path"] == "/v1/radar/payment_evaluations"]
    evaluation_of = {form(r)["metadata[payment_id]"]: r["response"]["id"] for r in created}
    payments = [e for f, e in expected["stripe"] if f is Family.PAYMENT]
    assert set(evaluation_of) == {e["payment_id"] for e in payments}
    reports = [r for r in stripe if r["path"].endswith("/report_events")]
    evaluations = [e for f, e in expected["stripe"] if f is Family.EVALUATION]
    assert len(reports) == len(evaluations)
    event_by_id = {e["event_id"]: e for e in evaluations}
    raised_keys: dict[str, str] = {}
    for request in reports:
        event = event_by_id[idempotent_event_id(request)]
        assert request["path"] == (
            f"/v1/payment_evaluations/{evaluation_of[event['payment_id']]}/report_events"
        )
        sent = form(request)
        if event["event_type"] == "USER_INTERVENTION_RAISED":
            intervention = event["intervention_raised"]["intervention_id"]
            reported = request["response"]["events"][-1]
            raised_keys[intervention] = reported["user_intervention_raised"]["key"]
        elif event["event_type"] == "USER_INTERVENTION_RESOLVED":
            intervention = event["intervention_resolved"]["intervention_id"]
            assert sent["events[0][user_intervention_resolved][key]"] == raised_keys[intervention]
    assert any(e["event_type"] == "USER_INTERVENTION_RESOLVED" for e in evaluations)
    assert_subject_order(
        expected["stripe"], received_ids_by_subject(stripe, idempotent_event_id, stream)
    )

    # Nothing went to the DLQ.
    dlq = sum(
        sample.value
        for metric in worker.metrics.registry.collect()
        if metric.name == "riskrelay_dlq_records"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert dlq == 0


def received_ids_by_subject(
    requests: list[dict[str, Any]],
    event_id: Callable[[dict[str, Any]], str],
    stream: list[tuple[Family, AvroRecord]],
) -> dict[tuple[Family, str], list[str]]:
    """Event ids per (family, subject), in the order the provider received them."""
    chain_of = {e["event_id"]: (f, e["subject_id"]) for f, e in stream}
    seen: dict[tuple[Family, str], list[str]] = defaultdict(list)
    for request in requests:
        if request["status"] < 300:
            identifier = event_id(request)
            seen[chain_of[identifier]].append(identifier)
    return seen


def assert_subject_order(
    expected: list[tuple[Family, AvroRecord]], seen: dict[tuple[Family, str], list[str]]
) -> None:
    """Each subject's events of one input topic arrived in the order they were published
    (Kafka orders a subject's events within a topic, not across topics; an event id
    repeats when an update follows its create)."""
    want: dict[tuple[Family, str], list[str]] = defaultdict(list)
    for family, event in expected:
        want[(family, event["subject_id"])].append(event["event_id"])
    assert seen == want
