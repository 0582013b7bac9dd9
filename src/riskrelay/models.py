"""The canonical event as the pipeline carries it between stages.

Records stay the Avro-shaped dicts that fastavro reads and writes (``normalized.avsc`` is
the canonical schema); converting them to objects and back for every event would cost
more than the rest of the CPU pipeline. ``Envelope`` holds the few fields every stage
routes on, typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

AvroRecord = dict[str, Any]


class Family(StrEnum):
    LIFECYCLE = "LIFECYCLE"
    PAYMENT = "PAYMENT"
    EVALUATION = "EVALUATION"


# The Avro contract (``schemas/<name>.avsc``) of each input family.
FAMILY_SCHEMAS: dict[Family, str] = {
    Family.LIFECYCLE: "lifecycle",
    Family.PAYMENT: "payment",
    Family.EVALUATION: "evaluation",
}


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"


@dataclass(frozen=True, slots=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int

    def as_record(self) -> AvroRecord:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class Envelope:
    """What routing, ordering and state need to know about an input event."""

    event_id: str
    subject_id: str
    family: Family
    kind: str
    operation: Operation
    upsert_on_conflict: bool
    occurred_at: datetime
    source: SourcePosition


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """A validated, normalized event: its envelope and its ``normalized.avsc`` body
    (without ``version``/``operation``, which the state stage decides)."""

    envelope: Envelope
    body: AvroRecord
