"""Provider identity maps: the ids providers gave us for ours.

- ``dataspike.applicant``: subject id → Dataspike applicant id (created on first use)
- ``stripe.evaluation``: payment id → Stripe payment evaluation id
- ``stripe.intervention``: intervention id → the ``key`` Stripe returned when it was raised
- ``unit21.payment_event``: payment id → the event id Unit21 knows the payment by (the
  ``parents`` of its later evaluation events)

They live like the event state: a compacted topic keyed by ``<table>/<key>``, each entry
written to the partition of the input event that learned it. Every event of a subject
(its payments, their evaluations and interventions) is on the subject's partition, so the
worker owning a partition owns every entry its events can ask for. Entries are restored on
assignment, visible to the next event as soon as they are learned, and written in the same
transaction as the outputs of the event that learned them.

A crash between the provider's answer and the commit loses the entry but not the identity:
the adapters make the call that learns it repeatable (Dataspike answers a second create of
the same ``external_id`` with 409 and the existing id; Stripe replays the stored response
for the same ``Idempotency-Key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from riskrelay.models import AvroRecord
from riskrelay.state.store import BytesStore


@dataclass(frozen=True, slots=True)
class Identity:
    table: str
    key: str
    value: str

    @property
    def record_key(self) -> str:
        return f"{self.table}/{self.key}"


class IdentityLookup(Protocol):
    """What an adapter may read: the identities of the partition it is delivering for."""

    def get(self, table: str, key: str) -> str | None: ...


def identity_record(
    identity: Identity, subject_id: str, event_id: str, learned_at: datetime
) -> AvroRecord:
    """The ``identity.avsc`` record of an entry."""
    return {
        "table": identity.table,
        "key": identity.key,
        "value": identity.value,
        "subject_id": subject_id,
        "event_id": event_id,
        "learned_at": learned_at,
    }


class IdentityTable:
    """The entries of the partitions this worker owns, over a ``BytesStore``."""

    def __init__(self, store: BytesStore) -> None:
        self._store = store

    def get(self, partition: int, table: str, key: str) -> str | None:
        value = self._store.get(partition, f"{table}/{key}")
        return None if value is None else value.decode()

    def put(self, partition: int, identity: Identity) -> None:
        self._store.put(partition, identity.record_key, identity.value.encode())

    def apply(self, partition: int, record_key: str, record: AvroRecord) -> None:
        """Restore one record read back from the topic."""
        self._store.put(partition, record_key, str(record["value"]).encode())

    def partition(self, partition: int) -> PartitionIdentities:
        return PartitionIdentities(self, partition)

    def drop(self, partition: int) -> None:
        self._store.drop(partition)

    def stats(self) -> tuple[int, int | None]:
        return self._store.stats()

    def close(self) -> None:
        self._store.close()


@dataclass(frozen=True, slots=True)
class PartitionIdentities:
    """An ``IdentityLookup`` bound to one partition."""

    table: IdentityTable
    number: int

    def get(self, table: str, key: str) -> str | None:
        return self.table.get(self.number, table, key)


class NoIdentities:
    """An empty lookup (mapping tests, previews)."""

    def get(self, table: str, key: str) -> str | None:
        return None
