"""Typed access to consumed messages (librdkafka leaves every accessor optional)."""

from __future__ import annotations

from confluent_kafka import Message

from riskrelay.models import SourcePosition


def position(message: Message) -> SourcePosition:
    """Topic, partition and offset of a consumed (non-error) message."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("message has no position (an error event, not a record)")
    return SourcePosition(topic, partition, offset)


def header_list(message: Message) -> list[tuple[str, bytes | None]]:
    headers = message.headers() or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in items]
