"""Where the worker's event loop spends its time, from a py-spy profile of the main run.

Optional (``--profile FILE``): py-spy is not a riskrelay dependency (``pip install
py-spy``). It samples the worker from outside, so the worker runs unchanged. The raw
profile goes to FILE (``flamegraph.pl`` or speedscope read it); the summary attributes
each main-thread sample to its innermost riskrelay function (or the library frame when
there is none), which is enough to tell HTTP, Avro, Kafka and bookkeeping apart.
Python frames only: garbage-collection pauses are charged to whichever frame allocated
when a collection started, so they hide inside the others (``gc.callbacks`` in the
worker would measure them directly).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from riskrelay.errors import ConfigError

MAIN_THREAD_ROOT = "_run_module_as_main"
TOP = 12


def py_spy() -> str:
    """The py-spy executable (next to this Python first, then on PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if found is None:
        raise ConfigError("--profile needs py-spy (pip install py-spy)")
    return found


class Profiler:
    """``py-spy record`` on one process until :meth:`stop`."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        self.log_path = output.with_name(output.name + ".log")  # py-spy's own messages
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                *(py_spy(), "record", "--pid", str(pid), "--format", "raw"),
                *("--rate", "100", "--nonblocking", "--output", str(output)),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> list[tuple[str, float]]:
        """Stop sampling (py-spy writes its file on SIGINT); the top functions, in %."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            return summarize(self.output.read_text())
        return []


def _name(frame: str) -> str:
    return frame.split(" (", 1)[0]


def _package(frame: str) -> str:
    """``"f (aiohttp/client.py:12)"`` → ``"aiohttp"`` (py-spy paths are import-relative)."""
    path = frame.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if path.startswith("<"):
        return "python"
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def _ours(frame: str) -> bool:
    """A riskrelay frame below the command-line entry points."""
    path = frame.rpartition(" (")[2]
    return (
        path.startswith("riskrelay/")
        and not path.startswith(("riskrelay/cli/", "riskrelay/__main__"))
        and not frame.startswith("run_worker ")
    )


def summarize(raw: str, top: int = TOP) -> list[tuple[str, float]]:
    """Share of main-thread samples per innermost riskrelay function (collapsed stacks)."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not frames[0].startswith(MAIN_THREAD_ROOT):
            continue
        ours = [i for i, f in enumerate(frames) if _ours(f)]
        if ours:
            inner = _name(frames[ours[-1]])
            below = frames[ours[-1] + 1 :]
            if below:  # the library doing the work under our innermost frame
                inner = f"{inner} → {_package(below[0])}"
        else:
            inner = f"{_package(frames[-1])}: {_name(frames[-1])}"
        counts[inner] += int(count)
    total = sum(counts.values())
    if not total:
        return []
    return [(name, round(100 * n / total, 1)) for name, n in counts.most_common(top)]
