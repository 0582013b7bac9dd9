"""Choosing DLQ records and planning their replay (no broker: records as the worker
writes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskrelay.errors import ConfigError
from riskrelay.models import SourcePosition
from riskrelay.ops.dlq import DlqEntry, DlqFilter, parse_id, parse_when, plan_replay, select
from riskrelay.replay import parse_replay

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
INPUT = "risk.payment.v1"


def entry(
    offset: int,
    reason: str = "provider_rejected",
    provider: str | None = "coinflow",
    source_offset: int = 100,
    failed_at: datetime = NOW,
    **extra: Any,
) -> DlqEntry:
    record = {
        "reason": reason,
        "error_class": "PermanentDeliveryError",
        "message": "422 refused",
        "source_topic": INPUT,
        "source_partition": 2,
        "source_offset": source_offset,
        "source_timestamp": NOW,
        "original_key": b"user-1",
        "original_value": b"\x00\x00\x00\x00\x01body",
        "original_headers": [
            {"key": "trace", "value": b"abc"},
            {"key": "riskrelay-replay-of", "value": b"old:0:1"},
        ],
        "event_id": "evt-1",
        "subject_id": "user-1",
        "provider": provider,
        "attempts": 1,
        "failed_at": failed_at,
        **extra,
    }
    return DlqEntry(0, offset, record)


def test_times_are_rfc3339_or_ages() -> None:
    assert parse_when("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_when("90s", NOW) == NOW - timedelta(seconds=90)
    assert parse_when("2026-11-20T10:00:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_when("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not a time"):
        parse_when("yesterday")


def test_ids_are_partition_and_offset() -> None:
    assert parse_id("2:17") == (2, 17)
    with pytest.raises(ConfigError, match="not a DLQ record id"):
        parse_id("17")


def test_filters_combine() -> None:
    entries = [
        entry(0, failed_at=NOW - timedelta(hours=3)),
        entry(1, provider="stripe"),
        entry(2, reason="undecodable", provider=None),
        entry(3),
    ]
    since = DlqFilter(since=NOW - timedelta(hours=1))
    assert [e.offset for e in select(entries, since)] == [1, 2, 3]
    coinflow = DlqFilter(
        providers=frozenset({"coinflow"}), reasons=frozenset({"provider_rejected"})
    )
    assert [e.offset for e in select(entries, coinflow)] == [0, 3]
    assert [e.offset for e in select(entries, DlqFilter(ids=frozenset({(0, 2)})))] == [2]
    assert [e.offset for e in select(entries, DlqFilter(), limit=2)] == [0, 1]
    assert DlqFilter().empty and not since.empty


def test_failures_of_one_input_become_one_replay_naming_their_providers() -> None:
    plan = plan_replay([entry(0), entry(1, provider="stripe"), entry(2, source_offset=50)], [INPUT])
    assert [i.source.offset for i in plan.items] == [50, 100]  # source order
    merged = plan.items[1]
    assert merged.providers == {"coinflow", "stripe"} and merged.dlq_ids == ["0:0", "0:1"]
    replay = parse_replay(
        [(k, v if isinstance(v, bytes) else None) for k, v in merged.wire_headers()]
    )
    assert replay is not None
    assert replay.of == SourcePosition(INPUT, 2, 100)
    assert replay.providers == {"coinflow", "stripe"}
    keys = [k for k, _ in merged.wire_headers()]
    assert keys.count("riskrelay-replay-of") == 1 and "trace" in keys  # old replay header dropped


def test_an_undecodable_record_replays_to_every_provider() -> None:
    plan = plan_replay([entry(0), entry(1, reason="unknown_schema", provider=None)], [INPUT])
    [item] = plan.items
    assert item.providers is None


def test_what_cannot_be_replayed_is_skipped_with_the_reason() -> None:
    plan = plan_replay(
        [
            entry(0, reason="duplicate", provider=None),
            entry(1, original_value=None),
            entry(2, source_topic="elsewhere"),
        ],
        [INPUT],
    )
    assert plan.items == []
    assert [i for i, _ in plan.skipped] == ["0:0", "0:1", "0:2"]
    assert "duplicate" in plan.skipped[0][1]
