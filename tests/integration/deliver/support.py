"""Helpers for delivery tests against real sandboxes: events, requests, providers built
the production way (settings → ``build_provider``), metric reads and async polling."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from riskrelay.deliver.dispatcher import Provider, build_provider
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.dev.demo import lifecycle_event
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import CanonicalEvent, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.sandbox.server import SandboxThread
from riskrelay.settings import Unit21Settings

KEY = "deliver-test-key"
SandboxFactory = Callable[..., SandboxThread]
WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)


class NamedUnit21(Unit21Adapter):
    """Unit21's mapping under another provider name, for two providers side by side."""

    def __init__(self, name: str = "unit21") -> None:
        self.name = name


def events(count: int, seed: int = 0) -> list[CanonicalEvent]:
    """``count`` normalized lifecycle events with distinct ids."""
    rng = random.Random(seed)
    source = SourcePosition("risk.lifecycle.v1", 0, 0)
    return [
        normalize(
            Family.LIFECYCLE, lifecycle_event(rng, f"user-{i:05d}", "SIGN_IN", WHEN), source, WHEN
        )
        for i in range(count)
    ]


def provider(sandbox: SandboxThread, name: str = "unit21", **policy: Any) -> Provider:
    """A provider on ``sandbox`` from ``Unit21Settings`` (``api_key`` defaults to ``KEY``;
    one request per event unless ``batch_max_events`` says otherwise, so that these
    policy tests count events by requests; ``test_batching.py`` tests batches)."""
    policy.setdefault("api_key", KEY)
    policy.setdefault("batch_max_events", 1)
    settings = Unit21Settings(base_url=sandbox.base_url, **policy)
    return build_provider(NamedUnit21(name), settings)


def sample(metrics: WorkerMetrics, name: str, provider: str = "unit21", **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"provider": provider, **labels}) or 0.0


def received(sandbox: SandboxThread, status: int | None = None) -> list[float]:
    """When the sandbox received each provider request (optionally of one status), sorted."""
    return sorted(
        r["received_at"]
        for r in sandbox.requests()
        if not r["path"].startswith("/_sandbox/") and (status is None or r["status"] == status)
    )


def most_within(times: list[float], window_s: float) -> int:
    """The largest number of ``times`` inside any half-open window of ``window_s``."""
    return max((sum(1 for u in times if t <= u < t + window_s) for t in times), default=0)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.02)
