"""Read-your-writes: what this API process accepted and its state view has not shown yet.

After a 202 the state view lags until the worker writes its snapshot. The overlay remembers
each accepted id (bounded in size and time) so that this process answers 423, or the old
version with ``update_pending``, instead of 404 meanwhile; an entry is dropped once the
view shows the version it expects. Other API processes converge within their own view's
lag of the state topic. Entries live on the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

from riskrelay.models import AvroRecord, Family
from riskrelay.state.snapshot import latest_version

Lookup = Callable[[str], AvroRecord | None]

SWEEP_BATCH = 16


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted version the view may not show yet."""

    subject_id: str
    family: Family
    expected_version: int  # the version the worker should give it
    accepted_at: float  # monotonic seconds


def caught_up(entry: Accepted, state: AvroRecord | None) -> bool:
    """The view shows (pending or done) at least the version the entry waits for; also
    true when another writer moved the id past it."""
    return state is not None and latest_version(state) >= entry.expected_version


class AcceptedOverlay:
    def __init__(
        self, max_events: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, Accepted] = OrderedDict()
        self._max = max_events
        self._ttl = ttl_s
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, event_id: str, state: AvroRecord | None) -> Accepted | None:
        """The entry still in force for ``event_id`` given the view's ``state``."""
        entry = self._entries.get(event_id)
        if entry is None:
            return None
        if caught_up(entry, state) or self._expired(entry):
            del self._entries[event_id]
            return None
        return entry

    def put(self, event_id: str, entry: Accepted, lookup: Lookup) -> None:
        self._entries[event_id] = entry
        self._entries.move_to_end(event_id)
        self.sweep(lookup)

    def sweep(self, lookup: Lookup) -> None:
        """Drop the oldest entries that expired, that the view caught up with, or that
        exceed the bound (losing read-your-writes for those, never correctness)."""
        for _ in range(SWEEP_BATCH):
            if not self._entries:
                return
            event_id, entry = next(iter(self._entries.items()))
            over = len(self._entries) > self._max
            if over or self._expired(entry) or caught_up(entry, lookup(event_id)):
                self._entries.popitem(last=False)
            else:
                break
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _expired(self, entry: Accepted) -> bool:
        return self._clock() - entry.accepted_at > self._ttl


class Verdict(StrEnum):
    CREATE = "create"  # a new id
    UPDATE = "update"  # a new version of a known id
    CONFLICT = "conflict"  # create of a known id without upsert (409)
    UNKNOWN = "unknown"  # update of an id nobody accepted (404)
    OTHER_SUBJECT = "other_subject"  # an event's versions share a subject (and partition)
    OTHER_FAMILY = "other_family"  # ... and a family


@dataclass(frozen=True, slots=True)
class IngestDecision:
    verdict: Verdict
    expected_version: int = 0


def decide_ingest(
    state: AvroRecord | None,
    entry: Accepted | None,
    *,
    create: bool,
    upsert: bool,
    subject_id: str,
    family: Family,
) -> IngestDecision:
    """What a POST (``create``) or PUT does given the view's state and the overlay, as
    the worker's ``riskrelay.state.snapshot.decide`` will see it."""
    if state is None and entry is None:
        return IngestDecision(Verdict.CREATE, 1) if create else IngestDecision(Verdict.UNKNOWN)
    if create and not upsert:
        return IngestDecision(Verdict.CONFLICT)
    if entry is not None:
        known_subject, known_family = entry.subject_id, entry.family.value
    else:
        assert state is not None
        known_subject, known_family = state["subject_id"], state["family"]
    if subject_id != known_subject:
        return IngestDecision(Verdict.OTHER_SUBJECT)
    if family.value != known_family:
        return IngestDecision(Verdict.OTHER_FAMILY)
    latest = max(
        latest_version(state) if state is not None else 0,
        entry.expected_version if entry is not None else 0,
    )
    return IngestDecision(Verdict.UPDATE, latest + 1)


class KeyedLocks:
    """One asyncio lock per id while requests for it are running: a check-then-publish
    for an id never interleaves with another for the same id in this process."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
