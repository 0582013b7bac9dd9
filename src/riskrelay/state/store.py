"""Where the worker keeps the state of the partitions it owns.

In memory, grouped by partition so a revoked partition's state is dropped at once. (An
on-disk store for millions of events is the read view's concern; a worker holds only its
partitions' live ids.)
"""

from __future__ import annotations

from riskrelay.models import AvroRecord


class PartitionedStateStore:
    def __init__(self) -> None:
        self._partitions: dict[int, dict[str, AvroRecord]] = {}

    def get(self, partition: int, event_id: str) -> AvroRecord | None:
        return self._partitions.get(partition, {}).get(event_id)

    def put(self, partition: int, event_id: str, state: AvroRecord) -> None:
        self._partitions.setdefault(partition, {})[event_id] = state

    def drop(self, partition: int) -> None:
        self._partitions.pop(partition, None)

    def size(self) -> int:
        return sum(len(p) for p in self._partitions.values())
