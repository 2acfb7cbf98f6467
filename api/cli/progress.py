"""One progress bar for every long scan: rich, on stderr, only on a terminal and only for large files.

The bar refreshes from the scan's own progress callback instead of a background thread, so the scanner can still
fork its workers (a process with a running thread falls back to the slower forkserver start).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["scan_progress", "PROGRESS_MIN_BYTES"]

PROGRESS_MIN_BYTES = 16 * 1024 * 1024
_MIN_INTERVAL = 0.1  # seconds between redraws


@contextmanager
def scan_progress(path: str, label: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback `(done, total)` drawing a bar, or None when no bar is wanted (small file, no terminal)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if not enabled or size < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    import time

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True, auto_refresh=False) as bar:
        task = bar.add_task(label, total=size)
        last = [0.0]

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            now = time.monotonic()
            if now - last[0] >= _MIN_INTERVAL or done >= total:
                last[0] = now
                bar.refresh()

        yield update
