"""The read-your-writes overlay and the create/update decision, without HTTP."""

from __future__ import annotations

import asyncio

from riskrelay.api.accepted import (
    Accepted,
    AcceptedOverlay,
    KeyedLocks,
    Verdict,
    decide_ingest,
)
from riskrelay.models import Family
from tests.unit.api.conftest import in_flight, processed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(version: int = 1, at: float = 0.0, subject: str = "user-1") -> Accepted:
    return Accepted(subject, Family.LIFECYCLE, version, at)


def nothing(event_id: str) -> None:
    return None


def test_an_entry_stays_until_the_view_shows_its_version() -> None:
    overlay = AcceptedOverlay(10, 60, Clock())
    overlay.put("evt-1", entry(2), nothing)
    assert overlay.get("evt-1", None) is not None
    assert overlay.get("evt-1", processed()) is not None  # v1 only
    assert overlay.get("evt-1", in_flight(processed(), version=2)) is None  # v2 pending
    assert len(overlay) == 0


def test_entries_expire_and_the_bound_drops_the_oldest() -> None:
    clock = Clock()
    overlay = AcceptedOverlay(3, 10, clock)
    for i in range(5):
        clock.now = i
        overlay.put(f"e{i}", entry(at=i), nothing)
    assert len(overlay) == 3
    assert overlay.get("e0", None) is None and overlay.get("e1", None) is None
    clock.now = 13.5  # e2 and e3 are older than 10 s
    assert overlay.get("e2", None) is None
    overlay.put("e5", entry(at=13.5), nothing)  # the sweep drops e3, keeps e4
    assert len(overlay) == 2 and overlay.get("e4", None) is not None


def test_the_sweep_drops_the_oldest_entries_the_view_caught_up_with() -> None:
    overlay = AcceptedOverlay(100, 60, Clock())
    views = {"a": processed("a"), "b": processed("b")}
    overlay.put("a", entry(), nothing)
    overlay.put("b", entry(), nothing)
    overlay.put("c", entry(), views.get)
    assert len(overlay) == 1


def test_create_update_conflict_and_unknown() -> None:
    kw = {"subject_id": "user-1", "family": Family.LIFECYCLE}
    assert decide_ingest(None, None, create=True, upsert=False, **kw).verdict is Verdict.CREATE
    assert decide_ingest(None, None, create=False, upsert=False, **kw).verdict is Verdict.UNKNOWN
    state = processed()
    assert decide_ingest(state, None, create=True, upsert=False, **kw).verdict is Verdict.CONFLICT
    assert decide_ingest(None, entry(), create=True, upsert=False, **kw).verdict is (
        Verdict.CONFLICT
    )
    upsert = decide_ingest(state, None, create=True, upsert=True, **kw)
    assert (upsert.verdict, upsert.expected_version) == (Verdict.UPDATE, 2)
    update = decide_ingest(state, entry(3), create=False, upsert=False, **kw)
    assert (update.verdict, update.expected_version) == (Verdict.UPDATE, 4)
    on_pending = decide_ingest(in_flight(state, version=2), None, create=False, upsert=False, **kw)
    assert on_pending.expected_version == 3


def test_an_event_keeps_its_subject_and_family() -> None:
    state = processed()
    other = decide_ingest(
        state, None, create=False, upsert=False, subject_id="u2", family=Family.LIFECYCLE
    )
    assert other.verdict is Verdict.OTHER_SUBJECT
    family = decide_ingest(
        None, entry(), create=False, upsert=False, subject_id="user-1", family=Family.PAYMENT
    )
    assert family.verdict is Verdict.OTHER_FAMILY


def test_keyed_locks_serialize_one_id_and_are_released() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, name: str, delay: float) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(delay)
            order.append(f"{name}-")

    async def main() -> None:
        await asyncio.gather(hold("k", "a", 0.05), hold("k", "b", 0), hold("j", "c", 0.01))

    asyncio.run(main())
    assert order.index("a-") < order.index("b+")  # b waited for a
    assert order.index("c+") < order.index("a-")  # another id did not
    assert len(locks) == 0
