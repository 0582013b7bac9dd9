"""The Coinflow adapter through the real delivery stack against the Coinflow sandbox.

Providers are built the production way (``CoinflowSettings`` → ``build_provider``) and
events go through ``Dispatcher.deliver``; the sandbox validates each request against the
contract and records it, and the tests read that recording.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from riskrelay.deliver.dispatcher import DeliveryOutcome, Dispatcher, Provider, build_provider
from riskrelay.deliver.providers.coinflow import CoinflowAdapter
from riskrelay.dev.demo import lifecycle_event, payment_event
from riskrelay.enrich.stateless import EnrichOptions, enrich
from riskrelay.errors import PermanentDeliveryError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import AvroRecord, Envelope, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from riskrelay.settings import CoinflowSettings
from riskrelay.state.identities import NoIdentities

KEY = "coinflow-contract-key"
WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
SUBJECT = "user-00042"
TO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WALLET = "0x" + "cd" * 20
SESSION_KEY = "eyJhbGciOiJIUzI1NiJ9.contract.session-key"


@pytest.fixture(scope="module")
def coinflow_box() -> Iterator[SandboxThread]:
    config = SandboxConfig(api_key=KEY, processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("coinflow", config=config) as box:
        yield box


@pytest.fixture
def coinflow(coinflow_box: SandboxThread) -> SandboxThread:
    coinflow_box.reset()
    return coinflow_box


def provider(sandbox: SandboxThread) -> Provider:
    settings = CoinflowSettings(
        base_url=sandbox.base_url,
        api_key=KEY,
        max_attempts=3,
        retry_initial_delay_s=0.01,
        retry_max_delay_s=0.05,
    )
    return build_provider(CoinflowAdapter(), settings)


def deliver(sandbox: SandboxThread, envelope: Envelope, body: AvroRecord) -> DeliveryOutcome:
    target = provider(sandbox)

    async def scenario() -> DeliveryOutcome:
        dispatcher = Dispatcher([target], WorkerMetrics())
        try:
            assert list(dispatcher.route(envelope)) == [target]
            [outcome] = await dispatcher.deliver([target], envelope, body, 1, NoIdentities())
        finally:
            await dispatcher.close()
        return outcome

    return asyncio.run(scenario())


def provider_requests(sandbox: SandboxThread) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if not r["path"].startswith("/_sandbox/")]


def lifecycle(kind: str) -> tuple[Envelope, AvroRecord]:
    record = lifecycle_event(random.Random(11), SUBJECT, kind, WHEN)
    event = normalize(Family.LIFECYCLE, record, SourcePosition("risk.lifecycle.v1", 0, 0), WHEN)
    return event.envelope, event.body


def redeem(**changes: Any) -> tuple[Envelope, AvroRecord]:
    """A normalized demo REDEEM payment whose request is this test's, with ``changes``."""
    request: AvroRecord = {
        "merchant_id": "merchant_contract",
        "subtotal_kind": "FIAT",
        "fiat_subtotal": {"amount_minor": 4999, "currency": "USD"},
        "cents_subtotal": None,
        "token_subtotal": None,
        "transaction_data": {
            "kind": "SAFE_MINT",
            "to": TO,
            "data": "0xa9059cbb" + "00" * 32,
            "extra_json": '{"nftContract": "0x1234"}',
        },
        "usdc_amount": None,
        "auth_wallet": WALLET,
        "auth_blockchain": "polygon",
        "auth_session_key": None,
        **changes,
    }
    envelope, body = demo_redeem(0)
    return envelope, {**body, "payment": {**body["payment"], "redeem": request}}


def demo_redeem(seed: int) -> tuple[Envelope, AvroRecord]:
    record = payment_event(random.Random(seed), SUBJECT, "REDEEM", WHEN)
    event = normalize(Family.PAYMENT, record, SourcePosition("risk.payment.v1", 0, 7), WHEN)
    return event.envelope, event.body


