"""The progress bar long commands show on stderr (bench phases, DLQ reads and replays,
the dev stack's event count): one set of columns everywhere. It imports rich alone, so
``riskrelay ops`` gets it without loading the bench package."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bars(console: Console, *, disable: bool = False) -> Progress:
    """Description, bar, done/total and time elapsed; kept on screen when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )
