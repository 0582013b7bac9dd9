"""The bench's result as one JSON object (for scripts and the README figures) and as a
table (for people). Each figure says how it was measured, because a throughput number
without its method cannot be compared with anything."""

from __future__ import annotations

import math
import os
from types import FrameType
from typing import Any

from rich.table import Table

from riskrelay.bench.options import BenchOptions
from riskrelay.bench.phases import BacklogResult, PhaseResult

THROUGHPUT_METHOD = (
    "accepted deliveries / (last - first arrival at the sandbox) over a preloaded topic"
)
LATENCY_METHOD = (
    "produce -> provider ack (sandbox arrival + provider latency), events published at "
    "a fixed pace below the measured throughput"
)


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits) if math.isfinite(value) else 0.0


def result_json(
    options: BenchOptions,
    broker: str,
    main: PhaseResult,
    baseline: PhaseResult,
    backlog: BacklogResult | None,
) -> dict[str, Any]:
    main_rate, base_rate = main.rate.events_per_s, baseline.rate.events_per_s
    ratio = main_rate / base_rate if base_rate > 0 else 0.0
    result: dict[str, Any] = {
        "events_per_s": _round(main_rate),
        "baseline_events_per_s": _round(base_rate),
        "ratio": _round(ratio, 2),
        "p50_ms": _round(main.p50_ms),
        "p99_ms": _round(main.p99_ms),
        "peak_rss_mb": _round(backlog.peak_rss_mb if backlog else main.peak_rss_mb),
        "provider_latency_ms": options.latency_ms,
        "partitions": options.partitions,
        "subjects": options.subjects,
        "events": options.events,
        "baseline_events": options.baseline_size,
        "baseline_p50_ms": _round(baseline.p50_ms),
        "baseline_p99_ms": _round(baseline.p99_ms),
        "steady_events_per_s": _round(main.rate.steady_events_per_s),
        "baseline_steady_events_per_s": _round(baseline.rate.steady_events_per_s),
        "throughput_method": THROUGHPUT_METHOD,
        "latency_method": LATENCY_METHOD,
        "paced_events_per_s": _round(main.paced_rate),
        "baseline_paced_events_per_s": _round(baseline.paced_rate),
        "paced_drain_s": _round(main.paced_drain_s, 2),
        "baseline_paced_drain_s": _round(baseline.paced_drain_s, 2),
        "latency_samples": len(main.latencies),
        "baseline_latency_samples": len(baseline.latencies),
        "main_peak_rss_mb": _round(main.peak_rss_mb),
        "baseline_peak_rss_mb": _round(baseline.peak_rss_mb),
        "rejected_requests": main.rejected + baseline.rejected,
        "commit_mean_ms": _round(main.commit_mean_ms),
        "baseline_commit_mean_ms": _round(baseline.commit_mean_ms),
        "cores_used": main.cores,
        "baseline_cores_used": baseline.cores,
        "broker": broker,
        "baseline": "same worker, RISKRELAY_WORKER_ORDERING=partition (one event at a time "
        "per partition) and RISKRELAY_UNIT21_BATCH_MAX_EVENTS=1 (one call per event)",
        "max_in_flight": options.max_in_flight,
        "provider_concurrency": options.concurrency,
        "cpus": os.cpu_count(),
        "backlog": options.backlog,
    }
    if main.profile:
        result["profile_top"] = [{"where": name, "percent": share} for name, share in main.profile]
    if backlog is None:
        result["rss_source"] = "main throughput phase (no backlog phase: --backlog 0)"
    else:
        result.update(
            {
                "rss_source": (
                    f"worker VmHWM while at least {backlog.min_behind:,} of the "
                    f"{backlog.backlog:,} preloaded events were still behind"
                ),
                "backlog_broker": backlog.broker,
                "backlog_preload_events_per_s": _round(backlog.preload_events_per_s),
                "rss_window_s": _round(backlog.window_s),
                "backlog_delivered_in_window": backlog.delivered,
                "backlog_min_behind": backlog.min_behind,
                "backlog_rss_growth_kb_per_event": _round(backlog.growth_kb_per_event, 2),
                "backlog_commit_mean_ms": _round(backlog.commit_mean_ms),
            }
        )
    return result


def result_table(result: dict[str, Any]) -> Table:
    table = Table(title="riskrelay bench worker")
    table.add_column("")
    table.add_column("main (ordering=subject)", justify="right")
    table.add_column("baseline (ordering=partition)", justify="right")
    table.add_row(
        "delivered events/s",
        f"{result['events_per_s']:,.1f}",
        f"{result['baseline_events_per_s']:,.1f}",
    )
    table.add_row(
        "  steady (middle 80 %)",
        f"{result['steady_events_per_s']:,.1f}",
        f"{result['baseline_steady_events_per_s']:,.1f}",
    )
    table.add_row("ratio main / baseline", f"{result['ratio']:.2f}x", "")
    table.add_row(
        "p50 / p99 produce → ack",
        f"{result['p50_ms']:,.1f} / {result['p99_ms']:,.1f} ms",
        f"{result['baseline_p50_ms']:,.1f} / {result['baseline_p99_ms']:,.1f} ms",
    )
    table.add_row(
        "  measured at",
        f"{result['paced_events_per_s']:,.0f}/s",
        f"{result['baseline_paced_events_per_s']:,.0f}/s",
    )
    table.add_row(
        "  last ack after last publish",
        f"{result['paced_drain_s']:,.2f} s",
        f"{result['baseline_paced_drain_s']:,.2f} s",
    )
    table.add_row(
        "peak RSS (throughput run)",
        f"{result['main_peak_rss_mb']:,.1f} MB",
        f"{result['baseline_peak_rss_mb']:,.1f} MB",
    )
    table.add_row("peak RSS (backlog)", f"{result['peak_rss_mb']:,.1f} MB", "")
    if "backlog_rss_growth_kb_per_event" in result:
        growth = result["backlog_rss_growth_kb_per_event"]
        table.add_row("  RSS growth per event", f"{growth:,.2f} KB", "")
    table.add_row(
        "mean commit (transaction)",
        f"{result['commit_mean_ms']:,.1f} ms",
        f"{result['baseline_commit_mean_ms']:,.1f} ms",
    )
    table.add_row(
        "cores used",
        ", ".join(f"{k} {v}" for k, v in result["cores_used"].items()),
        ", ".join(f"{k} {v}" for k, v in result["baseline_cores_used"].items()),
    )
    table.caption = (
        f"{result['partitions']} partitions · {result['subjects']:,} subjects · "
        f"provider latency {result['provider_latency_ms']:g} ms · broker {result['broker']} · "
        f"{result['cpus']} CPUs\nthroughput: {result['throughput_method']}\n"
        f"latency: {result['latency_method']}\nRSS: {result['rss_source']}"
        + (
            f" (backlog on {result['backlog_broker']}, {result['rss_window_s']:g} s window)"
            if "backlog_broker" in result
            else ""
        )
    )
    return table


def profile_table(
    result: dict[str, Any], title: str = "worker main thread, main run (py-spy samples)"
) -> Table | None:
    """Where the profiled process spent its main-thread samples (``--profile``)."""
    rows = result.get("profile_top")
    if not rows:
        return None
    table = Table(title=title)
    table.add_column("innermost riskrelay function → library")
    table.add_column("share", justify="right")
    for row in rows:
        table.add_row(row["where"], f"{row['percent']:.1f} %")
    return table


def interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops a bench the way Ctrl-C does: through every ``finally``."""
    raise KeyboardInterrupt