@pytest.mark.parametrize(
    ("kind", "event_type", "fields"),
    [
        ("SIGN_UP", "SignUp", {"username", "country", "email", "firstName", "lastName"}),
        ("SIGN_IN", "SignIn", {"country", "email"}),
        ("SIGN_IN_FAILURE", "SignInFailure", {"country", "email"}),
        ("BUYER_CHALLENGE", "BuyerChallenge", {"challengeType", "outcome"}),
    ],
)
def test_each_lifecycle_kind_is_accepted_and_recorded(
    coinflow: SandboxThread, kind: str, event_type: str, fields: set[str]
) -> None:
    envelope, body = lifecycle(kind)
    outcome = deliver(coinflow, envelope, body)
    assert outcome.delivered, outcome.error
    assert outcome.endpoint == "POST /api/events"
    assert outcome.response_ref is None
    [recorded] = provider_requests(coinflow)
    assert (recorded["path"], recorded["status"], recorded["response"]) == ("/api/events", 200, {})
    sent = recorded["json"]
    assert set(sent) == {"eventType", "customerId", *fields}
    assert (sent["eventType"], sent["customerId"]) == (event_type, SUBJECT)
    user = body["user"]
    if "country" in fields:
        assert (sent["country"], sent["email"]) == (user["country"], user["email"])
    if kind == "SIGN_UP":
        assert sent["username"] == user["username"]
        assert (sent["firstName"], sent["lastName"]) == (user["first_name"], user["last_name"])
    if kind == "BUYER_CHALLENGE":
        challenge = body["lifecycle"]["challenge"]
        assert (sent["challengeType"], sent["outcome"]) == (challenge["kind"], challenge["outcome"])
    # the raw key (the recording masks all but its last four characters), no "Bearer"
    assert recorded["headers"]["authorization"] == "*" * (len(KEY) - 4) + KEY[-4:]


@pytest.mark.parametrize("with_enrichment", [True, False], ids=["enriched", "not-enriched"])
@pytest.mark.parametrize("kind", ["SIGN_UP", "SIGN_IN"])
def test_an_event_with_a_malformed_email_and_country_is_accepted_without_them(
    coinflow: SandboxThread, kind: str, with_enrichment: bool
) -> None:
    """Normalization keeps a malformed e-mail and country; Coinflow gets the event without
    them (its contract refuses both, which would cost the whole event)."""
    record = lifecycle_event(random.Random(11), SUBJECT, kind, WHEN)
    record["user"] = {**record["user"], "email": "not-an-email", "country": "ZZ"}
    event = normalize(Family.LIFECYCLE, record, SourcePosition("risk.lifecycle.v1", 0, 0), WHEN)
    body = event.body
    assert (body["user"]["email"], body["user"]["country"]) == ("not-an-email", "ZZ")
    if with_enrichment:
        body = enrich(body, EnrichOptions(ip_country=None))
    outcome = deliver(coinflow, event.envelope, body)
    assert outcome.delivered, outcome.error
    [recorded] = provider_requests(coinflow)
    assert recorded["status"] == 200
    sent = recorded["json"]
    assert "email" not in sent and "country" not in sent
    assert sent["customerId"] == SUBJECT
    if kind == "SIGN_UP":
        assert sent["username"] == body["user"]["username"]


