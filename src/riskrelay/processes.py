"""Child processes and ports: start a child with its log, wait until ready, stop cleanly.

Each child runs in its own session so a Ctrl-C reaches only the supervisor (the dev
stack, the bench, the embedded broker's owner), which then stops the children in order;
nothing is left running and no port stays taken.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from riskrelay.errors import ConfigError, RiskRelayError


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out on ``host`` (free unless someone takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def require_free_port(host: str, port: int, variable: str) -> None:
    if port_in_use(host, port):
        raise ConfigError(f"port {port} on {host} is taken; set {variable} to a free port")


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ChildProcess:
    """One ``riskrelay`` sub-command (or any command) with its log file ``<name>.log``.

    ``env=None`` inherits this process's environment.
    """

    def __init__(
        self, name: str, command: list[str], env: dict[str, str] | None, log_dir: Path
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def riskrelay(
        cls, name: str, args: list[str], env: dict[str, str], log_dir: Path
    ) -> ChildProcess:
        return cls(name, [sys.executable, "-m", "riskrelay", *args], env, log_dir)

    def start(self) -> None:
        """Spawn the command, its output appended to the log; ``OSError`` if it cannot run."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self._log.close()
            self._log = None
            raise

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, chars: int = 800) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive:
                raise RiskRelayError(
                    f"{self.name} exited during start; log {self.log_path}:\n{self.log_tail()}"
                )
            if http_ok(url):
                return
            time.sleep(0.1)
        raise RiskRelayError(f"{self.name} not ready after {timeout_s:.0f}s; log {self.log_path}")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean-up runs in the child."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit code."""
        process, self._process = self._process, None
        code = None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
