"""Publish events from a JSON-lines file: each line validated (the contract and the
worker's checks); bad lines reported by number and skipped, good ones published.

JSON forms: instants are RFC 3339 strings or epoch milliseconds, dates ``YYYY-MM-DD``,
enums their symbol. Without a family each line's ``event_type`` tells it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from riskrelay.errors import ConfigError, ValidationError
from riskrelay.models import Family
from riskrelay.sdk.models import FAMILY_MODELS
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import KafkaSettings, TopicSettings

TIME_FIELDS = ("occurred_at",)


@dataclass
class JsonlResult:
    published: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)


def event_families() -> dict[str, Family]:
    """Each ``event_type`` symbol and the family whose contract has it."""
    found: dict[str, Family] = {}
    for family, model in FAMILY_MODELS.items():
        kinds = model.model_fields["event_type"].annotation
        assert isinstance(kinds, type) and issubclass(kinds, Enum)
        found.update({member.value: Family(family) for member in kinds})
    return found


def parse_family(name: str | None) -> Family | None:
    if name is None or name == "auto":
        return None
    try:
        return Family(name.upper())
    except ValueError:
        raise ConfigError(
            f"unknown family {name!r}: lifecycle, payment, evaluation or auto"
        ) from None


def _coerce_times(event: dict[str, Any]) -> dict[str, Any]:
    """Integers are epoch milliseconds here (the contract's unit), never seconds."""
    for name in TIME_FIELDS:
        value = event.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            event[name] = datetime.fromtimestamp(value / 1000, UTC)
    session = event.get("session")
    if isinstance(session, dict) and isinstance(session.get("session_started_at"), int):
        session["session_started_at"] = datetime.fromtimestamp(
            session["session_started_at"] / 1000, UTC
        )
    return event


def publish_lines(
    source: Path,
    family: Family | None,
    producer: EventProducer,
    progress: Callable[[int], None] | None = None,
) -> JsonlResult:
    """Publish every valid line of ``source``; ``progress`` gets the bytes read."""
    families = event_families()
    result = JsonlResult()
    with source.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if progress is not None:
                progress(len(line))
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
                if not isinstance(event, dict):
                    raise ValidationError("a line must be a JSON object")
                kind = event.get("event_type")
                line_family = family or (families.get(kind) if isinstance(kind, str) else None)
                if line_family is None:
                    raise ValidationError(
                        f"event_type: {event.get('event_type')!r} is not a known event type"
                    )
                producer.send(line_family, _coerce_times(event))
                result.published += 1
            except (orjson.JSONDecodeError, ValidationError) as exc:
                result.bad.append((number, str(exc)))
    producer.flush()
    return result


def publish_jsonl(
    path: str,
    family_name: str | None,
    bootstrap: str,
    registry_url: str,
    topics: TopicSettings,
    kafka: KafkaSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, list[tuple[int, str]]]:
    family = parse_family(family_name)
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{path}: no such file")
    producer = EventProducer(bootstrap, registry_url, topics, kafka=kafka, worker_checks=True)
    result = publish_lines(source, family, producer, progress)
    return result.published, result.bad
