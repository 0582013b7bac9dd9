"""What one ``riskrelay bench worker`` run does, checked before anything starts.

Every mistake here is the user's to fix, so it is a ``ConfigError`` (one line, exit 2)
raised before a broker or a child process exists: nothing to clean up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from riskrelay.errors import ConfigError
from riskrelay.settings import WorkerSettings

BrokerChoice = Literal["noida", "tansu"]
BacklogBrokerChoice = Literal["auto", "same", "noida", "tansu"]

# How long the baseline should run when its size is left to the bench: long enough for a
# steady rate, short enough that a default run stays a few minutes.
BASELINE_TARGET_S = 10.0
# Above this backlog "auto" runs the backlog phase on Tansu. Measured here with 1,000,000
# events: a plain consumer with the worker's consumer settings reaches ~790 MB resident
# on noida (~225 MB on Tansu) before it has read 20,000 of them, because librdkafka
# buffers what noida sends for a large partition; the figure would measure that, not
# the worker. Publishing 1,000,000 events to noida itself is quick (~30k/s).
AUTO_TANSU_BACKLOG = 100_000


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Sizes, provider latency, worker limits and where to run (ports 0 = pick free)."""

    partitions: int = 6
    subjects: int = 10_000
    events: int = 30_000
    baseline_events: int = 0  # 0: enough for ~BASELINE_TARGET_S at partitions/latency
    latency_ms: float = 50.0
    backlog: int = 20_000
    broker: BrokerChoice = "noida"
    backlog_broker: BacklogBrokerChoice = "auto"
    # The worker's own default: the bench measures the defaults unless told otherwise.
    max_in_flight: int = WorkerSettings.model_fields["max_in_flight"].default
    concurrency: int = 256
    pace: float = 0.6
    paced_s: float = 5.0
    rss_window_s: float = 20.0
    stall_timeout_s: float = 60.0
    broker_port: int = 0
    registry_port: int = 0
    sandbox_port: int = 0
    metrics_port: int = 0
    seed: int = 7
    cpu_events: int = 3_000  # CPU-pipeline phase (enrichment on and off); 0 skips it
    profile: Path | None = None  # py-spy profile of the main run's worker, written here

    def __post_init__(self) -> None:
        positive = {
            "--partitions": self.partitions,
            "--subjects": self.subjects,
            "--events": self.events,
            "--max-in-flight": self.max_in_flight,
            "--concurrency": self.concurrency,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        non_negative: dict[str, float] = {
            "--baseline-events": self.baseline_events,
            "--latency-ms": self.latency_ms,
            "--backlog": self.backlog,
            "--broker-port": self.broker_port,
            "--registry-port": self.registry_port,
            "--sandbox-port": self.sandbox_port,
            "--metrics-port": self.metrics_port,
            "--cpu-events": self.cpu_events,
        }
        for name, number in non_negative.items():
            if not math.isfinite(number) or number < 0:
                raise ConfigError(f"{name} must be 0 or more, got {number:g}")
        if not 0 < self.pace < 1:
            raise ConfigError(f"--pace must be between 0 and 1 (exclusive), got {self.pace:g}")
        for name, seconds in {
            "--paced-seconds": self.paced_s,
            "--rss-seconds": self.rss_window_s,
            "--stall-timeout": self.stall_timeout_s,
        }.items():
            if not math.isfinite(seconds) or seconds <= 0:
                raise ConfigError(f"{name} must be more than 0, got {seconds:g}")
        if self.broker not in ("noida", "tansu"):
            raise ConfigError(f"--broker must be noida or tansu, got {self.broker!r}")
        if self.backlog_broker not in ("auto", "same", "noida", "tansu"):
            raise ConfigError(
                f"--backlog-broker must be auto, same, noida or tansu, got {self.backlog_broker!r}"
            )

        if self.profile is not None:
            from riskrelay.bench.profile import py_spy

            py_spy()  # fail now, not after minutes of preloading
            if not self.profile.parent.is_dir():
                raise ConfigError(f"--profile: no directory {self.profile.parent}")

    @property
    def expected_baseline_rate(self) -> float:
        """What one-at-a-time-per-partition can reach at best: partitions / latency."""
        if self.latency_ms <= 0:
            return math.inf
        return self.partitions * 1000.0 / self.latency_ms

    @property
    def baseline_size(self) -> int:
        """Events for the baseline: as given, else ~10 s at its best rate (at most --events)."""
        if self.baseline_events:
            return self.baseline_events
        wanted = self.expected_baseline_rate * BASELINE_TARGET_S
        return self.events if math.isinf(wanted) else max(1, min(self.events, round(wanted)))
