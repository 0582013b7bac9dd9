from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson

from riskrelay.models import Envelope, Family, Operation, SourcePosition
from riskrelay.state.snapshot import (
    Verdict,
    decide,
    delivery_entry,
    public_view,
    with_completed,
    with_pending,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def envelope(
    operation: Operation = Operation.CREATE, upsert: bool = False, offset: int = 10
) -> Envelope:
    return Envelope(
        event_id="evt-1",
        subject_id="user-1",
        family=Family.LIFECYCLE,
        kind="sign_in",
        operation=operation,
        upsert_on_conflict=upsert,
        occurred_at=NOW,
        source=SourcePosition("risk.lifecycle.v1", 1, offset),
    )


def completed(version: int = 1, offset: int = 10) -> dict[str, object]:
    env = envelope(offset=offset)
    deliveries = [delivery_entry("unit21", "DELIVERED", 1, 200, "evt-1", None, NOW)]
    return with_completed(None, env, version, f'{{"v": {version}}}', deliveries, [], NOW)


def test_first_create_is_version_one() -> None:
    decision = decide(None, envelope())
    assert (decision.verdict, decision.version) == (Verdict.PROCESS, 1)


def test_update_of_unknown_id_is_rejected() -> None:
    decision = decide(None, envelope(Operation.UPDATE))
    assert decision.verdict is Verdict.UNKNOWN and decision.rejected


def test_create_of_existing_id_is_a_duplicate_unless_upsert() -> None:
    state = completed()
    assert decide(state, envelope(offset=11)).verdict is Verdict.DUPLICATE
    upsert = decide(state, envelope(upsert=True, offset=11))
    assert (upsert.verdict, upsert.version) == (Verdict.PROCESS, 2)


def test_update_gets_the_next_version_after_pending() -> None:
    pending = with_pending(completed(), envelope(Operation.UPDATE, offset=11), 2, [], NOW)
    decision = decide(pending, envelope(Operation.UPDATE, offset=12))
    assert (decision.verdict, decision.version) == (Verdict.PROCESS, 3)


def test_same_record_seen_again_resumes_and_skips_delivered_providers() -> None:
    env = envelope(offset=20)
    half_done = with_pending(
        None,
        env,
        1,
        [delivery_entry("unit21", "DELIVERED", 1, 200), delivery_entry("stripe", "PENDING")],
        NOW,
    )
    decision = decide(half_done, env)
    assert decision.verdict is Verdict.RESUME
    assert decision.version == 1
    assert decision.done_providers == frozenset({"unit21"})
    done = decide(completed(offset=20), env)
    assert (done.verdict, done.done_providers) == (Verdict.RESUME, frozenset({"unit21"}))


def test_read_view_is_locked_until_first_version_then_serves_old_data_while_pending() -> None:
    locked = with_pending(None, envelope(), 1, [], NOW)
    status, body = public_view(locked)
    assert status == 423 and body["status"] == "locked" and body["pending_version"] == 1

    status, body = public_view(completed())
    assert status == 200
    assert (body["version"], body["data"], body["update_pending"]) == (1, {"v": 1}, False)
    assert body["deliveries"][0]["outcome"] == "delivered"

    updating = with_pending(completed(), envelope(Operation.UPDATE, offset=11), 2, [], NOW)
    status, body = public_view(updating)
    assert status == 200
    assert (body["version"], body["data"], body["update_pending"]) == (1, {"v": 1}, True)
    assert body["pending_version"] == 2


def test_a_failed_provider_marks_the_version_failed() -> None:
    deliveries = [delivery_entry("unit21", "FAILED", 5, 503, None, "HTTP 503", NOW)]
    state = with_completed(None, envelope(), 1, orjson.dumps({}).decode(), deliveries, [], NOW)
    status, body = public_view(state)
    assert (status, body["status"]) == (200, "failed")
    assert body["deliveries"][0]["error"] == "HTTP 503"


def test_an_older_record_of_an_id_is_recognised_as_already_applied() -> None:
    state = with_completed(None, envelope(Operation.UPDATE, offset=30), 2, "{}", [], [], NOW)
    assert decide(state, envelope(offset=12)).verdict is Verdict.SEEN
    other_partition = replace(
        envelope(offset=12), source=SourcePosition("risk.lifecycle.v1", 2, 12)
    )
    assert decide(state, other_partition).verdict is Verdict.DUPLICATE
