"""The read side's view of every event, materialized from the state topic.

A background thread applies the topic into a dict; ``ready`` is set once the view has
caught up with the end of the topic as it was at start, so ``/readyz`` never advertises
an instance that would answer 404 for events it simply has not read yet.
"""

from __future__ import annotations

import threading

from riskrelay.decode.avro import AvroDecoder
from riskrelay.errors import BrokerError
from riskrelay.models import AvroRecord
from riskrelay.state.reader import StateTopicReader, state_consumer


class StateView:
    def __init__(self, bootstrap: str, topic: str, decoder: AvroDecoder) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._decoder = decoder
        self._events: dict[str, AvroRecord] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: StateTopicReader | None = None

    def _apply(self, partition: int, event_id: str, state: AvroRecord) -> None:
        self._events[event_id] = state

    def get(self, event_id: str) -> AvroRecord | None:
        return self._events.get(event_id)

    def __len__(self) -> int:
        return len(self._events)

    @property
    def records_applied(self) -> int:
        return 0 if self._reader is None else self._reader.records_applied

    def _run(self) -> None:
        consumer = state_consumer(self._bootstrap)
        metadata = consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        if metadata.error is not None or not metadata.partitions:
            consumer.close()
            raise BrokerError(f"state topic {self._topic} does not exist: {metadata.error}")
        partitions = sorted(metadata.partitions)
        self._reader = StateTopicReader(consumer, self._topic, self._decoder, self._apply)
        try:
            self._reader.assign(partitions)
            self._reader.catch_up(partitions, self._stop)
            self.ready.set()
            self._reader.follow(self._stop)
        finally:
            self._reader.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
