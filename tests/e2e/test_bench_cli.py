"""``riskrelay bench worker`` as a user runs it: a subprocess, its JSON line, its exit
code, and nothing left behind (processes, ports, temporary data).

The sizes are tiny: this checks that the benchmark runs and reports coherent figures,
not the figures themselves (the bench reports, it never asserts a speed).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from riskrelay.kafka.embedded import free_port
from tests.fixtures.processes import MARKER, assert_nothing_left, marked_env, processes_with

REQUIRED = (
    "events_per_s",
    "baseline_events_per_s",
    "ratio",
    "p50_ms",
    "p99_ms",
    "peak_rss_mb",
    "provider_latency_ms",
    "partitions",
    "subjects",
    "cpu_events_per_s_enriched",
    "cpu_events_per_s_plain",
)


def test_bench_worker_reports_consistent_figures_and_leaves_nothing(tmp_path: Path) -> None:
    env = marked_env(tmp_path)
    ports = {name: free_port() for name in ("broker", "registry", "sandbox", "metrics")}
    command = [
        *(sys.executable, "-m", "riskrelay", "bench", "worker", "--json"),
        *("--events", "600", "--subjects", "100", "--latency-ms", "5"),
        *("--baseline-events", "200", "--backlog", "2000"),
        *("--paced-seconds", "1", "--rss-seconds", "2", "--cpu-events", "300"),
        *(arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))),
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=150, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    missing = [key for key in REQUIRED if key not in figures]
    assert not missing, missing
    assert figures["events_per_s"] > 0
    assert figures["baseline_events_per_s"] > 0
    expected_ratio = figures["events_per_s"] / figures["baseline_events_per_s"]
    assert abs(figures["ratio"] - expected_ratio) <= 0.01 + 0.01 * expected_ratio
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert 0 < figures["baseline_p50_ms"] <= figures["baseline_p99_ms"]
    assert figures["peak_rss_mb"] > 0
    for key in ("cpu_events_per_s_enriched", "cpu_events_per_s_plain"):
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    expected_cpu_ratio = figures["cpu_events_per_s_enriched"] / figures["cpu_events_per_s_plain"]
    assert abs(figures["cpu_enriched_ratio"] - expected_cpu_ratio) <= 0.01
    assert figures["cpu_events"] > 0
    assert figures["provider_latency_ms"] == 5
    assert (figures["partitions"], figures["subjects"]) == (6, 100)
    assert (figures["events"], figures["baseline_events"], figures["backlog"]) == (600, 200, 2000)
    assert "Traceback" not in result.stderr
    assert_nothing_left(env, ports.values(), tmp_path)


def test_a_bad_option_is_one_readable_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    env = marked_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "riskrelay", "bench", "worker", "--latency-ms", "-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "riskrelay: --latency-ms must be 0 or more, got -1"
    ]
    assert result.stdout == ""
    assert processes_with(env[MARKER]) == []


def test_ctrl_c_stops_every_process_and_removes_the_data(tmp_path: Path) -> None:
    env = marked_env(tmp_path)
    ports = {name: free_port() for name in ("broker", "registry", "sandbox", "metrics")}
    command = [
        *(sys.executable, "-m", "riskrelay", "bench", "worker", "--json"),
        *("--events", "20000", "--subjects", "1000", "--latency-ms", "50"),
        *(arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))),
    ]
    bench = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        # As from a terminal: a suite started in the background (`make test &`) hands its
        # children an ignored SIGINT, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 90
        while not worker_running(env[MARKER]):
            assert bench.poll() is None, bench.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the bench never started its worker"
            time.sleep(0.2)
        bench.send_signal(signal.SIGINT)
        _, stderr = bench.communicate(timeout=90)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 130, stderr[-2000:]
    assert b"Traceback" not in stderr
    assert_nothing_left(env, ports.values(), tmp_path)


def worker_running(marker: str) -> bool:
    """Whether the bench has started its ``riskrelay worker`` child (not ``bench worker``)."""
    for pid in processes_with(marker):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if args[-2:] == [b"riskrelay", b"worker"]:
            return True
    return False
