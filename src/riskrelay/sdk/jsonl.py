"""Publish events from a JSON-lines file: each line validated; bad lines reported by
number and skipped, good ones published."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from riskrelay.errors import ConfigError, ValidationError
from riskrelay.models import Family
from riskrelay.sdk.producer import EventProducer
from riskrelay.settings import TopicSettings

TIME_FIELDS = ("occurred_at",)


def _coerce_times(event: dict[str, Any]) -> dict[str, Any]:
    """JSON has no instants: accept RFC 3339 strings or epoch milliseconds."""
    for name in TIME_FIELDS:
        value = event.get(name)
        if isinstance(value, str):
            event[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif isinstance(value, int):
            event[name] = datetime.fromtimestamp(value / 1000, UTC)
    session = event.get("session")
    if isinstance(session, dict) and isinstance(session.get("session_started_at"), str):
        started = session["session_started_at"].replace("Z", "+00:00")
        session["session_started_at"] = datetime.fromisoformat(started)
    return event


def publish_jsonl(
    path: str, family_name: str, bootstrap: str, registry_url: str, topics: TopicSettings
) -> tuple[int, list[tuple[int, str]]]:
    try:
        family = Family(family_name.upper())
    except ValueError:
        raise ConfigError(
            f"unknown family {family_name!r}: lifecycle, payment or evaluation"
        ) from None
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{path}: no such file")
    bad: list[tuple[int, str]] = []
    producer = EventProducer(bootstrap, registry_url, topics)
    with source.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
                if not isinstance(event, dict):
                    raise ValidationError("a line must be a JSON object")
                producer.send(family, _coerce_times(event))
            except (orjson.JSONDecodeError, ValueError, ValidationError) as exc:
                bad.append((number, str(exc)))
    producer.flush()
    return producer.sent, bad
