"""``riskrelay bench worker``: start the stack, run the phases, print the result, and
stop everything whatever happens (an error, Ctrl-C or SIGTERM all end in ``finally``)."""

from __future__ import annotations

import signal
import sys
from typing import Any

import orjson
from rich.console import Console

from riskrelay.bench.cpu import CpuResult, cpu_phase, cpu_table
from riskrelay.bench.options import BenchOptions
from riskrelay.bench.phases import BacklogResult, Phases
from riskrelay.bench.report import (
    interrupt_on_sigterm,
    profile_table,
    result_json,
    result_table,
)
from riskrelay.bench.stack import BenchStack
from riskrelay.cli.progress import progress_bars


def run_bench(options: BenchOptions, as_json: bool) -> dict[str, Any]:
    """Run every phase; the JSON object is the last line of stdout with ``as_json``."""
    err = Console(stderr=True)
    out = err if as_json else Console()
    previous = signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    stack = BenchStack(options)
    try:
        stack.start()
        broker = "external" if stack.external else options.broker
        err.print(
            f"[bold]riskrelay bench worker[/bold]: {options.partitions} partitions, "
            f"{options.subjects:,} subjects, provider latency {options.latency_ms:g} ms, "
            f"broker {broker} ({stack.bootstrap})"
        )
        with progress_bars(err) as progress:
            # First, while nothing else of the bench runs: it measures this process.
            cpu: CpuResult | None = cpu_phase(stack, progress) if options.cpu_events else None
            phases = Phases(stack, progress)
            main = phases.throughput_and_latency("main", "subject", options.events)
            baseline = phases.throughput_and_latency("baseline", "partition", options.baseline_size)
            backlog: BacklogResult | None = phases.backlog() if options.backlog else None
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
    result = result_json(options, broker, main, baseline, backlog)
    if cpu is not None:
        result.update(cpu.as_json())
    out.print(result_table(result))
    if cpu is not None:
        out.print(cpu_table(result))
    profile = profile_table(result)
    if profile is not None:
        out.print(profile)
    elif options.profile is not None:
        err.print(f"py-spy recorded nothing; see {options.profile}.log")
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    return result
