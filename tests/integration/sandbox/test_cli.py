"""``riskrelay sandbox`` as a real process: serves, stops on SIGTERM, explains bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .events import action_event


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _riskrelay(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "riskrelay", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_sandbox_serves_until_sigterm_and_frees_its_port() -> None:
    port = _free_port()
    env = {"RISKRELAY_UNIT21_API_KEY": "env-key-1234", "RISKRELAY_SANDBOX_PROCESSING_DELAY_S": "0"}
    process = _riskrelay("sandbox", "unit21", "--port", str(port), env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"unit21 sandbox: http://127.0.0.1:{port}"
        base = f"http://127.0.0.1:{port}/v1/events"
        key = {"u21-key": "env-key-1234"}
        assert httpx.post(f"{base}/create", json=action_event(), headers=key).status_code == 200
        assert httpx.get(f"{base}/evt-action-1", headers=key).status_code == 200  # no delay
        other_key = {"u21-key": "sandbox-unit21-key"}
        assert httpx.get(f"{base}/evt-action-1", headers=other_key).status_code == 403
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope"],
            "riskrelay: unknown sandbox provider 'nope'"
            " (known: coinflow, unit21, dataspike, stripe)",
        ),
        (["unit21", "unit21x"], "riskrelay: unknown sandbox provider 'unit21x'"),
    ],
)
def test_unknown_provider_is_one_readable_line(args: list[str], message: str) -> None:
    process = _riskrelay("sandbox", *args)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_port_in_use_is_one_readable_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        process = _riskrelay("sandbox", "unit21", "--port", str(port))
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    expected = (
        f"riskrelay: unit21 sandbox cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert stderr.strip().splitlines() == [expected]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RISKRELAY_SANDBOX_FAULTS": '{"error_ratio": {"503": 5}}'},
            "bad sandbox settings: faults",
        ),
        ({"RISKRELAY_SANDBOX_FAULTS": "{nope"}, "bad sandbox settings: "),
    ],
)
def test_bad_sandbox_settings_are_one_readable_line(env: dict[str, str], message: str) -> None:
    process = _riskrelay("sandbox", "unit21", "--port", str(_free_port()), env=env)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"riskrelay: {message}"), stderr
