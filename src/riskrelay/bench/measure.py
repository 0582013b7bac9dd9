"""Deliveries as the provider saw them: the sandbox's recordings are the ground truth.

The sandbox stamps ``received_at`` (wall clock) when a request arrives and answers after
the injected latency, so a delivery is acknowledged at ``received_at + latency``. The
bench reads only the cheap ``/_sandbox/stats`` counter while the worker runs and fetches
the recordings afterwards, so measuring costs the 2-core machine next to nothing while
it matters.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from riskrelay.errors import RiskRelayError
from riskrelay.sandbox.unit21 import per_event

PAGE = 5000


@dataclass(frozen=True, slots=True)
class Mark:
    """The sandbox's last request sequence number and event count at one moment."""

    seq: int
    events: int


class SandboxClient:
    """The Unit21 sandbox's control API (``/_sandbox/...``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as response:
                return orjson.loads(response.read())
        except (urllib.error.URLError, OSError) as exc:
            raise RiskRelayError(f"sandbox at {self.base_url} not answering: {exc}") from exc

    def mark(self) -> Mark:
        """Where the recordings and the event count stand now."""
        stats = self._get("/_sandbox/stats")
        return Mark(int(stats["last_seq"]), int(stats["events"]))

    def events_since(self, mark: Mark) -> int:
        """Events received since ``mark`` (a batch request counts its events)."""
        return int(self._get("/_sandbox/stats")["events"]) - mark.events

    def clear(self) -> None:
        """Forget recordings (memory); sequence numbers keep increasing."""
        request = urllib.request.Request(f"{self.base_url}/_sandbox/requests", method="DELETE")
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise RiskRelayError(f"sandbox at {self.base_url} not answering: {exc}") from exc

    def requests(self, mark: Mark) -> list[dict[str, Any]]:
        """Every recorded request since ``mark``, oldest first."""
        since = mark.seq
        found: list[dict[str, Any]] = []
        while True:
            page: list[dict[str, Any]] = self._get(f"/_sandbox/requests?since={since}&limit={PAGE}")
            found.extend(page)
            if len(page) < PAGE:
                return found
            since = int(page[-1]["seq"])


@dataclass(frozen=True, slots=True)
class Delivered:
    """Accepted deliveries of one phase's events, and what else the provider saw."""

    received_at: dict[str, float]  # event id → first accepted request's arrival
    requests: int
    rejected: int  # non-2xx answers (retried or dead-lettered by the worker)


def deliveries(records: Iterable[dict[str, Any]], id_prefix: str) -> Delivered:
    """Accepted (2xx) deliveries of events whose id starts with ``id_prefix`` (each event
    of a batch request counts with its own result)."""
    received: dict[str, float] = {}
    requests = rejected = 0
    for record in per_event(records):
        body = record.get("json")
        general = body.get("general_data") if isinstance(body, dict) else None
        event_id = general.get("event_id") if isinstance(general, dict) else None
        if event_id is None and "/update" in str(record.get("path")):
            event_id = str(record["path"]).split("/")[-2]
        if not isinstance(event_id, str) or not event_id.startswith(id_prefix):
            continue
        requests += 1
        if 200 <= int(record["status"]) < 300:
            received.setdefault(event_id, float(record["received_at"]))
        else:
            rejected += 1
    return Delivered(received, requests, rejected)


@dataclass(frozen=True, slots=True)
class Rate:
    """Deliveries per second: over first → last delivery, and over the middle 80 %."""

    events: int
    span_s: float
    events_per_s: float
    steady_events_per_s: float


def delivery_rate(times: Iterable[float]) -> Rate:
    ordered = sorted(times)
    n = len(ordered)
    if n < 2:
        return Rate(n, 0.0, 0.0, 0.0)
    span = ordered[-1] - ordered[0]
    rate = (n - 1) / span if span > 0 else math.inf
    low, high = int(n * 0.1), int(n * 0.9) - 1
    middle = ordered[high] - ordered[low]
    steady = (high - low) / middle if high > low and middle > 0 else rate
    return Rate(n, span, rate, steady)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latencies_ms(
    sent: dict[str, float], received: dict[str, float], latency_ms: float
) -> list[float]:
    """Produce → provider ack per event: ``received_at + provider latency - produced``."""
    return [
        (received[event_id] - produced) * 1000 + latency_ms
        for event_id, produced in sent.items()
        if event_id in received
    ]


def commit_stats(metrics_url: str) -> tuple[int, float]:
    """(transactions committed, mean commit seconds) from the worker's ``/metrics``: slow
    commits hold finished outputs in memory, so they explain memory and latency."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, 0.0
    count, total = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "riskrelay_commit_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return int(count), total / count if count else 0.0
