"""The API bench's load generator: ``python -m riskrelay.bench.api_load '<json>'``.

A process of its own, so the client's CPU is not the API's: ``concurrency`` aiohttp
requests in flight on one keep-alive connection each, for ``warmup_s`` unrecorded and
then ``duration_s`` recorded, ids drawn from the bench's mix (existing, locked, unknown)
and every answer checked against the status its id must get. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from riskrelay.bench.api_data import LOCKED, event_id, expected_status, unknown_id
from riskrelay.bench.measure import percentile


@dataclass(frozen=True, slots=True)
class LoadPlan:
    url: str  # the API's base URL
    events: int  # ids 0..events-1 exist
    concurrency: int = 32
    duration_s: float = 10.0
    warmup_s: float = 2.0
    unknown_share: float = 0.1
    locked_share: float = 0.1
    api_key: str = ""
    seed: int = 11


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    get_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0  # answers whose status is not the one the id must get
    unexpected_example: str = ""
    errors: int = 0  # requests that got no answer


class _Ids:
    """Request targets: (path, expected status), from the plan's mix."""

    def __init__(self, plan: LoadPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)
        self._locked = range(LOCKED, plan.events, 10)
        if not self._locked:
            raise ValueError("the bench needs at least 10 events (some of them locked)")

    def next(self) -> tuple[str, int]:
        draw = self._rng.random()
        if draw < self._plan.unknown_share:
            return unknown_id(self._rng.randrange(1_000_000_000)), 404
        if draw < self._plan.unknown_share + self._plan.locked_share:
            index = self._rng.choice(self._locked)
        else:
            index = self._rng.randrange(self._plan.events)
        return event_id(index), expected_status(index)


async def run_load(plan: LoadPlan) -> LoadResult:
    ids = _Ids(plan)
    result = LoadResult()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"X-API-Key": plan.api_key} if plan.api_key else {}
    start = time.perf_counter()
    recording_from = start + plan.warmup_s
    end = recording_from + plan.duration_s

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            path, expected = ids.next()
            sent = time.perf_counter()
            if sent >= end:
                return
            try:
                async with session.get(f"{plan.url}/v1/events/{path}", headers=headers) as answer:
                    body = await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError):
                if sent >= recording_from:
                    result.errors += 1
                continue
            if sent < recording_from:
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[status] += 1
            if status != expected:
                result.unexpected += 1
                result.unexpected_example = (
                    f"{path}: {status} (expected {expected}) {body[:200].decode(errors='replace')}"
                )

    connector = aiohttp.TCPConnector(limit=plan.concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(plan.concurrency)))
    result.requests = len(latencies)
    result.seconds = plan.duration_s
    result.get_per_s = len(latencies) / plan.duration_s
    result.p50_ms = percentile(latencies, 50) * 1000
    result.p99_ms = percentile(latencies, 99) * 1000
    result.max_ms = max(latencies, default=0.0) * 1000
    result.statuses = {str(code): n for code, n in sorted(statuses.items())}
    return result


def main(argv: list[str]) -> None:
    plan = LoadPlan(**orjson.loads(argv[1]))
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    result = runner(run_load(plan))
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv)
