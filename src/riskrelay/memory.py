"""Keeping the worker's resident memory near what it really holds (glibc's allocator).

Measured on the worker with a 1,000,000-event backlog (``riskrelay bench worker
--backlog 1000000``): glibc kept ~110 MB in per-thread arenas (librdkafka's threads and
the thread pool that runs the consumer and the commits each get one) and, of the main
heap, ~75 MB that was free but never handed back, because freed chunks in the middle of
the heap are only returned by ``malloc_trim``. So the worker caps the arenas at start
(before any client starts a thread) and trims every few seconds; a trim of a ~200 MB
heap takes a few milliseconds.

Both are glibc functions called through ``ctypes``; on another C library (musl, macOS)
they are not there and nothing happens. ``MALLOC_ARENA_MAX`` in the environment, when
set, wins over the cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8
"""``mallopt`` parameter number (glibc's malloc.h)."""
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


class MemoryReleaser:
    """``limit_arenas`` once at start; ``release`` now and then."""

    def __init__(self) -> None:
        self._libc = _libc()

    @property
    def available(self) -> bool:
        return self._libc is not None

    def limit_arenas(self, arenas: int = ARENAS) -> bool:
        """Cap glibc's malloc arenas (threads then share them); False if not applied."""
        if self._libc is None or "MALLOC_ARENA_MAX" in os.environ:
            return False
        return bool(self._libc.mallopt(M_ARENA_MAX, arenas))

    def release(self) -> bool:
        """Return free heap pages to the OS; True if some were."""
        if self._libc is None:
            return False
        return bool(self._libc.malloc_trim(0))
