"""Long-poll of the task channel: agents parked until a task is queued for them.

``POST /api/v1/agent/tasks/poll`` with ``wait`` answers at once when a task is waiting for
the asset; otherwise the request is *parked* here — an :class:`asyncio.Event` per request, no
database connection and no thread held — until one of:

* a task for that (client, asset) is committed by this process (:meth:`TaskWaiters.after_commit`
  from :mod:`collector.remediation.service` and the admin API): woken at once;
* the shared re-check finds one queued (a task created by another replica of the cluster, or
  by ``upkeep tasks fix`` in another process): one thread per process, one query every
  ``task_poll_recheck`` seconds while anything is parked, whatever the number parked;
* the wait ends (empty answer), the client disconnects, or the server shuts down.

At most ``task_poll_max_parked`` polls are parked per process; beyond that a poll is answered
at once (empty), as without ``wait``: the agent then asks again after its ``poll_interval``.
Delivery itself is unchanged (:func:`collector.remediation.tasks.poll`, a delivered task is
handed out again until the agent answers), so the long-poll changes only *when* a task is
seen, never how often it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.store import after_commit

log = logging.getLogger(__name__)

Key = tuple[int, str]  # (client id, asset name)


class Waiter:
    """One parked poll: woken from any thread (``loop.call_soon_threadsafe``)."""

    __slots__ = ("event", "key", "loop")

    def __init__(self, key: Key, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float) -> bool:
        """True when woken (the event is reset for the next round), False on timeout."""
        try:
            await asyncio.wait_for(self.event.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        self.event.clear()
        return True


class TaskWaiters:
    """The parked polls of one collector process, and what wakes them."""

    def __init__(
        self,
        pending: Callable[[set[Key]], set[Key]],
        *,
        max_parked: int = 1000,
        recheck: float = 1.0,
    ) -> None:
        #: ``pending(keys)``: which of ``keys`` have a queued task now (the shared re-check).
        self._pending = pending
        self.max_parked = max_parked
        self.recheck = recheck
        self._lock = threading.Lock()
        self._waiters: dict[Key, set[Waiter]] = {}
        self._count = 0
        self._closed = False
        self._checker: threading.Thread | None = None
        self._checker_wake = threading.Condition(self._lock)

    @property
    def parked(self) -> int:
        return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    @contextlib.asynccontextmanager
    async def parked_for(self, key: Key) -> AsyncIterator[Waiter | None]:
        """Park a poll for ``key``; None when the process is at its bound or shutting down."""
        waiter = Waiter(key, asyncio.get_running_loop())
        with self._lock:
            if self._closed or self._count >= self.max_parked:
                admitted = False
            else:
                admitted = True
                self._waiters.setdefault(key, set()).add(waiter)
                self._count += 1
                self._start_checker()
        if not admitted:
            yield None
            return
        try:
            yield waiter
        finally:
            with self._lock:
                group = self._waiters.get(key)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[key]
                self._count -= 1

    def wake(self, key: Key) -> None:
        """A task for ``key`` is visible now: wake its parked polls (any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for waiter in waiters:
            waiter.wake()

    def after_commit(self, conn: Connection, key: Key) -> None:
        """Wake ``key``'s polls once ``conn``'s transaction (a ``Store.write``) committed: the
        woken poll sees the task. A rolled back task wakes nobody."""
        after_commit(conn, lambda: self.wake(key))

    def close(self) -> None:
        """Shutting down: every parked poll answers now (empty), none is parked any more."""
        with self._lock:
            self._closed = True
            waiters = [w for group in self._waiters.values() for w in group]
            self._checker_wake.notify_all()
        for waiter in waiters:
            waiter.wake()

    # ------------------------------------------------------------------ the shared re-check

    def _start_checker(self) -> None:  # with self._lock held
        if self._checker is None or not self._checker.is_alive():
            self._checker = threading.Thread(
                target=self._check_loop, name="task-poll-recheck", daemon=True
            )
            self._checker.start()

    def _check_loop(self) -> None:
        while True:
            with self._lock:
                self._checker_wake.wait(self.recheck)
                if self._closed or not self._waiters:
                    self._checker = None
                    return
                keys = set(self._waiters)
            try:
                found = self._pending(keys)
            except Exception:  # the store is away: the parked polls time out as usual
                log.warning("task long-poll: the re-check failed", exc_info=True)
                continue
            for key in found:
                self.wake(key)


def pending_keys(store: Any, now: Callable[[], float]) -> Callable[[set[Key]], set[Key]]:
    """The re-check's query: (client, asset) pairs of ``keys`` with a queued, signed task."""
    from collector.schema import remediation_tasks as tasks

    def pending(keys: set[Key]) -> set[Key]:
        clients = {client for client, _ in keys}
        with store.read() as conn:
            rows = conn.execute(
                sa.select(tasks.c.client_id, tasks.c.asset)
                .where(
                    tasks.c.state == "queued",
                    tasks.c.client_id.in_(clients),
                    tasks.c.payload.is_not(None),
                    tasks.c.expires_at > now(),
                )
                .distinct()
            ).all()
        return {(r.client_id, r.asset) for r in rows} & keys

    return pending
