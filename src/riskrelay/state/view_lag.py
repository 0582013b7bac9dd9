"""How far the API's state view is behind the state topic, in offsets: the records it has
not applied, and while behind, the commit markers of the worker's transactions among them.

The end of each partition is its last stable offset (what a ``read_committed`` reader can
reach; an open transaction of the worker is not lag yet), asked with one ListOffsets
request every ``interval_s`` on a thread of its own: never per HTTP request, and not on
the view's reading thread, so a reader that stalls (a slow disk) or died shows as a
growing lag instead of freezing the last figure it computed. ``/readyz`` and ``/metrics``
read the last answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from riskrelay.kafka.config import client_config

log = logging.getLogger(__name__)

LAG_INTERVAL_S = 1.0
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class ViewLag:
    """Records behind the end of each partition whose end is known (all of them once the
    first ListOffsets answered), and the age of the newest record the view applied."""

    partitions: Mapping[int, int] = field(default_factory=dict)
    expected: int = 0  # the topic's partition count; 0 while unknown
    last_record_age_s: float | None = None

    @property
    def records(self) -> int | None:
        """Behind in all partitions together; None until every partition's end is known."""
        if not self.expected or len(self.partitions) < self.expected:
            return None
        return sum(self.partitions.values())

    def body(self) -> dict[str, object]:
        age = self.last_record_age_s
        return {
            "records": self.records,
            "partitions": {str(p): n for p, n in sorted(self.partitions.items())},
            "last_record_age_s": None if age is None else round(age, 3),
        }


def records_behind(
    ends: Mapping[int, int], positions: Mapping[int, int], starts: Mapping[int, int]
) -> dict[int, int]:
    """Per partition, records between the view's next offset and the end. A partition the
    view has no position in yet (nothing read, no checkpoint) is behind from its start."""
    behind: dict[int, int] = {}
    for partition, end in ends.items():
        position = positions.get(partition)
        if position is None:
            position = starts.get(partition, 0)
        behind[partition] = max(0, end - position)
    return behind


class EndOffsets:
    """The state topic's start and end offsets, asked every ``interval_s`` until ``stop``."""

    def __init__(self, bootstrap: str, topic: str, interval_s: float = LAG_INTERVAL_S) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._interval_s = interval_s
        self._partitions = 0
        # Replaced whole, never mutated: readers on other threads see one answer or the next.
        self.ends: dict[int, int] = {}
        self.starts: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def partitions(self) -> int:
        return self._partitions

    def watch(self, partitions: int) -> None:
        """Ask for ``partitions`` partitions from now on (the topic as the view found it)."""
        if partitions != self._partitions:
            self.ends, self.starts = {}, {}
        self._partitions = partitions

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-view-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        admin = AdminClient(client_config(self._bootstrap))
        while not self._stop.is_set():
            if self._partitions:
                self._ask(admin)
            self._stop.wait(self._interval_s)

    def _ask(self, admin: AdminClient) -> None:
        try:
            self.ends = self._offsets(admin, _LATEST)
            self.starts = self._offsets(admin, _EARLIEST)
        except (KafkaException, TimeoutError) as exc:  # TimeoutError: from result()
            if not self._failing:  # once per outage; the figures keep their last value
                log.warning("state topic end offsets unavailable: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("state topic end offsets available again")
        self._failing = False

    def _offsets(self, admin: AdminClient, spec: OffsetSpec) -> dict[int, int]:
        timeout = max(self._interval_s, 5.0)
        futures = admin.list_offsets(
            {TopicPartition(self._topic, p): spec for p in range(self._partitions)},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=timeout,
        )
        return {tp.partition: f.result(timeout=timeout).offset for tp, f in futures.items()}
