"""The threads that decode and store batches: one hop from the event loop per batch.

``anyio.to_thread.run_sync`` costs, per call, a capacity limiter, a copied context, a
Python ``Queue`` (a ``Condition`` notify under the GIL) and a result hand-off through
anyio's own machinery; at a few hundred small batches a second that was a quarter of the
collector's GIL time (benchmarks/README.md, "Fleet simulator"). Here a fixed set of
threads takes work from a C ``queue.SimpleQueue`` and settles an asyncio future with one
``call_soon_threadsafe``. The number of threads is the number of batches decoded and
stored at once (1 on SQLite, where writes are serialized anyway; a few on PostgreSQL).

Group commit: work queued with :meth:`IngestThreads.run_grouped` while a thread was busy is
taken together (up to ``max_group`` items) and handed to its function in one call, which
answers each item on its own (an exception for one does not fail the others); the
results of a turn go back to the event loop with one ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP = None


class IngestThreads:
    """``await threads.run(fn, *args)`` runs ``fn`` in one of ``size`` worker threads.

    Threads start on first use and end with :meth:`stop` (daemon threads, so an app that is
    never shut down cannot keep the interpreter alive).
    """

    def __init__(self, size: int, *, name: str = "upkeep-ingest", max_group: int = 1) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self.size = size
        self.name = name
        self.max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._threads:
            self._start()
        self._queue.put((loop, future, fn, args, False))
        return await future

    async def run_grouped(self, fn: Callable[[list[tuple[Any, ...]]], list[Any]], *args: Any) -> T:
        """Like :meth:`run`, but ``fn`` takes a list of argument tuples (this call's and those
        of the calls with the same ``fn`` queued at the same time) and returns, aligned with
        it, each call's result or the exception to raise in that caller."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._threads:
            self._start()
        self._queue.put((loop, future, fn, args, True))
        return await future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        max_group = self.max_group
        while True:
            items = [get()]
            while len(items) < max_group and items[-1] is not _STOP:
                try:
                    items.append(get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            if stop:
                items.pop()
            settled: list[tuple[Any, ...]] = []
            groups: dict[Any, list[tuple[Any, ...]]] = {}
            for loop, future, fn, args, grouped in items:
                if grouped:
                    groups.setdefault(fn, []).append((loop, future, args))
                    continue
                try:
                    result = fn(*args)
                except BaseException as exc:  # the caller's to handle, as if it ran inline
                    settled.append((loop, future, None, exc))
                else:
                    settled.append((loop, future, result, None))
            for fn, calls in groups.items():
                try:
                    outcomes = fn([args for _, _, args in calls])
                    if len(outcomes) != len(calls):
                        raise RuntimeError(f"{fn!r} answered {len(outcomes)} of {len(calls)}")
                except BaseException as exc:  # every caller of the group gets it
                    outcomes = [exc] * len(calls)
                for (loop, future, _), outcome in zip(calls, outcomes, strict=True):
                    if isinstance(outcome, BaseException):
                        settled.append((loop, future, None, outcome))
                    else:
                        settled.append((loop, future, outcome, None))
            _settle_all(settled)
            del items, settled, groups
            if stop:
                return

    def stop(self, timeout: float = 10.0) -> None:
        """Let the threads finish the work queued so far, then end them."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join(timeout)


def _settle_all(settled: list[tuple[Any, ...]]) -> None:
    """Hand the results back: one ``call_soon_threadsafe`` (one loop wake-up) per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, ...]]] = {}
    for loop, future, result, exc in settled:
        by_loop.setdefault(loop, []).append((future, result, exc))
    for loop, entries in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, entries)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("ingest results dropped: event loop closed")


def _settle(entries: list[tuple[Any, ...]]) -> None:
    for future, result, exc in entries:
        if future.cancelled():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
