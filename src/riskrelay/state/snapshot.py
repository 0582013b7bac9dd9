"""Event-state snapshots (``event_state.avsc``) and their transitions, as pure functions.

A snapshot is complete: compaction keeps only the last record per event id, so each one
carries the last fully processed version (``current``) and the one in flight
(``pending``). Reads answer 423 while ``current`` is null and keep serving ``current``
while ``pending`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from riskrelay.models import AvroRecord, Envelope, Operation


class Verdict(StrEnum):
    PROCESS = "process"  # a new version: deliver and emit
    RESUME = "resume"  # the same input record seen again (restart): skip what is done
    SEEN = "seen"  # an older record of this id, already applied before a restart
    DUPLICATE = "duplicate"  # create of an existing id without upsert
    UNKNOWN = "unknown_event"  # update of an id never created
    RETRY = "retry"  # a DLQ replay of a processed record: retry the providers that failed


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    version: int
    done_providers: frozenset[str] = frozenset()
    only: frozenset[str] | None = None  # RETRY: deliver to these providers alone

    @property
    def rejected(self) -> bool:
        return self.verdict in (Verdict.DUPLICATE, Verdict.UNKNOWN)


def latest_version(state: AvroRecord) -> int:
    versions = [v["version"] for v in (state.get("current"), state.get("pending")) if v]
    return max(versions, default=0)


def _delivered(deliveries: list[AvroRecord]) -> frozenset[str]:
    return frozenset(d["provider"] for d in deliveries if d["outcome"] == "DELIVERED")


def _already_applied(source: AvroRecord, envelope: Envelope) -> bool:
    """An id's records share a subject, hence a partition, and offsets only grow: a
    record below the one the state was built from has been applied already."""
    at = envelope.source
    return bool(
        source["topic"] == at.topic
        and source["partition"] == at.partition
        and at.offset < source["offset"]
    )


def decide(state: AvroRecord | None, envelope: Envelope) -> Decision:
    """What to do with an input event given the stored state of its id."""
    if state is not None and _already_applied(state["source"], envelope):
        return Decision(Verdict.SEEN, latest_version(state))
    if state is not None and state["source"] == envelope.source.as_record():
        # This very record was processed (fully or partly) before a restart.
        current, pending = state.get("current"), state.get("pending")
        if pending is not None:
            return Decision(Verdict.RESUME, pending["version"], _delivered(pending["deliveries"]))
        assert current is not None
        return Decision(Verdict.RESUME, current["version"], _delivered(current["deliveries"]))
    if state is None:
        if envelope.operation is Operation.UPDATE:
            return Decision(Verdict.UNKNOWN, 0)
        return Decision(Verdict.PROCESS, 1)
    if envelope.operation is Operation.CREATE and not envelope.upsert_on_conflict:
        return Decision(Verdict.DUPLICATE, latest_version(state))
    return Decision(Verdict.PROCESS, latest_version(state) + 1)


def decide_replay(
    state: AvroRecord | None, envelope: Envelope, providers: frozenset[str] | None
) -> Decision:
    """What to do with a DLQ replay of the input record at ``envelope.source``.

    A record the state says was processed is normally skipped; a replay of it instead
    retries the providers whose recorded outcome is FAILED (of ``providers``, when the
    replay names some). Once they are delivered the state says so, and a second replay
    finds nothing to do. A replay the state has moved past (a later version applied) is
    stale and skipped; one never processed (it failed to decode) is processed as new.
    """
    decision = decide(state, envelope)
    if decision.verdict is not Verdict.RESUME or state is None or state["pending"] is not None:
        return decision
    current = state["current"]
    failed = {d["provider"] for d in current["deliveries"] if d["outcome"] == "FAILED"}
    targets = frozenset(failed if providers is None else failed & providers)
    if not targets:
        return Decision(Verdict.SEEN, decision.version)
    return Decision(Verdict.RETRY, decision.version, decision.done_providers, targets)


def delivery_entry(
    provider: str,
    outcome: str,
    attempts: int = 0,
    status_code: int | None = None,
    response_ref: str | None = None,
    error: str | None = None,
    completed_at: datetime | None = None,
) -> AvroRecord:
    return {
        "provider": provider,
        "outcome": outcome,
        "attempts": attempts,
        "status_code": status_code,
        "response_ref": response_ref,
        "error": error,
        "completed_at": completed_at,
    }


def with_pending(
    state: AvroRecord | None,
    envelope: Envelope,
    version: int,
    deliveries: list[AvroRecord],
    now: datetime,
) -> AvroRecord:
    """The snapshot while ``version`` is in flight (``current`` untouched)."""
    return {
        "event_id": envelope.event_id,
        "subject_id": envelope.subject_id,
        "family": envelope.family.value,
        "kind": envelope.kind,
        "current": None if state is None else state.get("current"),
        "pending": {"version": version, "accepted_at": now, "deliveries": deliveries},
        "updated_at": now,
        "source": envelope.source.as_record(),
    }


def with_completed(
    state: AvroRecord | None,
    envelope: Envelope,
    version: int,
    data_json: str,
    deliveries: list[AvroRecord],
    errors: list[str],
    now: datetime,
) -> AvroRecord:
    """The snapshot once ``version`` reached a terminal outcome for every provider."""
    failed = bool(errors) or any(d["outcome"] == "FAILED" for d in deliveries)
    return {
        "event_id": envelope.event_id,
        "subject_id": envelope.subject_id,
        "family": envelope.family.value,
        "kind": envelope.kind,
        "current": {
            "version": version,
            "status": "FAILED" if failed else "PROCESSED",
            "processed_at": now,
            "data_json": data_json,
            "deliveries": deliveries,
            "errors": errors,
        },
        "pending": None,
        "updated_at": now,
        "source": envelope.source.as_record(),
    }


def public_view(state: AvroRecord) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for ``GET /v1/events/{id}`` (404 is the caller's)."""
    current, pending = state.get("current"), state.get("pending")
    pending_version = pending["version"] if pending else None
    if current is None:
        return 423, {
            "event_id": state["event_id"],
            "status": "locked",
            "pending_version": pending_version,
            "message": "the event's first version is not fully processed yet; retry later",
        }
    status = "failed" if current["status"] == "FAILED" else "processed"
    return 200, {
        "event_id": state["event_id"],
        "subject_id": state["subject_id"],
        "kind": state["kind"],
        "status": status,
        "version": current["version"],
        "processed_at": current["processed_at"].isoformat(),
        "update_pending": pending is not None,
        "pending_version": pending_version,
        "data": orjson.loads(current["data_json"]),
        "deliveries": [
            {
                **d,
                "outcome": d["outcome"].lower(),
                "completed_at": d["completed_at"].isoformat() if d["completed_at"] else None,
            }
            for d in current["deliveries"]
        ],
        "errors": current["errors"],
    }
