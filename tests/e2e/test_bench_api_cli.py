"""``riskrelay bench api`` as a user runs it: a subprocess, its JSON line, its exit code,
and nothing left behind (processes, ports, temporary data).

Small sizes: this checks that the benchmark runs and reports coherent figures, not the
figures themselves (the bench reports, it never asserts a speed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from riskrelay.kafka.embedded import free_port
from tests.fixtures.processes import assert_nothing_left, marked_env

REQUIRED = ("get_per_s", "p99_ms", "view_events", "rebuild_s", "rss_mb")


def test_bench_api_reports_the_figures_and_leaves_nothing(tmp_path: Path) -> None:
    env = marked_env(tmp_path)
    ports = {name: free_port() for name in ("broker", "registry", "api")}
    command = [
        *(sys.executable, "-m", "riskrelay", "bench", "api", "--json"),
        *("--events", "20000", "--duration", "3", "--warmup", "1", "--concurrency", "8"),
        *(arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))),
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=150, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    missing = [key for key in REQUIRED if key not in figures]
    assert not missing, missing
    assert figures["view_events"] == 20000
    assert figures["get_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["rebuild_s"] > 0
    assert figures["rss_mb"] > 0
    # Every answer had the status its id must get, and all three kinds were asked for.
    assert figures["unexpected_answers"] == 0
    assert set(figures["statuses"]) == {"200", "404", "423"}
    assert sum(figures["statuses"].values()) == figures["requests"]
    assert "Traceback" not in result.stderr
    assert_nothing_left(env, ports.values(), tmp_path)


def test_a_bad_option_is_one_readable_line(tmp_path: Path) -> None:
    env = marked_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "riskrelay", "bench", "api", "--view-store", "disk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "riskrelay: --view-store must be rocksdb or memory, got 'disk'"
    ]
    assert result.stdout == ""
