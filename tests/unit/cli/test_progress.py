from __future__ import annotations

import io

from rich.console import Console

from riskrelay.cli.progress import progress_bars


def render(disable: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    with progress_bars(console, disable=disable) as progress:
        task = progress.add_task("replaying", total=10)
        progress.advance(task, 3)
    return buffer.getvalue()


def test_bar_shows_description_and_count_and_stays() -> None:
    shown = render(disable=False)
    assert "replaying" in shown
    # The last frame, redrawn when the bar stops, stays on screen (not transient).
    last = shown.split("\r")[-1]
    assert "replaying" in last
    assert "3/10" in last


def test_disabled_bar_prints_nothing() -> None:
    assert render(disable=True) == ""
