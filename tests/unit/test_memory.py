"""Handing freed heap memory back to the OS (riskrelay.memory), on this machine's glibc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskrelay.memory import MemoryReleaser

releaser = MemoryReleaser()
pytestmark = pytest.mark.skipif(not releaser.available, reason="not glibc")


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) / 1024


def test_release_returns_the_free_middle_of_a_fragmented_heap() -> None:
    # 1 KiB objects come from malloc (Python's small-object allocator stops at 512 B);
    # keeping every 16th pins the heap's top, so only malloc_trim can give the rest back.
    chunks = [bytes(1024) + i.to_bytes(4, "little") for i in range(200_000)]
    kept = chunks[::16]
    del chunks
    before = rss_mb()
    assert releaser.release()
    after = rss_mb()
    assert before - after > 50, (before, after)
    assert len(kept) == 12_500


def test_the_arena_cap_yields_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not releaser.limit_arenas()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert releaser.limit_arenas()
