"""Which normalizer handles which input family."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from riskrelay.errors import UnknownEventError
from riskrelay.models import AvroRecord, CanonicalEvent, Family, SourcePosition
from riskrelay.normalize.evaluation import normalize_evaluation
from riskrelay.normalize.lifecycle import normalize_lifecycle
from riskrelay.normalize.payment import normalize_payment

Normalizer = Callable[[AvroRecord, SourcePosition, datetime], CanonicalEvent]

NORMALIZERS: dict[Family, Normalizer] = {
    Family.LIFECYCLE: normalize_lifecycle,
    Family.PAYMENT: normalize_payment,
    Family.EVALUATION: normalize_evaluation,
}


def normalize(
    family: Family, record: AvroRecord, source: SourcePosition, now: datetime
) -> CanonicalEvent:
    normalizer = NORMALIZERS.get(family)
    if normalizer is None:
        raise UnknownEventError(f"no normalizer for the {family.value} family yet")
    return normalizer(record, source, now)
