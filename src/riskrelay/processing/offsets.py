"""Which offset of a partition is safe to commit: the lowest one not yet finished.

Records of one partition finish out of order (different subjects run concurrently), so
the commit point only advances over a contiguous run of finished offsets; a restart
resumes at the first unfinished record and nothing is skipped.
"""

from __future__ import annotations

from collections import deque


class PartitionProgress:
    """Offsets started and finished on one partition, in O(1) amortized per record."""

    __slots__ = ("_committed", "_done", "_next", "_started")

    def __init__(self) -> None:
        self._started: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None  # first offset after the finished prefix
        self._committed: int | None = None

    def started(self, offset: int) -> None:
        self._started.append(offset)

    def finished(self, offset: int) -> None:
        self._done.add(offset)
        started, done = self._started, self._done
        while started and started[0] in done:
            first = started.popleft()
            done.discard(first)
            self._next = first + 1

    @property
    def in_flight(self) -> int:
        return len(self._started)

    def to_commit(self) -> int | None:
        """The offset to commit now, or None when it has not moved since the last commit."""
        if self._next is None or self._next == self._committed:
            return None
        return self._next

    def committed(self, offset: int) -> None:
        self._committed = offset


class OffsetTracker:
    """Progress of every partition this worker owns, keyed by (topic, partition)."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], PartitionProgress] = {}

    def progress(self, topic: str, partition: int) -> PartitionProgress:
        key = (topic, partition)
        progress = self._partitions.get(key)
        if progress is None:
            progress = self._partitions[key] = PartitionProgress()
        return progress

    def to_commit(self) -> dict[tuple[str, int], int]:
        commits = {}
        for key, progress in self._partitions.items():
            offset = progress.to_commit()
            if offset is not None:
                commits[key] = offset
        return commits

    def committed(self, offsets: dict[tuple[str, int], int]) -> None:
        for key, offset in offsets.items():
            if key in self._partitions:
                self._partitions[key].committed(offset)

    def drop(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self._partitions.pop(key, None)
