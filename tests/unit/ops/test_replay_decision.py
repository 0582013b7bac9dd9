"""DLQ replays through the state decision: retry only what failed, and only once."""

from __future__ import annotations

from datetime import UTC, datetime

from riskrelay.models import Envelope, Family, Operation, SourcePosition
from riskrelay.replay import parse_replay, replay_headers
from riskrelay.state.snapshot import (
    Verdict,
    decide_replay,
    delivery_entry,
    with_completed,
    with_pending,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AT = SourcePosition("risk.lifecycle.v1", 1, 10)


def envelope(offset: int = 10, operation: Operation = Operation.CREATE) -> Envelope:
    return Envelope(
        event_id="evt-1",
        subject_id="user-1",
        family=Family.LIFECYCLE,
        kind="sign_in",
        operation=operation,
        upsert_on_conflict=False,
        occurred_at=NOW,
        source=SourcePosition(AT.topic, AT.partition, offset),
    )


def state_with(outcomes: dict[str, str], offset: int = 10) -> dict[str, object]:
    deliveries = [delivery_entry(p, o, 1, 200, None, None, NOW) for p, o in outcomes.items()]
    return with_completed(None, envelope(offset), 1, "{}", deliveries, [], NOW)


def test_a_replay_retries_only_the_failed_providers() -> None:
    state = state_with({"unit21": "DELIVERED", "coinflow": "FAILED", "stripe": "FAILED"})
    decision = decide_replay(state, envelope(), None)
    assert decision.verdict is Verdict.RETRY
    assert decision.version == 1
    assert decision.only == {"coinflow", "stripe"}
    assert decision.done_providers == {"unit21"}


def test_a_replay_naming_providers_retries_those_of_them_that_failed() -> None:
    state = state_with({"unit21": "DELIVERED", "coinflow": "FAILED", "stripe": "FAILED"})
    decision = decide_replay(state, envelope(), frozenset({"coinflow", "unit21"}))
    assert (decision.verdict, decision.only) == (Verdict.RETRY, {"coinflow"})


def test_a_second_replay_after_success_does_nothing() -> None:
    state = state_with({"unit21": "DELIVERED", "coinflow": "DELIVERED"})
    assert decide_replay(state, envelope(), frozenset({"coinflow"})).verdict is Verdict.SEEN
    assert decide_replay(state, envelope(), None).verdict is Verdict.SEEN


def test_a_replay_the_state_moved_past_is_stale() -> None:
    later = state_with({"coinflow": "FAILED"}, offset=20)
    assert decide_replay(later, envelope(10), None).verdict is Verdict.SEEN


def test_a_replay_never_processed_is_processed_as_new() -> None:
    decision = decide_replay(None, envelope(), None)
    assert (decision.verdict, decision.version, decision.only) == (Verdict.PROCESS, 1, None)


def test_a_replay_of_a_version_in_flight_resumes_it() -> None:
    pending = with_pending(None, envelope(), 1, [delivery_entry("unit21", "DELIVERED")], NOW)
    decision = decide_replay(pending, envelope(), None)
    assert decision.verdict is Verdict.RESUME and decision.done_providers == {"unit21"}


def test_headers_round_trip() -> None:
    headers = replay_headers(AT, frozenset({"stripe", "coinflow"}))
    assert headers[1] == ("riskrelay-replay-providers", b"coinflow,stripe")
    parsed = parse_replay([("other", b"x"), *headers])
    assert parsed is not None
    assert (parsed.of, parsed.providers) == (AT, {"coinflow", "stripe"})
    without = parse_replay(replay_headers(AT, None))
    assert without is not None and without.providers is None


def test_garbled_headers_are_not_a_replay() -> None:
    assert parse_replay([]) is None
    assert parse_replay([("riskrelay-replay-of", b"topic-only")]) is None
    assert parse_replay([("riskrelay-replay-of", b"t:x:1")]) is None
    assert parse_replay([("riskrelay-replay-of", None)]) is None