@pytest.mark.parametrize(
    ("changes", "subtotal", "cents"),
    [
        ({}, {"cents": 4999, "currency": "USD"}, 4999),
        (
            {"subtotal_kind": "CENTS", "fiat_subtotal": None, "cents_subtotal": 1500},
            {"cents": 1500},
            1500,
        ),
        (
            {
                "subtotal_kind": "TOKEN",
                "fiat_subtotal": None,
                "token_subtotal": {
                    "token_address": TOKEN,
                    "token_amount": "12.34",
                    "token_decimals": 6,
                },
                "usdc_amount": 1234,
            },
            {"address": TOKEN, "amount": "12.34", "decimals": 6},
            1234,
        ),
    ],
    ids=["fiat", "cents", "token"],
)
def test_a_redeem_returns_the_credits_message_as_its_outcome(
    coinflow: SandboxThread, changes: AvroRecord, subtotal: AvroRecord, cents: int
) -> None:
    envelope, body = redeem(**changes)
    outcome = deliver(coinflow, envelope, body)
    assert outcome.delivered, outcome.error
    assert outcome.endpoint == "POST /api/redeem/evm/creditsAuthMsg"
    assert outcome.result.response is not None
    answer = orjson.loads(outcome.result.response.body)
    assert set(answer) == {"message", "validBefore", "nonce", "creditsRawAmount"}
    assert outcome.response_ref == answer["nonce"]
    typed = orjson.loads(answer["message"])
    assert typed["primaryType"] == "CreditsAuthorization"
    assert typed["message"]["merchantId"] == "merchant_contract"
    assert typed["message"]["subtotalCents"] == cents
    assert typed["message"]["nonce"] == answer["nonce"]
    [recorded] = provider_requests(coinflow)
    assert recorded["status"] == 200 and recorded["response"] == answer
    sent = recorded["json"]
    assert sent["merchantId"] == "merchant_contract"
    assert sent["subtotal"] == subtotal
    assert sent["transactionData"] == {
        "nftContract": "0x1234",
        "type": "safeMint",
        "transaction": {"to": TO, "data": "0xa9059cbb" + "00" * 32},
    }
    usdc = body["payment"]["redeem"]["usdc_amount"]
    assert sent.get("usdcAmount") == (None if usdc is None else {"cents": usdc})
    headers = recorded["headers"]
    assert (headers["x-coinflow-auth-wallet"], headers["x-coinflow-auth-blockchain"]) == (
        WALLET,
        "polygon",
    )
    assert headers.get("authorization", "") == ""  # never the merchant key on this call


def test_a_redeem_with_a_session_key_sends_only_that(coinflow: SandboxThread) -> None:
    envelope, body = redeem(auth_wallet=None, auth_blockchain=None, auth_session_key=SESSION_KEY)
    outcome = deliver(coinflow, envelope, body)
    assert outcome.delivered, outcome.error
    [recorded] = provider_requests(coinflow)
    headers = recorded["headers"]
    assert headers["x-coinflow-auth-session-key"].endswith(SESSION_KEY[-4:])
    assert "x-coinflow-auth-wallet" not in headers and "x-coinflow-auth-blockchain" not in headers
    assert headers.get("authorization", "") == ""


@pytest.mark.parametrize("seed", [0, 1, 7, 9, 10])  # cents, fiat, session key, token forms
def test_demo_redeems_are_authorized(coinflow: SandboxThread, seed: int) -> None:
    envelope, body = demo_redeem(seed)
    outcome = deliver(coinflow, envelope, body)
    assert outcome.delivered, outcome.error
    [recorded] = provider_requests(coinflow)
    assert recorded["status"] == 200
    assert outcome.response_ref == recorded["response"]["nonce"]
    assert recorded["json"]["merchantId"] == body["payment"]["redeem"]["merchant_id"]


def test_a_412_is_a_permanent_failure_with_its_reason(coinflow: SandboxThread) -> None:
    envelope, body = redeem(merchant_id="acme-unknown")
    outcome = deliver(coinflow, envelope, body)
    assert not outcome.delivered
    error = outcome.error
    assert isinstance(error, PermanentDeliveryError)
    assert error.status == 412
    assert "merchantId: merchant 'acme-unknown' is not known" in str(error)
    assert [a.status_code for a in outcome.result.attempts] == [412]  # not retried
    assert outcome.response_ref is None
    assert [r["status"] for r in provider_requests(coinflow)] == [412]


def test_a_redeem_without_end_user_auth_never_reaches_coinflow(coinflow: SandboxThread) -> None:
    envelope, body = redeem(auth_wallet=None, auth_blockchain=None)
    outcome = deliver(coinflow, envelope, body)
    assert isinstance(outcome.error, PermanentDeliveryError)
    assert "no end-user auth" in str(outcome.error)
    assert outcome.result.attempts == []
    assert provider_requests(coinflow) == []
