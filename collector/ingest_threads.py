"""The threads that decode and store batches: one hop from the event loop per batch.

``anyio.to_thread.run_sync`` costs, per call, a capacity limiter, a copied context, a
Python ``Queue`` (a ``Condition`` notify under the GIL) and a result hand-off through
anyio's own machinery; at a few hundred small batches a second that was a quarter of the
collector's GIL time (benchmarks/README.md, "Fleet simulator"). Here a fixed set of
threads takes work from a C ``queue.SimpleQueue`` and settles an asyncio future with one
``call_soon_threadsafe``. The number of threads is the number of batches decoded and
stored at once (1 on SQLite, where writes are serialized anyway; a few on PostgreSQL).
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

    def __init__(self, size: int, *, name: str = "upkeep-ingest") -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._threads:
            self._start()
        self._queue.put((loop, future, fn, args))
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
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            loop, future, fn, args = item
            try:
                result = fn(*args)
            except BaseException as exc:  # the caller's to handle, as if it ran inline
                _settle_soon(loop, future, None, exc)
            else:
                _settle_soon(loop, future, result, None)
            del item, loop, future, fn, args

    def stop(self, timeout: float = 10.0) -> None:
        """Let the threads finish the work queued so far, then end them."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join(timeout)


def _settle_soon(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, exc)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        log.debug("ingest result dropped: event loop closed")


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
