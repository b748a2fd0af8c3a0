"""What the two delivery queues share: the ticket outbox (:mod:`collector.incidents.outbox`) and
the client notifications (:mod:`collector.notify`).

- :class:`CommitWakers`: workers wake the moment new rows are committed, not at their next poll;
- :class:`WorkerWakeup`: a worker loop that works while there is work, then sleeps until woken
  or until the next row comes due (never missing a wake-up between its check and its sleep);
- :func:`idle_wait`: how long that is, from a queue table's ``next_attempt_at`` / ``claimed_until``;
- :func:`backoff`: the delay before a failed row's next attempt.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.store import Store

log = logging.getLogger(__name__)

#: The longest a worker sleeps without looking (a commit in another process does not wake it).
MAX_IDLE = 5.0


class CommitWakers:
    """The wake callbacks of a queue's running workers, called once after a commit that queued rows."""

    def __init__(self, key: str) -> None:
        self._key = key  # marks a connection whose commit already wakes the workers
        self._wakers: list[Callable[[], None]] = []

    def add(self, waker: Callable[[], None]) -> None:
        self._wakers.append(waker)

    def remove(self, waker: Callable[[], None]) -> None:
        if waker in self._wakers:
            self._wakers.remove(waker)

    def after_commit(self, conn: Connection) -> None:
        """Wake the workers when ``conn``'s transaction commits (rows are visible only then)."""
        if not self._wakers or conn.info.get(self._key):
            return
        conn.info[self._key] = True

        def wake(_conn: Connection) -> None:
            conn.info.pop(self._key, None)
            for waker in list(self._wakers):
                waker()

        sa.event.listen(conn, "commit", wake, once=True)


class WorkerWakeup:
    """The wait/wake half of a queue's worker threads."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._signalled = 0

    def wake(self) -> None:
        with self._condition:
            self._signalled += 1
            self._condition.notify_all()

    def run(
        self, stop: threading.Event, work: Callable[[], bool], idle: Callable[[], float], what: str
    ) -> None:
        """Call ``work`` until it finds nothing to do, then sleep ``idle()`` seconds or until woken;
        until ``stop``. An exception in ``work`` is logged and the loop goes on."""
        seen = 0
        while not stop.is_set():
            try:
                worked = work()
            except Exception:  # never let a bug end delivery
                log.exception("%s failed; continuing", what)
                worked = False
            if worked:
                continue
            with self._condition:
                if self._signalled == seen:
                    self._condition.wait(idle())
                seen = self._signalled


def idle_wait(
    store: Store, table: sa.Table, pending: str = "pending", in_flight: str = "in_flight"
) -> float:
    """Seconds until the next row of ``table`` is due (a retry, or an expired claim), bounded."""
    with store.read() as conn:
        due = conn.execute(
            sa.select(sa.func.min(table.c.next_attempt_at)).where(table.c.state == pending)
        ).scalar()
        lease = conn.execute(
            sa.select(sa.func.min(table.c.claimed_until)).where(table.c.state == in_flight)
        ).scalar()
    now = time.time()
    nearest = min([t for t in (due, lease) if t is not None], default=now + MAX_IDLE)
    return max(0.01, min(MAX_IDLE, nearest - now + 0.005))


def revive_dead(
    conn: Connection, table: sa.Table, ids: list[int] | None, now: float, dead: str, pending: str
) -> list[int]:
    """Dead rows of a delivery queue (``ids``, or all when None) back to pending, due now, with
    a fresh attempt count and age; returns the ids revived (a row that is not dead is left)."""
    where = [table.c.state == dead]
    if ids is not None:
        where.append(table.c.id.in_(ids))
    revived = [r for (r,) in conn.execute(sa.select(table.c.id).where(*where)).all()]
    if revived:
        values: dict[str, object] = {
            "state": pending,
            "attempts": 0,
            "next_attempt_at": now,
            "first_failed_at": None,
            "claimed_until": None,
        }
        if "claimed_by" in table.c:
            values["claimed_by"] = None
        conn.execute(
            table.update().where(table.c.id.in_(revived), table.c.state == dead).values(**values)
        )
    return revived


def backoff(attempts: int, base: float, ceiling: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential from ``base`` with full jitter in
    the upper half (so retries of many rows spread out), capped at ``ceiling``."""
    # The exponent is capped: retries go on for days (outbox_max_age), and 2**1100 is no float.
    delay = min(ceiling, base * (2 ** min(60, max(0, attempts - 1))))
    return delay / 2 + (rng or random).random() * delay / 2
