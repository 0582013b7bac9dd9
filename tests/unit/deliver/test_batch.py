"""Batched calls through a provider lane (``riskrelay.deliver.batch``), against a scripted
HTTP stand-in that answers batches the way the Unit21 contract does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from riskrelay.deliver.batch import BatchPolicy
from riskrelay.deliver.http import classify
from riskrelay.deliver.lane import ProviderLane
from riskrelay.deliver.policy import ProviderPolicy
from riskrelay.deliver.providers.unit21 import Unit21Batch
from riskrelay.deliver.request import Attempt, ProviderRequest, ProviderResponse
from riskrelay.deliver.retry import CallResult, RetryPolicy
from riskrelay.errors import PermanentDeliveryError, TransientDeliveryError
from riskrelay.metrics import WorkerMetrics

Answer = Callable[[list[dict[str, Any]]], tuple[int, Any]]


def stored(events: list[dict[str, Any]]) -> tuple[int, Any]:
    """Every event stored: the contract's answer to a valid create."""
    results = [{"event_id": e["id"], "unit21_id": f"u-{e['id']}"} for e in events]
    if len(events) == 1:
        return 200, results[0]
    return 200, {"events": [{**r, "status": 200} for r in results]}


class BatchHttp:
    """Answers with ``answer(events)``, one script entry per request (the last repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [stored]
        self.sent: list[ProviderRequest] = []

    async def attempt(self, request: ProviderRequest) -> tuple[ProviderResponse, Attempt]:
        self.sent.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        body = request.json
        events = body.get("events", [body])
        await asyncio.sleep(0.001)
        status, payload = answer(events)
        response = ProviderResponse(status, orjson.dumps(payload).decode(), {})
        failure = classify(response, request)
        attempt = Attempt(datetime.now(UTC), 1.0, status, None if failure is None else "x")
        if failure is not None:
            failure.attempt = attempt
            raise failure
        return response, attempt

    async def close(self) -> None:
        pass

    def bodies(self) -> list[Any]:
        return [r.json for r in self.sent]


def create(event_id: str) -> ProviderRequest:
    return ProviderRequest("POST", "/v1/events/create", json={"id": event_id}, batchable=True)


def lane(
    http: BatchHttp,
    max_items: int = 100,
    linger_s: float = 0.02,
    attempts: int = 8,
    metrics: WorkerMetrics | None = None,
    **kw: Any,
) -> ProviderLane:
    policy = ProviderPolicy(
        batch=BatchPolicy(max_items, linger_s),
        retry=RetryPolicy(max_attempts=attempts, initial_delay_s=0.001, max_delay_s=0.002),
        **kw,
    )
    built = ProviderLane("unit21", http, policy, batch_format=Unit21Batch())
    built.bind_metrics(metrics or WorkerMetrics())
    return built


def run_calls(target: ProviderLane, requests: list[ProviderRequest]) -> list[CallResult]:
    async def scenario() -> list[CallResult]:
        try:
            return list(await asyncio.gather(*(target.call(r) for r in requests)))
        finally:
            await target.close()

    return asyncio.run(scenario())


def ids(results: list[CallResult]) -> list[str | None]:
    return [
        None if r.response is None else orjson.loads(r.response.body)["event_id"] for r in results
    ]


def test_calls_within_the_linger_go_in_one_request_and_each_gets_its_own_answer() -> None:
    http = BatchHttp()
    metrics = WorkerMetrics()
    results = run_calls(lane(http, metrics=metrics), [create(f"e{i}") for i in range(30)])
    assert http.bodies() == [{"events": [{"id": f"e{i}"} for i in range(30)]}]
    assert ids(results) == [f"e{i}" for i in range(30)]
    assert all(r.error is None and [a.status_code for a in r.attempts] == [200] for r in results)
    # the response of each is the single-event answer, exactly as if sent alone
    assert results[3].response is not None
    assert orjson.loads(results[3].response.body) == {"event_id": "e3", "unit21_id": "u-e3"}
    sample = metrics.registry.get_sample_value
    labels = {"provider": "unit21"}
    assert sample("riskrelay_provider_batch_events_count", labels) == 1
    assert sample("riskrelay_provider_batch_events_sum", labels) == 30


def test_a_lone_call_goes_in_its_single_form() -> None:
    http = BatchHttp()
    results = run_calls(lane(http), [create("only")])
    assert http.bodies() == [{"id": "only"}]
    assert ids(results) == ["only"]


def test_batches_hold_at_most_max_items_and_keep_order() -> None:
    http = BatchHttp()
    results = run_calls(lane(http, max_items=10), [create(f"e{i}") for i in range(25)])
    sizes = [len(b["events"]) if "events" in b else 1 for b in http.bodies()]
    assert sizes == [10, 10, 5]
    sent = [e["id"] for b in http.bodies() for e in b.get("events", [b])]
    assert sent == [f"e{i}" for i in range(25)]
    assert ids(results) == [f"e{i}" for i in range(25)]


def test_calls_that_are_not_batchable_go_alone_at_once() -> None:
    http = BatchHttp()
    update = ProviderRequest("PUT", "/v1/events/a/update", json={"id": "a"})
    results = run_calls(lane(http, linger_s=5.0), [update, update])
    assert http.bodies() == [{"id": "a"}, {"id": "a"}]
    assert all(r.error is None for r in results)


def refuse_bad(events: list[dict[str, Any]]) -> tuple[int, Any]:
    """One invalid event fails the whole request with 400, as Unit21 does."""
    for index, event in enumerate(events):
        if event["id"].startswith("bad"):
            where = f"events[{index}]" if len(events) > 1 else "general_data"
            return 400, {"error_code": "invalid_input", "message": f"{where}: invalid"}
    return stored(events)


def test_a_batch_refused_as_a_whole_is_sent_call_by_call_and_only_the_bad_one_fails() -> None:
    http = BatchHttp(refuse_bad)
    requests = [create(f"e{i}") for i in range(5)] + [create("bad-1")]
    results = run_calls(lane(http), requests)
    assert [len(b.get("events", [b])) for b in http.bodies()] == [6, 1, 1, 1, 1, 1, 1]
    assert ids(results) == ["e0", "e1", "e2", "e3", "e4", None]
    bad = results[-1]
    assert isinstance(bad.error, PermanentDeliveryError) and "general_data" in str(bad.error)
    # the refused batch is nobody's attempt: each call shows only its own
    assert [[a.status_code for a in r.attempts] for r in results] == [[200]] * 5 + [[400]]


def test_a_transient_failure_of_the_batch_is_retried_by_every_call_in_it() -> None:
    http = BatchHttp(lambda events: (503, {"error_code": "service_unavailable"}), stored)
    results = run_calls(lane(http), [create(f"e{i}") for i in range(8)])
    assert all(r.error is None for r in results)
    assert all([a.status_code for a in r.attempts] == [503, 200] for r in results)
    assert ids(results) == [f"e{i}" for i in range(8)]
    assert len(http.sent) >= 2 and len(http.sent) < 8  # the retries were batched again


def conflict_on_e1(events: list[dict[str, Any]]) -> tuple[int, Any]:
    status, body = stored(events)
    for result in body["events"]:
        if result["event_id"] == "e1":
            result.update(status=409, error_code="conflict", message="exists")
            del result["unit21_id"]
    return status, body


def test_one_calls_own_error_in_a_batch_answer_fails_that_call_alone() -> None:
    http = BatchHttp(conflict_on_e1)
    results = run_calls(lane(http), [create(f"e{i}") for i in range(3)])
    assert len(http.sent) == 1
    assert results[0].error is None and results[2].error is None
    error = results[1].error
    assert isinstance(error, PermanentDeliveryError) and error.status == 409
    assert [a.status_code for a in results[1].attempts] == [409]


def test_a_batch_answer_that_does_not_match_its_calls_is_retried() -> None:
    http = BatchHttp(lambda events: (200, {"events": []}), stored)
    results = run_calls(lane(http), [create(f"e{i}") for i in range(4)])
    assert all(r.error is None for r in results)
    first = results[0].attempts[0]
    assert first.status_code == 200 and len(results[0].attempts) == 2


def test_unreadable_answers_fail_transiently_when_the_budget_is_spent() -> None:
    http = BatchHttp(lambda events: (200, "not a batch answer"))
    results = run_calls(lane(http, attempts=2), [create("a"), create("b")])
    assert all(isinstance(r.error, TransientDeliveryError) for r in results)
    assert "does not name a result for each of its 2 calls" in str(results[0].error)


def test_a_cancelled_call_leaves_the_batch_and_closing_cancels_the_waiting() -> None:
    http = BatchHttp()
    target = lane(http, linger_s=0.05)

    async def scenario() -> tuple[list[Any], bool]:
        calls = [asyncio.create_task(target.call(create(f"e{i}"))) for i in range(4)]
        await asyncio.sleep(0.01)
        calls[1].cancel()
        done = await asyncio.gather(*calls, return_exceptions=True)
        waiting = asyncio.create_task(target.call(create("late")))
        await asyncio.sleep(0.01)
        await target.close()
        await asyncio.gather(waiting, return_exceptions=True)
        return done, waiting.cancelled()

    done, late_cancelled = asyncio.run(scenario())
    assert isinstance(done[1], asyncio.CancelledError)
    assert http.bodies() == [{"events": [{"id": "e0"}, {"id": "e2"}, {"id": "e3"}]}]
    assert late_cancelled


@pytest.mark.parametrize("limit", [1, 3])
def test_one_slot_and_one_rate_token_per_request_not_per_event(limit: int) -> None:
    http = BatchHttp()
    target = lane(http, max_items=50, linger_s=0.0, max_concurrency=limit)
    results = run_calls(target, [create(f"e{i}") for i in range(60)])
    assert all(r.error is None for r in results)
    # while the slots are busy the next batch grows instead of the queue of requests
    assert len(http.sent) < 60 / 2
