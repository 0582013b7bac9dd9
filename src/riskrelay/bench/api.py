"""``riskrelay bench api``: the read API as a user runs it, over a large state topic.

1. publish ``--events`` state snapshots (``bench.api_data``) to a fresh state topic;
2. start a real ``riskrelay api`` process and time it from spawn to ``/readyz`` (its view
   rebuilt from the topic): the rebuild a user waits for after a deploy on a new disk;
3. load it with GETs from a separate process (``bench.api_load``): existing, 423-locked
   and unknown ids, every answer checked; GET/s, p50/p99 latency, and the API's RSS;
4. restart it on the same view directory: the time to ready when the checkpoint spares
   the replay.

It reports what it measured, with the method; it asserts nothing about speed. An answer
with the wrong status fails the run: figures of a broken API mean nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from riskrelay.bench.api_data import publish_snapshots
from riskrelay.bench.api_load import LoadResult
from riskrelay.bench.api_stack import ApiBenchOptions, ApiBenchStack
from riskrelay.bench.probe import CpuMeter, ProcessProbe
from riskrelay.bench.profile import Profiler
from riskrelay.bench.report import interrupt_on_sigterm, profile_table
from riskrelay.cli.progress import progress_bars
from riskrelay.dev.summary import scrape_samples
from riskrelay.errors import RiskRelayError
from riskrelay.settings import TopicSettings

GET_METHOD = (
    "GET /v1/events/{id} answered per second over the recorded window, from one load "
    "process keeping --concurrency requests in flight (keep-alive); latency is request "
    "sent -> answer read, at the load process; per API core: the same divided by the CPU "
    "time the API process used in the window (/proc), which does not depend on what else "
    "the machine runs"
)
REBUILD_METHOD = "riskrelay api spawned -> /readyz answers 200 (view caught up with the topic)"
MIX = (
    "10 % unknown ids (404), 10 % locked ids (423), 80 % any written id (of which 10 % "
    "locked, 10 % with an update pending)"
)


def _readyz(api_url: str) -> dict[str, Any] | None:
    """The ``/readyz`` body once the API is ready, else None."""
    try:
        with urllib.request.urlopen(f"{api_url}/readyz", timeout=5) as response:
            body: dict[str, Any] = orjson.loads(response.read())
            return body
    except (urllib.error.URLError, OSError):
        return None


class _Phases:
    def __init__(self, stack: ApiBenchStack, progress: Progress) -> None:
        self.stack = stack
        self.options = stack.api_options
        self.progress = progress
        self.figures: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        topics = self.stack.topics(self.stack.bootstrap, "api")
        self._publish(topics)
        probe = self._start_until_ready(topics, "rebuild")
        self._load(probe)
        self.stack.stop_api()
        self._start_until_ready(topics, "resume")
        return self.figures

    def _publish(self, topics: TopicSettings) -> None:
        events = self.options.events
        task = self.progress.add_task("publishing state snapshots", total=events)
        rate = publish_snapshots(
            self.stack.bootstrap,
            self.stack.registry_url,
            topics.name(topics.event_state),
            events,
            lambda n: self.progress.update(task, completed=n),
        )
        self.figures["publish_records_per_s"] = rate

    def _start_until_ready(self, topics: TopicSettings, phase: str) -> ProcessProbe:
        events = self.options.events
        label = "view rebuild" if phase == "rebuild" else "restart (from checkpoint)"
        task = self.progress.add_task(f"API {label}", total=events)
        began = time.monotonic()
        probe = self.stack.start_api(topics)
        started = time.monotonic() - began
        metrics = f"{self.stack.api_url}/metrics"
        deadline = began + self.options.ready_timeout_s
        while (ready := _readyz(self.stack.api_url)) is None:
            if self.stack.api_pid() is None or time.monotonic() > deadline:
                raise RiskRelayError(
                    f"the API was not ready after {time.monotonic() - began:.0f}s; "
                    f"log {probe.log_path}:\n{probe.log_tail()}"
                )
            probe.sample()
            shown = scrape_samples(metrics, "riskrelay_api_view_events", {})
            self.progress.update(task, completed=shown)
            time.sleep(0.5)
        elapsed = time.monotonic() - began
        self.progress.update(task, completed=events)
        probe.sample()
        self.figures[f"{phase}_s"] = elapsed
        self.figures[f"{phase}_startup_s"] = started
        self.figures["view_events"] = int(ready.get("events", 0))
        if phase == "rebuild":
            self.figures["rebuild_peak_rss_mb"] = probe.peak_rss_mb
        return probe

    def _load(self, probe: ProcessProbe) -> None:
        o = self.options
        task = self.progress.add_task(
            f"GET load ({o.concurrency} in flight)", total=round(o.warmup_s + o.duration_s)
        )
        child = self.stack.start_load(o.events)
        began = time.monotonic()
        assert child.pid is not None
        meter = CpuMeter({"api": probe.pid, "load": child.pid, **self.stack.broker_pids()})
        profiler: Profiler | None = None
        cores: dict[str, float] = {}
        while child.alive:
            elapsed = time.monotonic() - began
            if not meter.started and elapsed >= o.warmup_s:
                meter.start()
                if o.profile is not None:
                    profiler = Profiler(probe.pid, o.profile)
            if meter.started and elapsed < o.warmup_s + o.duration_s:
                cores = meter.cores()
            if elapsed > o.warmup_s + o.duration_s + 120:
                raise RiskRelayError(f"the load generator did not finish; log {child.log_path}")
            probe.sample()
            self.progress.update(task, completed=min(elapsed, o.warmup_s + o.duration_s))
            time.sleep(0.25)
        if profiler is not None:
            self.figures["profile_top"] = profiler.stop()
        result: LoadResult = self.stack.load_result(child)
        probe.sample()
        self.figures["load"] = result
        self.figures["cores_used"] = cores
        self.figures["rss_mb"] = probe.rss_mb()
        self.figures["peak_rss_mb"] = probe.peak_rss_mb


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits)


def result_json(options: ApiBenchOptions, broker: str, figures: dict[str, Any]) -> dict[str, Any]:
    load: LoadResult = figures["load"]
    events = options.events
    api_cores = float(figures["cores_used"].get("api", 0.0))
    result: dict[str, Any] = {
        "get_per_s": _round(load.get_per_s),
        "p99_ms": _round(load.p99_ms, 2),
        "view_events": figures["view_events"],
        "rebuild_s": _round(figures["rebuild_s"], 2),
        "rss_mb": _round(figures["rss_mb"]),
        "get_per_api_core_s": _round(load.get_per_s / api_cores) if api_cores > 0 else 0.0,
        "p50_ms": _round(load.p50_ms, 2),
        "max_ms": _round(load.max_ms, 2),
        "requests": load.requests,
        "statuses": load.statuses,
        "unexpected_answers": load.unexpected,
        "failed_requests": load.errors,
        "concurrency": options.concurrency,
        "load_seconds": options.duration_s,
        "mix": MIX,
        "events": events,
        "rebuild_records_per_s": _round(events / figures["rebuild_s"]),
        "rebuild_startup_s": _round(figures["rebuild_startup_s"], 2),
        "resume_s": _round(figures["resume_s"], 2),
        "peak_rss_mb": _round(figures["peak_rss_mb"]),
        "rebuild_peak_rss_mb": _round(figures["rebuild_peak_rss_mb"]),
        "publish_records_per_s": _round(figures["publish_records_per_s"]),
        "view_store": options.view_store,
        "partitions": options.partitions,
        "broker": broker,
        "cores_used": figures["cores_used"],
        "cpus": os.cpu_count(),
        "get_method": GET_METHOD,
        "rebuild_method": REBUILD_METHOD,
    }
    if figures.get("profile_top"):
        result["profile_top"] = [
            {"where": name, "percent": share} for name, share in figures["profile_top"]
        ]
    return result


def result_table(result: dict[str, Any]) -> Table:
    table = Table(title="riskrelay bench api")
    table.add_column("")
    table.add_column("measured", justify="right")
    table.add_row("GET /v1/events/{id} per second", f"{result['get_per_s']:,.0f}")
    table.add_row(
        "  per core the API used (GET/s ÷ API cores)", f"{result['get_per_api_core_s']:,.0f}"
    )
    table.add_row(
        "  latency p50 / p99 / max",
        f"{result['p50_ms']:.2f} / {result['p99_ms']:.2f} / {result['max_ms']:.1f} ms",
    )
    table.add_row(
        "  answers", ", ".join(f"{k}: {v:,}" for k, v in result["statuses"].items()) or "none"
    )
    table.add_row("events in the view", f"{result['view_events']:,}")
    table.add_row(
        "rebuild from the topic",
        f"{result['rebuild_s']:,.1f} s ({result['rebuild_records_per_s']:,.0f} records/s)",
    )
    table.add_row("restart from the checkpoint", f"{result['resume_s']:,.1f} s")
    table.add_row(
        "API RSS after the load / peak",
        f"{result['rss_mb']:,.0f} / {result['peak_rss_mb']:,.0f} MB",
    )
    table.add_row(
        "cores used during the load",
        ", ".join(f"{k} {v}" for k, v in result["cores_used"].items()),
    )
    table.caption = (
        f"{result['events']:,} events · {result['partitions']} partitions · view "
        f"{result['view_store']} · broker {result['broker']} · {result['cpus']} CPUs\n"
        f"mix: {result['mix']}\nGET/s: {result['get_method']}\n"
        f"rebuild: {result['rebuild_method']}"
    )
    return table


def run_api_bench(options: ApiBenchOptions, as_json: bool) -> dict[str, Any]:
    """Run every phase; the JSON object is the last line of stdout with ``as_json``."""
    err = Console(stderr=True)
    out = err if as_json else Console()
    previous = signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    stack = ApiBenchStack(options)
    try:
        stack.start()
        broker = "external" if stack.external else options.broker
        err.print(
            f"[bold]riskrelay bench api[/bold]: {options.events:,} events, "
            f"{options.partitions} partitions, view {options.view_store}, "
            f"broker {broker} ({stack.bootstrap})"
        )
        with progress_bars(err) as progress:
            figures = _Phases(stack, progress).run()
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
    result = result_json(options, broker, figures)
    out.print(result_table(result))
    profile = profile_table(result, "API main thread during the load (py-spy samples)")
    if profile is not None:
        out.print(profile)
    load: LoadResult = figures["load"]
    if load.unexpected or not load.requests:
        raise RiskRelayError(
            f"{load.unexpected:,} of {load.requests:,} answers had the wrong status, "
            f"e.g. {load.unexpected_example or 'no answer at all'}"
        )
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    return result
