"""The three measured phases of a bench run, each on a fresh topic namespace, consumer
group and worker process, so no phase inherits another's offsets, state or memory.

- **throughput + latency** (run for the main worker and for the baseline): preload N
  events, start the worker, time the deliveries the sandbox receives; then, with the
  worker caught up, publish at a fixed pace below the measured capacity and time each
  event from produce to provider ack. Throughput needs a full queue; latency needs an
  empty one (a full queue measures queueing, not the worker).
- **backlog**: preload a large backlog, start the worker and sample its memory while
  it works through it, for a bounded window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.progress import Progress, TaskID

from riskrelay.bench.load import EventSource, Publisher
from riskrelay.bench.measure import (
    Mark,
    Rate,
    SandboxClient,
    commit_stats,
    deliveries,
    delivery_rate,
    latencies_ms,
    percentile,
)
from riskrelay.bench.options import BenchOptions
from riskrelay.bench.probe import CpuMeter, ProcessProbe
from riskrelay.bench.profile import Profiler
from riskrelay.bench.stack import BenchStack
from riskrelay.errors import RiskRelayError
from riskrelay.models import Family
from riskrelay.settings import TopicSettings

POLL_S = 0.25


@dataclass
class PhaseResult:
    """One worker configuration's throughput, latency and cost."""

    label: str
    ordering: str
    rate: Rate
    rejected: int = 0
    paced_rate: float = 0.0
    paced_drain_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)
    commits: int = 0
    commit_mean_ms: float = 0.0
    profile: list[tuple[str, float]] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99)


@dataclass
class BacklogResult:
    broker: str
    backlog: int
    preload_events_per_s: float
    window_s: float = 0.0
    delivered: int = 0
    min_behind: int = 0
    peak_rss_mb: float = 0.0
    rss_at_first_delivery_mb: float = 0.0
    rss_at_end_mb: float = 0.0
    commits: int = 0
    commit_mean_ms: float = 0.0

    @property
    def growth_kb_per_event(self) -> float:
        """Resident-set growth per delivered event over the window (state kept per event)."""
        grown = self.rss_at_end_mb - self.rss_at_first_delivery_mb
        return grown * 1024 / self.delivered if self.delivered else 0.0


