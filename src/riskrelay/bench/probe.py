"""What a process costs, read from ``/proc`` (Linux): resident memory and CPU time.

``VmHWM`` is the kernel's own high-water mark of the resident set, so a peak between two
samples is never missed; ``VmRSS`` samples are kept as well in case a kernel lacks it.
CPU time (user + system) over a phase tells how many cores a process used, which is
where a 2-core machine's time goes when the worker falls short.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _status_kb(pid: int, key: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class ProcessProbe:
    """Samples one process; ``peak_rss_mb`` is the highest resident set seen."""

    pid: int
    name: str
    log_path: Path
    _peak_kb: int = 0

    def sample(self) -> None:
        """Read the resident set now (and the kernel's high-water mark)."""
        for key in ("VmHWM", "VmRSS"):
            value = _status_kb(self.pid, key)
            if value is not None:
                self._peak_kb = max(self._peak_kb, value)

    @property
    def peak_rss_mb(self) -> float:
        return self._peak_kb / 1024

    def rss_mb(self) -> float:
        value = _status_kb(self.pid, "VmRSS")
        return (value or 0) / 1024

    def log_tail(self, chars: int = 1200) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine has spent busy (not idle or waiting on I/O)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / _TICKS


class CpuMeter:
    """Cores used by named processes over one window, and by everything else on the
    machine: a figure measured while other work competed for the cores says so."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = {**pids, "bench": os.getpid()}
        self._start: dict[str, float] = {}
        self._machine = 0.0
        self._wall = 0.0

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) or 0.0 for name, pid in self._pids.items()}
        self._machine = machine_busy_seconds() or 0.0
        self._wall = time.monotonic()

    @property
    def started(self) -> bool:
        return bool(self._start)

    def cores(self) -> dict[str, float]:
        """Average cores used since ``start``, per process, plus ``other`` (the rest)."""
        wall = time.monotonic() - self._wall
        if not self._start or wall <= 0:
            return {}
        cores = {}
        for name, pid in self._pids.items():
            now = cpu_seconds(pid)
            if now is not None:
                cores[name] = round((now - self._start[name]) / wall, 2)
        machine = machine_busy_seconds()
        if machine is not None:
            other = (machine - self._machine) / wall - sum(cores.values())
            cores["other"] = round(max(0.0, other), 2)
        return cores
