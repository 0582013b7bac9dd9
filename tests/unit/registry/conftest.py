"""An in-memory schemas log and a registry served over real HTTP on it: API tests without Kafka."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from riskrelay.registry import RegistryThread
from riskrelay.registry.errors import StoreError
from riskrelay.registry.records import LogRecord


class MemoryLog:
    """A ``SchemaLog`` in a list; ``fail_writes`` makes the next writes fail after landing
    ``land_before_failure`` records of the batch (a partial write, as Kafka can do)."""

    def __init__(self, records: Sequence[LogRecord] = ()) -> None:
        self.records: list[LogRecord] = list(records)
        self.fail_writes = 0
        self.land_before_failure = 0
        self.replays = 0
        self.closed = False

    def open(self) -> list[LogRecord]:
        return list(self.records)

    def replay(self) -> list[LogRecord]:
        self.replays += 1
        return list(self.records)

    def write(self, batch: Sequence[LogRecord]) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            self.records.extend(batch[: self.land_before_failure])
            raise StoreError("broker unavailable (simulated)")
        self.records.extend(batch)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def memory_log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def registry(memory_log: MemoryLog) -> Iterator[RegistryThread]:
    with RegistryThread(memory_log) as running:
        yield running


@pytest.fixture
def client(registry: RegistryThread) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": registry.url}) as sr:
        yield sr


@pytest.fixture
def http(registry: RegistryThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=10) as session:
        yield session