class Phases:
    def __init__(self, stack: BenchStack, progress: Progress) -> None:
        self.stack = stack
        self.options: BenchOptions = stack.options
        self.progress = progress
        self.sandbox = SandboxClient(stack.sandbox_url)
        self.source = EventSource(self.options.subjects, self.options.seed)

    # -- helpers -------------------------------------------------------------------

    def _task(self, description: str, total: int) -> TaskID:
        return self.progress.add_task(description, total=total)

    def _publisher(self, bootstrap: str, topics: TopicSettings, linger_ms: int) -> Publisher:
        topic = topics.family_topic(Family.LIFECYCLE.value)
        return Publisher(bootstrap, self.stack.registry_url, topic, self.source, linger_ms)

    def _preload(self, bootstrap: str, topics: TopicSettings, tag: str, count: int) -> float:
        task = self._task(f"publish {count:,} events ({tag})", count)
        publisher = self._publisher(bootstrap, topics, linger_ms=50)
        rate = publisher.preload(tag, count, lambda n: self.progress.update(task, completed=n))
        return rate

    def _check(self, probe: ProcessProbe) -> None:
        if not self.stack.worker_alive():
            raise RiskRelayError(
                f"the worker exited during the bench; log tail:\n{probe.log_tail()}"
            )

    def _await(
        self,
        probe: ProcessProbe,
        since: Mark,
        tag: str,
        count: int,
        what: str,
        on_first: Callable[[], None] | None = None,
    ) -> None:
        """Until ``count`` events of ``tag`` are accepted; a stall is an error.
        ``on_first`` runs at the first delivery seen (measurements that start-up would
        dilute start there)."""
        task = self._task(what, count)
        prefix = f"bench-{tag}-"
        last_seen, last_change = -1, time.monotonic()
        while True:
            probe.sample()
            self._check(probe)
            seen = self.sandbox.events_since(since)
            self.progress.update(task, completed=min(seen, count))
            if seen and on_first is not None:
                on_first()
                on_first = None
            if seen != last_seen:
                last_seen, last_change = seen, time.monotonic()
            if seen >= count:
                accepted = len(deliveries(self.sandbox.requests(since), prefix).received_at)
                if accepted >= count:
                    self.progress.update(task, completed=count)
                    return
                time.sleep(1.0)  # some were refused and are being retried
            if time.monotonic() - last_change > self.options.stall_timeout_s:
                raise RiskRelayError(
                    f"no delivery for {self.options.stall_timeout_s:.0f}s ({what}: "
                    f"{seen}/{count}); worker log tail:\n{probe.log_tail()}"
                )
            time.sleep(POLL_S)

    def _cpu_meter(self, probe: ProcessProbe) -> CpuMeter:
        pids = {"worker": probe.pid, **self.stack.broker_pids()}
        sandbox = self.stack.pid("sandbox-unit21")
        if sandbox is not None:
            pids["sandbox"] = sandbox
        return CpuMeter(pids)

    # -- phases --------------------------------------------------------------------

    def throughput_and_latency(self, label: str, ordering: str, count: int) -> PhaseResult:
        bootstrap = self.stack.bootstrap
        topics = self.stack.topics(bootstrap, label)
        self._preload(bootstrap, topics, label, count)
        self.sandbox.clear()
        since = self.sandbox.mark()
        probe = self.stack.start_worker(bootstrap, topics, label, ordering)
        result = self._throughput(probe, since, label, ordering, count)
        self._latency(probe, bootstrap, topics, result)
        probe.sample()
        result.peak_rss_mb = probe.peak_rss_mb
        result.commits, result.commit_mean_ms = self._commits()
        self.sandbox.clear()
        self.stack.stop_worker()
        return result

    def _throughput(
        self, probe: ProcessProbe, since: Mark, label: str, ordering: str, count: int
    ) -> PhaseResult:
        """Deliveries of a preloaded topic; CPU (and the profile) from the first one."""
        meter = self._cpu_meter(probe)
        profiler: list[Profiler] = []

        def first_delivery() -> None:
            meter.start()
            if self.options.profile and label == "main":
                profiler.append(Profiler(probe.pid, self.options.profile))

        result = PhaseResult(label, ordering, delivery_rate(()))
        try:
            what = f"{label}: deliver {count:,} ({ordering} order)"
            self._await(probe, since, label, count, what, first_delivery)
            result.cores = meter.cores()
        finally:
            result.profile = profiler[0].stop() if profiler else []
        got = deliveries(self.sandbox.requests(since), f"bench-{label}-")
        result.rate = delivery_rate(got.received_at.values())
        result.rejected = got.rejected
        return result

    def _latency(
        self, probe: ProcessProbe, bootstrap: str, topics: TopicSettings, result: PhaseResult
    ) -> None:
        """With the worker caught up, publish below its measured capacity and time each
        event from produce to provider ack."""
        result.paced_rate = self.options.pace * result.rate.steady_events_per_s
        tag = f"{result.label}p"
        publisher = self._publisher(bootstrap, topics, linger_ms=1)
        self.sandbox.clear()
        since = self.sandbox.mark()
        total = max(1, round(result.paced_rate * self.options.paced_s))
        task = self._task(f"{result.label}: paced {result.paced_rate:,.0f}/s for latency", total)

        def paced_progress(n: int) -> None:
            self.progress.update(task, completed=n)
            probe.sample()

        sent = publisher.paced(tag, result.paced_rate, self.options.paced_s, paced_progress)
        self._await(probe, since, tag, len(sent), f"{result.label}: deliver the paced events")
        received = deliveries(self.sandbox.requests(since), f"bench-{tag}-").received_at
        result.latencies = latencies_ms(sent, received, self.options.latency_ms)
        if sent and received:
            # Near the provider latency when the worker kept up with the pace; seconds
            # when it fell behind (then the percentiles measure queueing too).
            last_ack = max(received.values()) + self.options.latency_ms / 1000
            result.paced_drain_s = last_ack - max(sent.values())

    def _commits(self) -> tuple[int, float]:
        count, mean_s = commit_stats(self.stack.metrics_url)
        return count, mean_s * 1000

    def backlog(self) -> BacklogResult:
        """Peak worker memory while at least ``min_behind`` events were still waiting."""
        o = self.options
        bootstrap, broker = self.stack.backlog_bootstrap()
        topics = self.stack.topics(bootstrap, "backlog")
        rate = self._preload(bootstrap, topics, "backlog", o.backlog)
        result = BacklogResult(broker, o.backlog, rate)
        since = self.sandbox.mark()
        probe = self.stack.start_worker(bootstrap, topics, "backlog", "subject")
        task = self._task(f"backlog: sample worker memory for {o.rss_window_s:.0f}s", o.backlog)
        started = time.monotonic()
        first: float | None = None
        seen = 0
        while True:
            probe.sample()
            self._check(probe)
            seen = self.sandbox.events_since(since)
            now = time.monotonic()
            if seen and first is None:
                first = now
                result.rss_at_first_delivery_mb = probe.rss_mb()
            self.progress.update(
                task,
                completed=min(seen, o.backlog),
                description=f"backlog: {probe.rss_mb():,.0f} MB resident, {seen:,} delivered",
            )
            window_over = first is not None and now - first >= o.rss_window_s
            stalled = first is None and now - started > o.stall_timeout_s
            if stalled:
                raise RiskRelayError(
                    f"no delivery {o.stall_timeout_s:.0f}s into the backlog phase; "
                    f"worker log tail:\n{probe.log_tail()}"
                )
            if window_over or seen >= o.backlog:
                break
            time.sleep(POLL_S)
        probe.sample()
        result.rss_at_end_mb = probe.rss_mb()
        result.commits, result.commit_mean_ms = self._commits()
        result.window_s = now - (first or now)
        result.delivered = seen
        result.min_behind = max(0, o.backlog - seen)
        result.peak_rss_mb = probe.peak_rss_mb
        self.sandbox.clear()
        self.stack.stop_worker()
        return result
