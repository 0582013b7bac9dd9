"""DLQ replay on the wire: the headers ``riskrelay dlq replay`` puts on a re-injected
record, read back by the worker.

A replayed record is a copy of the original input bytes, produced to the original topic
and partition, carrying where the original was (``riskrelay-replay-of``) and, for a
delivery failure, which providers to retry (``riskrelay-replay-providers``). The worker
processes it *as the original record*: its state snapshot is keyed to the original
coordinates, so ``state.snapshot.decide_replay`` can tell that this very input was seen,
which providers failed for it, and that a second replay finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message

from riskrelay.models import SourcePosition

REPLAY_OF = "riskrelay-replay-of"
REPLAY_PROVIDERS = "riskrelay-replay-providers"
REPLAY_HEADERS = frozenset({REPLAY_OF, REPLAY_PROVIDERS})


@dataclass(frozen=True, slots=True)
class Replay:
    """A replay of the input record at ``of``; ``providers``: only these (None: any that
    failed)."""

    of: SourcePosition
    providers: frozenset[str] | None


def replay_headers(of: SourcePosition, providers: frozenset[str] | None) -> list[tuple[str, bytes]]:
    """Headers marking a re-injected copy of the record at ``of``."""
    headers = [(REPLAY_OF, f"{of.topic}:{of.partition}:{of.offset}".encode())]
    if providers:
        headers.append((REPLAY_PROVIDERS, ",".join(sorted(providers)).encode()))
    return headers


def parse_replay(headers: list[tuple[str, bytes | None]]) -> Replay | None:
    """The replay these headers describe, or None (absent or malformed: a record with a
    garbled replay header is processed as an ordinary record)."""
    found = {k: v for k, v in headers if k in REPLAY_HEADERS and v is not None}
    raw = found.get(REPLAY_OF)
    if raw is None:
        return None
    topic, _, rest = raw.decode(errors="replace").rpartition(":")
    topic, _, partition = topic.rpartition(":")
    if not (topic and partition.isdigit() and rest.isdigit()):
        return None
    named = found.get(REPLAY_PROVIDERS)
    providers = (
        frozenset(p for p in named.decode(errors="replace").split(",") if p) if named else None
    )
    return Replay(SourcePosition(topic, int(partition), int(rest)), providers or None)


def input_position(message: Message) -> tuple[SourcePosition, Replay | None]:
    """Where the record being processed counts as coming from: its own position, or for a
    replay the original's (which must be on the same topic and partition, since state and
    outputs are co-partitioned by the input's partition number)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("message has no position (an error event, not a record)")
    here = SourcePosition(topic, partition, offset)
    raw = message.headers()
    if not raw:
        return here, None
    items = raw.items() if isinstance(raw, dict) else raw
    replay = parse_replay([(k, v.encode() if isinstance(v, str) else v) for k, v in items])
    if replay is None or (replay.of.topic, replay.of.partition) != (topic, partition):
        return here, None
    return replay.of, replay
