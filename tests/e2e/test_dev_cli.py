"""``riskrelay dev`` as a user runs it: a subprocess, its output, its exit code, its ports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from riskrelay.kafka.embedded import free_port
from riskrelay.sandbox.unit21 import per_event
from tests.fixtures.processes import clean_env, free_block, port_is_free


def dev_env(tmp_path: Path) -> tuple[dict[str, str], list[int]]:
    ports = {
        "RISKRELAY_DEV_BROKER_PORT": free_port(),
        "RISKRELAY_SCHEMA_REGISTRY_PORT": free_port(),
        "RISKRELAY_API_PORT": free_port(),
        "RISKRELAY_WORKER_METRICS_PORT": free_port(),
        "RISKRELAY_DEV_SANDBOX_BASE_PORT": free_block(4),
    }
    env = clean_env(keep_broker=True)
    env.update({k: str(v) for k, v in ports.items()})
    env["RISKRELAY_DEV_DATA_DIR"] = str(tmp_path / "dev")
    env["RISKRELAY_TOPIC_PREFIX"] = f"e2e{uuid.uuid4().hex[:6]}."
    return env, list(ports.values())


def test_dev_demo_runs_the_stack_and_prints_the_summary(tmp_path: Path) -> None:
    env, ports = dev_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "riskrelay", "dev", "--demo", "--duration", "20", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # 300 demo events (every kind of the three families, some updates) and 2 malformed
    # records; without a routing file each provider gets every event its adapter takes.
    assert summary == {
        "consumed": 302,
        "normalized": 300,
        "delivered": {"coinflow": 168, "dataspike": 68, "stripe": 78, "unit21": 300},
        "dlq": 2,
    }
    assert "api         http://127.0.0.1:" in result.stderr  # URLs go to stderr with --json
    assert "Traceback" not in result.stderr
    taken = [p for p in ports if not port_is_free(p)]
    assert not taken, f"ports still taken after dev stopped: {taken}"
    logs = tmp_path / "dev" / "logs"
    assert {p.name for p in logs.iterdir()} >= {"worker.log", "api.log", "registry.log"}


def test_a_taken_port_is_one_readable_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    env, _ = dev_env(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        env["RISKRELAY_API_PORT"] = str(holder.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "riskrelay", "dev", "--duration", "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "set RISKRELAY_API_PORT to a free port" in lines[0]


def test_worker_without_a_broker_says_what_to_set(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "riskrelay", "worker"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "riskrelay: the worker needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL"
    ]


def test_a_provider_base_url_sends_its_traffic_there_instead_of_a_sandbox(
    tmp_path: Path,
) -> None:
    from riskrelay.sandbox.server import SandboxConfig, SandboxThread

    env, _ = dev_env(tmp_path)
    config = SandboxConfig(api_key="external-key", processing_delay_s=0, rate_limit_per_s=0)
    with SandboxThread("unit21", config=config) as external:
        env["RISKRELAY_UNIT21_BASE_URL"] = external.base_url
        env["RISKRELAY_UNIT21_API_KEY"] = "external-key"
        result = subprocess.run(
            [
                *(sys.executable, "-m", "riskrelay", "dev", "--demo", "--demo-events", "50"),
                *("--duration", "15", "--json"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        received = [r for r in per_event(external.requests()) if r["path"].startswith("/v1/events")]
        external_url = external.base_url
    assert f"unit21      {external_url} (external)" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["delivered"]["unit21"] == 50
    assert len(received) == 50
    assert {r["status"] for r in received} == {200}
    assert not (tmp_path / "dev" / "logs" / "sandbox-unit21.log").exists()
