"""The checkpoint: the only place that commits, in one order.

begin transaction → produce the buffered outputs (normalized events, delivery results,
DLQ records, state snapshots) → add the input offsets → commit. Either all of it is
visible to read_committed consumers or none of it is. A transaction that must be aborted
leaves the worker's in-memory state ahead of Kafka, so the worker stops (crash-only):
a restart restores state from Kafka and reprocesses from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from riskrelay.errors import BrokerError
from riskrelay.kafka.collector import EncodedRecord, RecordCollector
from riskrelay.metrics import WorkerMetrics
from riskrelay.processing.offsets import OffsetTracker

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


class TransactionFailed(BrokerError):
    """The transaction could not commit; the worker must restart from Kafka's state."""


class Checkpoint:
    def __init__(
        self,
        producer: Producer,
        group_metadata: Callable[[], object],
        collector: RecordCollector,
        tracker: OffsetTracker,
        metrics: WorkerMetrics,
        owned: Callable[[tuple[str, int]], bool],
        before_commit: Callable[[], None] = lambda: None,
        timeout_s: float = 30.0,
        offsets_timeout_s: float = 5.0,
    ) -> None:
        self._producer = producer
        self._group_metadata = group_metadata
        self._collector = collector
        self._tracker = tracker
        self._metrics = metrics
        self._owned = owned
        self._before_commit = before_commit
        self._timeout_s = timeout_s
        self._offsets_timeout_s = offsets_timeout_s
        self._lock = asyncio.Lock()
        self._finished = 0
        self._committing = 0

    def init(self) -> None:
        """Fence any previous producer with the same transactional id (a zombie)."""
        self._producer.init_transactions(self._timeout_s)

    def finished(self) -> None:
        """Count one event whose outputs are buffered for the next transaction."""
        self._finished += 1

    @property
    def uncommitted(self) -> int:
        """Events finished but not yet committed: their outputs (and the profiles they
        changed) are held in memory until a transaction takes them, so the worker's
        in-flight bound counts them too; otherwise a slow commit lets the buffer grow
        with the worker's throughput."""
        return self._finished + self._committing

    async def commit(self, offsets_timeout_s: float | None = None) -> bool:
        """Commit everything finished so far; returns whether the offsets were committed.
        Safe to call concurrently (serialized).

        The offsets get ``offsets_timeout_s``. Real Kafka accepts a transactional offset
        commit from a member while a rebalance is under way; some Kafka-protocol brokers
        hold it until the rebalance ends, which cannot happen while this member is in its
        revoke callback. So a non-fatal failure to add the offsets aborts that transaction
        and commits the same outputs again without them: the outputs (state snapshots
        included) are never lost, and offsets not committed only make the next owner
        re-read records that its restored state marks as done.
        """
        async with self._lock:
            self._before_commit()
            records = self._collector.take()
            self._committing, self._finished = self._finished, 0
            offsets = {k: v for k, v in self._tracker.to_commit().items() if self._owned(k)}
            if not records and not offsets:
                self._committing = 0
                return True
            start = time.perf_counter()
            timeout = self._offsets_timeout_s if offsets_timeout_s is None else offsets_timeout_s
            try:
                committed = await asyncio.to_thread(self._transact, records, offsets, timeout)
            finally:
                self._committing = 0
            if committed:
                self._tracker.committed(offsets)
            self._metrics.commit_seconds.observe(time.perf_counter() - start)
            return committed

    def _produce(self, record: EncodedRecord) -> None:
        while True:
            try:
                self._producer.produce(
                    record.topic, value=record.value, key=record.key, partition=record.partition
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _transact(
        self, records: list[EncodedRecord], offsets: Offsets, offsets_timeout_s: float
    ) -> bool:
        producer = self._producer
        try:
            producer.begin_transaction()
            for record in records:
                self._produce(record)
            if offsets and not self._add_offsets(offsets, offsets_timeout_s):
                producer.abort_transaction(self._timeout_s)
                producer.begin_transaction()
                for record in records:
                    self._produce(record)
                offsets = {}
            self._commit_with_retries()
            return bool(offsets)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            self._metrics.transaction_aborts.inc()
            if error.txn_requires_abort():
                try:
                    producer.abort_transaction(self._timeout_s)
                except KafkaException:
                    log.exception("abort after a failed transaction failed too")
            raise TransactionFailed(f"transaction failed: {error}") from exc

    def _add_offsets(self, offsets: Offsets, timeout_s: float) -> bool:
        try:
            self._producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                self._group_metadata(),
                timeout_s,
            )
            return True
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise
            self._metrics.offset_commit_deferrals.inc()
            log.warning(
                "offsets not added to the transaction (%s); committing outputs alone", error
            )
            return False

    def _commit_with_retries(self, attempts: int = 5) -> None:
        for attempt in range(1, attempts + 1):
            try:
                self._producer.commit_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or attempt == attempts:
                    raise
                log.warning("commit_transaction retriable error (%s), retrying", error)
