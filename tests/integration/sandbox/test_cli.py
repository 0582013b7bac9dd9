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
    process = _riskrelay(
        "sandbox", "unit21", "--port", str(port), env={"RISKRELAY_UNIT21_API_KEY": "env-key-1234"}
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"unit21 sandbox: http://127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}/v1/events/unknown"
        assert httpx.get(url, headers={"u21-key": "env-key-1234"}).status_code == 404
        assert httpx.get(url, headers={"u21-key": "sandbox-unit21-key"}).status_code == 403
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
