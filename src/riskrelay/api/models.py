"""Response bodies, for the OpenAPI document (the handlers write them with orjson)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    path: str = Field(description="Dotted path of the field; empty for the body as a whole.")
    reason: str


class Problem(BaseModel):
    """Every 4xx/5xx answer."""

    status: str = Field(
        description="Machine-readable code: not_found, invalid, malformed, unauthorized, "
        "forbidden, conflict, too_large, unsupported_media_type, unavailable, ..."
    )
    message: str
    event_id: str | None = None
    errors: list[FieldProblem] | None = Field(
        default=None, description="For 422: every field that breaks the contract."
    )


class Accepted(BaseModel):
    """202: the event is stored in Kafka; the worker has not necessarily seen it yet."""

    event_id: str
    status: Literal["accepted"]
    operation: Literal["create", "update"] = Field(
        description="update when a create of a known id asked for upsert_on_conflict"
    )
    family: Literal["lifecycle", "payment", "evaluation"]
    kind: str
    expected_version: int = Field(
        description="The version the worker should give it, if no other writer interleaves."
    )


class Locked(BaseModel):
    """423: the first version is accepted and not fully processed."""

    event_id: str
    status: Literal["locked"]
    pending_version: int | None
    message: str


class Delivery(BaseModel):
    provider: str
    outcome: str = Field(description="pending, delivered, failed or skipped")
    attempts: int
    status_code: int | None
    response_ref: str | None
    error: str | None
    completed_at: str | None


class EventView(BaseModel):
    """200: the last fully processed version, and whether a newer one is in flight."""

    event_id: str
    subject_id: str
    kind: str
    status: Literal["processed", "failed"]
    version: int
    processed_at: str
    update_pending: bool
    pending_version: int | None
    data: dict[str, Any] = Field(description="The canonical event (normalized.avsc) as JSON.")
    deliveries: list[Delivery]
    errors: list[str]


class Lag(BaseModel):
    """How far the view is behind the state topic's end (its last stable offsets, asked
    every second)."""

    records: int | None = Field(
        description="Offsets of the state topic not applied yet, all partitions (the "
        "worker's commit markers count while behind); null until every partition's end "
        "is known (the first second after start)."
    )
    partitions: dict[str, int] = Field(description="Offsets not applied yet, per partition.")
    last_record_age_s: float | None = Field(
        description="Age of the newest state record the view applied (its Kafka "
        "timestamp); null before the first one since start."
    )


class Readiness(BaseModel):
    """``/readyz``: 200 once the view caught up with the state topic as it was at start."""

    status: Literal["ready", "catching up with the state topic"]
    events: int = Field(description="Events in the view.")
    accepted_unseen: int = Field(
        description="Events this process accepted that its view does not show yet."
    )
    lag: Lag | None
