"""``riskrelay registry`` as a process: reachable, serves, and SIGTERM/SIGINT end it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from riskrelay.kafka.embedded import free_port
from tests.unit.registry.schemas import V1, avro

RISKRELAY = str(Path(sys.executable).with_name("riskrelay"))


def start_cli(bootstrap: str, topic: str, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RISKRELAY_KAFKA_BOOTSTRAP": bootstrap,
        "RISKRELAY_TOPIC_SCHEMAS": topic,
        "RISKRELAY_TOPIC_PREFIX": "",
    }
    return subprocess.Popen(
        [RISKRELAY, "registry", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_reachable(url: str, process: subprocess.Popen[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"registry exited early: {process.communicate()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"registry not reachable at {url} within {timeout_s}s")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled_then_exits_zero(
    kafka_bootstrap: str, schemas_topic: str, stop_signal: signal.Signals
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_cli(kafka_bootstrap, schemas_topic, port)
    try:
        wait_reachable(url, process)
        with SchemaRegistryClient({"url": url}) as sr:
            assert sr.register_schema("cli-value", avro(V1)) == 1
            assert sr.get_latest_version("cli-value").schema.schema_str == V1
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"schema registry: {url}" in stdout
    assert port_is_free(port)


def test_cli_reports_a_taken_port_in_one_line(kafka_bootstrap: str, schemas_topic: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_cli(kafka_bootstrap, schemas_topic, port)
        try:
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 2
    assert f"schema registry cannot listen on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr
