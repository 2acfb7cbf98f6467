"""Scanning a file's chunks on every core: this process and `n` worker processes claim chunks from one counter.

Workers are forked when that is safe (they share the parent's loaded encoding copy-on-write: no second load,
little extra memory); otherwise they come from forkserver or spawn and load it once each. Partials are merged in
file order as they arrive. A worker that cannot start or dies loses nothing: the chunks it did not deliver are
scanned in-process, so the result is always the in-process one.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import wait
from typing import Any, Callable

__all__ = ["ChunkPool", "fork_is_safe", "Chunk", "ScanFn"]

_BACKGROUND_NICE = 10  # workers of a scan offloaded by a server run at this lower priority
Chunk = tuple[int, int, int]  # (start byte, end byte, first line number)
ScanFn = Callable[..., Any]  # scan(job, start, end, first_line[, tick]) -> partial with .bytes_done


def fork_is_safe() -> bool:
    """Fork only from the main thread of a single-threaded process on Linux (no lock can be held by another thread)."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def _claim(counter: Any) -> int:
    """The next unclaimed chunk index (shared between the parent and the workers)."""
    with counter.get_lock():
        index = counter.value
        counter.value = index + 1
    return index


def _worker(scan: ScanFn, job: Any, chunks: list[Chunk], counter: Any, conn: Any, nice: int = 0) -> None:
    """Worker process: claim chunks until none is left, sending each partial as it is done, then None.

    Ctrl-C reaches every process of the terminal's foreground group: the parent reports it and kills its workers,
    so a worker ignores it rather than print a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        try:
            os.nice(nice)  # behind the server that started it: its requests get the cores first
        except OSError:  # noqa: S110 - not allowed here: same result, same priority
            pass
    try:
        while (index := _claim(counter)) < len(chunks):
            conn.send((index, scan(job, *chunks[index])))
        conn.send(None)
    except Exception:  # noqa: S110 - the parent rescans whatever this worker did not deliver
        pass
    finally:
        conn.close()


class ChunkPool:
    """The parent scans chunks itself alongside `n` workers, all claiming chunks from one shared counter.

    Workers are forked when that is safe (they share the already loaded encoding copy-on-write: no second load,
    little extra memory); otherwise they come from forkserver/spawn and load the encoding once each. Partials
    are merged in file order as they arrive. A worker that cannot start or dies loses nothing: the chunks it did
    not deliver are scanned in-process, so the result is always the in-process one.
    """

    def __init__(self, scan: ScanFn, job: Any, size: int, chunks: list[Chunk],
                 progress: Callable[[int, int], None] | None, *, empty: Callable[[], Any],
                 merge: Callable[[Any, Any], None]) -> None:
        self.scan, self.job, self.size, self.chunks, self.progress = scan, job, size, chunks, progress
        self.merge = merge
        self.results: dict[int, Any] = {}
        self.total = empty()
        self.merged = 0
        self.own_bytes = 0
        self.their_bytes = 0
        self.live: list[Any] = []

    def run(self, n: int, *, scan_here: bool = True) -> Any:
        """Scan every chunk with `n` workers besides this process; the merged partial, in file order.

        `scan_here=False`: this process only collects (a server keeps its interpreter for requests), scanning
        in-process only what no worker delivered.
        """
        forked = fork_is_safe()
        start_method = "fork" if forked else ("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        procs: list[Any] = []
        counter: Any = None
        if forked:
            gc.freeze()  # keep the parent's objects untouched by the collector: fewer copy-on-write pages
        try:
            try:
                # typeshed types get_context(<a str>) as BaseContext, which declares no Process
                context: Any = multiprocessing.get_context(start_method)
                counter = context.Value("q", 0)
                for _ in range(n):
                    recv, send = context.Pipe(duplex=False)
                    proc = context.Process(target=_worker, args=(self.scan, self.job, self.chunks, counter, send,
                                                                 0 if scan_here else _BACKGROUND_NICE), daemon=True)
                    try:
                        proc.start()
                    except BaseException:
                        recv.close()
                        raise
                    finally:
                        send.close()
                    procs.append(proc)
                    self.live.append(recv)
            except Exception:  # noqa: S110 - no usable pool here: fewer (or no) workers, same result
                pass
            if counter is not None and (scan_here or not procs):
                while (index := _claim(counter)) < len(self.chunks):
                    self._own(index)
            self._collect()
            for index in range(len(self.chunks)):  # whatever no worker delivered
                if index not in self.results and index >= self.merged:
                    self._own(index)
        finally:
            for conn in self.live:
                conn.close()
            for proc in procs:  # all delivered (or lost and rescanned): a worker still there has nothing left to give
                if proc.is_alive():
                    proc.kill()
                proc.join()
            if forked:
                gc.unfreeze()
        return self.total

    def _own(self, index: int) -> None:
        start, end, first_line = self.chunks[index]
        self._add(index, self.scan(self.job, start, end, first_line, self._tick))

    def _tick(self, n: int) -> None:
        self.own_bytes += n
        self._poll()
        if self.progress:
            self.progress(min(self.own_bytes + self.their_bytes, self.size), self.size)

    def _add(self, index: int, part: Any) -> None:
        self.results[index] = part
        while self.merged in self.results:
            self.merge(self.total, self.results.pop(self.merged))
            self.merged += 1

    def _receive(self, conn: Any) -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        if message is None:
            self.live.remove(conn)
            conn.close()
            return
        index, part = message
        self.their_bytes += part.bytes_done
        self._add(index, part)
        if self.progress:
            self.progress(min(self.own_bytes + self.their_bytes, self.size), self.size)

    def _poll(self) -> None:
        for conn in list(self.live):
            while conn in self.live and conn.poll():
                self._receive(conn)

    def _collect(self) -> None:
        while self.live and self.merged < len(self.chunks):
            for conn in wait(list(self.live)):
                self._receive(conn)  # type: ignore[arg-type]
