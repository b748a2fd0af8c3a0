"""The transactional outbox: rows written with the incident change, delivered by workers.

:func:`enqueue` runs inside the transaction that changes the incident (one row per connector
the client uses), so a transition and its deliveries are committed together or not at all.
:class:`OutboxWorkers` are background threads, ``outbox_workers`` of them *per connector*
(each claims only its connector's rows, so a slow or hanging ticket system holds its own
threads and never the others'), that

1. claim one due row with a conditional UPDATE (``pending`` and due, or ``in_flight`` whose
   claim expired: a crashed worker's row) and check the row count; on PostgreSQL the row is
   picked with ``SELECT … FOR UPDATE SKIP LOCKED`` first so workers do not collide;
2. skip rows that have an earlier row not delivered (pending, in flight or **dead**) for the
   same incident and connector, so a resolve is never sent before its open, a comment never
   lands before its ticket exists and a mail never threads onto a first mail nobody got;
3. call :meth:`Connector.attempt` (synchronous HTTP/SMTP, in the worker thread, within the
   connector's overall ``deadline``) with the stored snapshot and the stored
   :class:`TicketRef`, then store the returned ref;
4. on ``ConnectorError(permanent=False)`` (or any unexpected error) retry with capped
   exponential backoff and jitter until the row has been failing for ``outbox_max_age``;
   permanent or too old: ``dead`` (a dead letter: kept, listed by ``upkeep outbox list
   --failed`` and the API, counted by ``upkeep_outbox_dead_letters``, sent again by
   :func:`retry`; the rows behind it wait for it).

Ingestion never waits for a connector: it only writes rows and wakes the workers.
Workers also poll :meth:`Connector.poll_closed` so a ticket closed there closes the
incident here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, overload

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from agent.durations import format_duration
from collector.connectors import (
    Action,
    Comment,
    Connector,
    ConnectorError,
    TicketRef,
    TicketSubject,
    TimeEntry,
)
from collector.connectors.deadline import deadline
from collector.delivery import MAX_IDLE, CommitWakers, WorkerWakeup, backoff, revive_dead
from collector.incidents.lifecycle import ACTIVE
from collector.schema import incidents, outbox, tickets
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)

PENDING, IN_FLIGHT, DONE, DEAD = "pending", "in_flight", "done", "dead"
#: Every state (the API's ``state`` filter).
STATES = (PENDING, IN_FLIGHT, DONE, DEAD)


# --------------------------------------------------------------------------- snapshots


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


@overload
def _dt(value: str) -> datetime: ...
@overload
def _dt(value: None) -> None: ...
def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def payload_of(subject: TicketSubject) -> dict[str, Any]:
    """The snapshot stored in an outbox row (JSON)."""
    return subject.as_json()


def subject_of(payload: Mapping[str, Any]) -> TicketSubject:
    """The :class:`TicketSubject` back from a stored snapshot."""
    comment = payload.get("comment")
    entry = payload.get("time_entry")
    return TicketSubject(
        key=payload["key"],
        client=payload["client"],
        title=payload["title"],
        priority=payload["priority"],
        state=payload["state"],
        origin=payload["origin"],
        opened_at=_dt(payload["opened_at"]),
        site=payload.get("site"),
        asset=payload.get("asset"),
        rule=payload.get("rule"),
        description=payload.get("description") or "",
        resolved_at=_dt(payload.get("resolved_at")),
        labels=payload.get("labels") or {},
        resolution_note=payload.get("resolution_note"),
        version=payload.get("version", 1),
        url=payload.get("url"),
        severity=payload.get("severity"),
        comment=None
        if not comment
        else Comment(
            comment["id"], comment["body"], comment.get("author"), _dt(comment.get("created_at"))
        ),
        time_entry=None
        if not entry
        else TimeEntry(
            entry["id"],
            entry["minutes"],
            entry.get("note") or "",
            entry.get("work_type"),
            entry.get("author"),
            date.fromisoformat(entry["spent_on"]) if entry.get("spent_on") else None,
        ),
    )


def enqueue(
    conn: Connection,
    incident_id: int,
    subject: TicketSubject,
    action: Action,
    connectors: list[str],
    now: float,
) -> int:
    """Write one pending row per connector (inside the caller's transaction)."""
    if not connectors:
        return 0
    payload = payload_of(subject)
    conn.execute(
        outbox.insert(),
        [
            {
                "incident_id": incident_id,
                "connector": name,
                "action": str(action),
                "version": subject.version,
                "payload": payload,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for name in connectors
        ],
    )
    _wakers.after_commit(conn)
    return len(connectors)


#: The action of an on-call page row (collector.oncall): its payload is ``{"key", "page"}``.
PAGE = "page"


def enqueue_page(
    conn: Connection, incident_id: int, connector: str, page: Mapping[str, Any], now: float
) -> None:
    """Write one pending page row (inside the caller's transaction); ``page`` is
    :meth:`collector.connectors.paging.Page.as_json`."""
    conn.execute(
        outbox.insert().values(
            incident_id=incident_id,
            connector=connector,
            action=PAGE,
            version=int(page["number"]),
            payload={"key": page["incident"], "page": dict(page)},
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    _wakers.after_commit(conn)


# Commit hooks: the workers wake the moment the rows are visible, not at their next poll.
_wakers = CommitWakers("upkeep_outbox_wake")


# --------------------------------------------------------------------------- claiming


def _due(now: float) -> Any:
    return sa.or_(
        sa.and_(outbox.c.state == PENDING, outbox.c.next_attempt_at <= now),
        sa.and_(outbox.c.state == IN_FLIGHT, outbox.c.claimed_until < now),
    )


def _blocked() -> Any:
    """An earlier row of the same incident and connector is not delivered yet (or is dead).

    Pages wait for nobody: each is a message of its own, and a page to one person that failed
    for good must not hold back the page to the next person."""
    earlier = outbox.alias("earlier")
    return sa.and_(
        outbox.c.action != PAGE,
        sa.select(earlier.c.id)
        .where(
            earlier.c.incident_id == outbox.c.incident_id,
            earlier.c.connector == outbox.c.connector,
            earlier.c.id < outbox.c.id,
            earlier.c.state.in_((PENDING, IN_FLIGHT, DEAD)),
        )
        .exists(),
    )


def claim(
    store: Store, worker: str, now: float, lease: float, connector: str | None = None
) -> Any | None:
    """Claim the oldest due row (of ``connector``, or any) whose predecessors (same incident
    and connector) are delivered.

    The conditional UPDATE's row count says whether this worker won the row; another worker
    that read the same row first gets 0 and tries the next.
    """
    query = sa.select(outbox.c.id).where(_due(now), ~_blocked()).order_by(outbox.c.id).limit(8)
    if connector is not None:
        query = query.where(outbox.c.connector == connector)
    with store.write() as conn:
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=outbox)
        for (row_id,) in conn.execute(query).all():
            won = conn.execute(
                outbox.update()
                .where(outbox.c.id == row_id, _due(now))
                .values(
                    state=IN_FLIGHT,
                    claimed_by=worker,
                    claimed_until=now + lease,
                    attempts=outbox.c.attempts + 1,
                )
            ).rowcount
            if won == 1:
                return conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).one()
    return None


def idle_seconds(store: Store, connector: str | None = None) -> float:
    """Seconds until a row of ``connector`` can be claimed: its next retry that is not waiting
    behind an earlier row, or its next expired claim (bounded by ``MAX_IDLE``)."""
    mine = [] if connector is None else [outbox.c.connector == connector]
    with store.read() as conn:
        due = conn.execute(
            sa.select(sa.func.min(outbox.c.next_attempt_at)).where(
                outbox.c.state == PENDING, ~_blocked(), *mine
            )
        ).scalar()
        lease = conn.execute(
            sa.select(sa.func.min(outbox.c.claimed_until)).where(outbox.c.state == IN_FLIGHT, *mine)
        ).scalar()
    now = time.time()
    nearest = min([t for t in (due, lease) if t is not None], default=now + MAX_IDLE)
    return max(0.01, min(MAX_IDLE, nearest - now + 0.005))


# --------------------------------------------------------------------------- dead letters


def retry(conn: Connection, ids: list[int] | None, now: float) -> list[int]:
    """Send dead rows again (``ids``, or every dead row when None): they become pending, due
    now, with a fresh attempt count and age. Rows behind them follow once they are delivered.
    Returns the ids revived (an id that is not dead is left alone)."""
    revived = revive_dead(conn, outbox, ids, now, DEAD, PENDING)
    if revived:
        _wakers.after_commit(conn)
    return revived


def list_rows(
    conn: Connection,
    *,
    state: str | None = None,
    failed: bool = False,
    connector: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Outbox rows newest first; ``failed``: the dead letters and the rows failing now (pending
    with an error) — what someone should look at. ``waiting_for`` is the earlier row a row
    waits behind (same incident and connector), if any."""
    earlier = outbox.alias("earlier")
    waiting_for = (
        sa.select(sa.func.min(earlier.c.id))
        .where(
            earlier.c.incident_id == outbox.c.incident_id,
            earlier.c.connector == outbox.c.connector,
            earlier.c.id < outbox.c.id,
            earlier.c.state.in_((PENDING, IN_FLIGHT, DEAD)),
        )
        .scalar_subquery()
    )
    query = (
        sa.select(outbox, incidents.c.key, waiting_for.label("waiting_for"))
        .join(incidents, incidents.c.id == outbox.c.incident_id)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(outbox.c.state == state)
    if failed:
        query = query.where(
            sa.or_(
                outbox.c.state == DEAD,
                sa.and_(outbox.c.state.in_((PENDING, IN_FLIGHT)), outbox.c.last_error.is_not(None)),
            )
        )
    if connector is not None:
        query = query.where(outbox.c.connector == connector)
    return [
        {
            "id": r.id,
            "incident": r.key,
            "connector": r.connector,
            "action": r.action,
            "version": r.version,
            "state": r.state,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "created_at": r.created_at,
            "first_failed_at": r.first_failed_at,
            "next_attempt_at": r.next_attempt_at if r.state == PENDING else None,
            "delivered_at": r.delivered_at,
            "waiting_for": r.waiting_for,
        }
        for r in conn.execute(query).all()
    ]


def stored_ref(conn: Connection, incident_id: int, connector: str) -> TicketRef | None:
    row = conn.execute(
        sa.select(tickets).where(
            tickets.c.incident_id == incident_id, tickets.c.connector == connector
        )
    ).first()
    return None if row is None else TicketRef(connector, row.external_id, row.url)


def _follows_a_close_there(connector: str) -> sa.ColumnElement[bool]:
    """The tickets on ``connector`` whose close in the ticket system closes the incident here.

    Not already followed; the incident active here (a resolved incident's ticket was closed by
    Upkeep's own resolve: the client's answer or the closing flow closes the incident, not the
    echo of the resolve); and nothing undelivered to that ticket (what the ticket system says
    is about to change: a reopen still queued would be undone by following the old close)."""
    undelivered = (
        sa.select(outbox.c.id)
        .where(
            outbox.c.incident_id == tickets.c.incident_id,
            outbox.c.connector == connector,
            outbox.c.state.in_((PENDING, IN_FLIGHT)),
        )
        .exists()
    )
    return sa.and_(
        tickets.c.connector == connector,
        tickets.c.closed_remotely_at.is_(None),
        tickets.c.incident_id.in_(sa.select(incidents.c.id).where(incidents.c.state.in_(ACTIVE))),
        ~undelivered,
    )


def store_ref(conn: Connection, incident_id: int, ref: TicketRef, now: float) -> None:
    updated = conn.execute(
        tickets.update()
        .where(tickets.c.incident_id == incident_id, tickets.c.connector == ref.system)
        .values(external_id=ref.external_id, url=ref.url, updated_at=now)
    ).rowcount
    if not updated:
        conn.execute(
            tickets.insert().values(
                incident_id=incident_id,
                connector=ref.system,
                external_id=ref.external_id,
                url=ref.url,
                created_at=now,
                updated_at=now,
            )
        )


# --------------------------------------------------------------------------- metrics


class OutboxMetrics:
    """``upkeep_outbox_*`` and ``upkeep_breach_to_ticket_seconds`` (registered on the app's registry)."""

    def __init__(self, registry: Any = None) -> None:
        kw = {"registry": registry}
        self.delivered = Counter(
            "upkeep_outbox_delivered",
            "Outbox deliveries that succeeded.",
            ["connector", "action"],
            **kw,
        )
        self.failed = Counter(
            "upkeep_outbox_failed",
            "Outbox rows dead-lettered (permanent error, or failing for outbox_max_age).",
            ["connector"],
            **kw,
        )
        self.retried = Counter(
            "upkeep_outbox_retries",
            "Deliveries that failed and will be retried.",
            ["connector"],
            **kw,
        )
        self.pages = Counter(
            "upkeep_oncall_pages",
            "On-call pages handed to a paging channel (result: sent; retry: failed, tried again; "
            "failed: failed for good).",
            ["channel", "result"],
            **kw,
        )
        self.latency = Histogram(
            "upkeep_breach_to_ticket_seconds",
            "From the breaching sample's arrival (the incident opening) to the ticket system "
            "accepting the open.",
            ["connector"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            **kw,
        )


def _channel(connector: str) -> str:
    return connector.removeprefix("page:")


DEAD_LETTERS_HELP = (
    "Outbox rows dead-lettered (failed for good or for outbox_max_age), per connector; "
    "`upkeep outbox retry` sends them again."
)


class BacklogCollector:
    """``upkeep_outbox_backlog{state}`` (rows not yet delivered) and
    ``upkeep_outbox_dead_letters{connector}``, read at scrape time."""

    def __init__(self, store: Store, settings: Settings, **_: Any) -> None:
        self.store = store
        self.connectors = list(settings.connectors_config().connectors)

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "upkeep_outbox_backlog", "Outbox rows by state (not done).", labels=["state"]
            ),
            GaugeMetricFamily(
                "upkeep_outbox_dead_letters", DEAD_LETTERS_HELP, labels=["connector"]
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "upkeep_outbox_backlog", "Outbox rows by state (not done).", labels=["state"]
        )
        dead = GaugeMetricFamily(
            "upkeep_outbox_dead_letters", DEAD_LETTERS_HELP, labels=["connector"]
        )
        with self.store.read() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    sa.select(outbox.c.state, sa.func.count())
                    .where(outbox.c.state != DONE)
                    .group_by(outbox.c.state)
                ).all()
            )
            by_connector: dict[str, int] = dict(
                conn.execute(
                    sa.select(outbox.c.connector, sa.func.count())
                    .where(outbox.c.state == DEAD)
                    .group_by(outbox.c.connector)
                ).all()
            )
        for state in (PENDING, IN_FLIGHT, DEAD):
            family.add_metric([state], counts.get(state, 0))
        # Every configured connector has a series (0 included), so an alert sees it go up.
        for name in sorted(set(self.connectors) | set(by_connector)):
            dead.add_metric([name], by_connector.get(name, 0))
        yield family
        yield dead


# --------------------------------------------------------------------------- workers

#: (incident id, connector name, when, the technician's closing note or None)
ClosedHandler = Callable[[int, str, float, str | None], None]


class OutboxWorkers:
    """Delivery threads over one store. :meth:`start` / :meth:`stop`; :meth:`wake` after a commit."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        connectors: Mapping[str, Connector],
        metrics: OutboxMetrics | None = None,
        on_closed: ClosedHandler | None = None,
        incident_listeners: list[Any] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.connectors = dict(connectors)
        self.metrics = metrics or OutboxMetrics(registry=None)
        self.on_closed = on_closed
        #: Told about time entries mirrored from ticket systems (the incident service's listeners).
        self.incident_listeners = incident_listeners if incident_listeners is not None else []
        self._wakeup = WorkerWakeup()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._id = f"{socket.gethostname()}:{os.getpid()}"

    # -- control

    def start(self) -> None:
        if self._threads or not self.connectors:
            return
        self._stop.clear()
        for connector in self.connectors.values():
            if connector.config.deadline >= self.settings.outbox_claim_timeout:
                # Another worker would take the row over while the first still waits on it.
                log.warning(
                    "connector %s: deadline %ss is not below outbox_claim_timeout %ss; "
                    "a slow attempt may be delivered twice",
                    connector.name,
                    connector.config.deadline,
                    self.settings.outbox_claim_timeout,
                )
        self.bury_unconfigured()
        _wakers.add(self.wake)
        # Threads per connector: a ticket system that hangs until its deadline holds only its
        # own threads; every other connector keeps delivering.
        for name in self.connectors:
            for n in range(self.settings.outbox_workers):
                thread = threading.Thread(
                    target=self._loop,
                    args=(f"{self._id}:{name}:{n}", name),
                    name=f"outbox-{name}-{n}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        # Polling closed tickets is a periodic job of its own (collector.background), once per
        # cluster: ticket-poll-closed / ticket-time-entries.

    def bury_unconfigured(self) -> int:
        """Dead-letter the waiting rows of connectors no longer configured (no thread claims
        them; dead, they are visible and can be retried once the connector is back)."""
        with self.store.write() as conn:
            return conn.execute(
                outbox.update()
                .where(outbox.c.state == PENDING, outbox.c.connector.not_in(list(self.connectors)))
                .values(
                    state=DEAD,
                    last_error="the connector is not configured",
                    first_failed_at=time.time(),
                )
            ).rowcount

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        _wakers.remove(self.wake)
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        for connector in self.connectors.values():
            try:
                connector.close()
            except Exception:  # closing is best effort
                log.debug("closing connector %s failed", connector.name, exc_info=True)

    def wake(self) -> None:
        self._wakeup.wake()

    # -- delivery

    def _loop(self, worker: str, connector: str) -> None:
        # Sleep until the connector's next retry is due (bounded), or a commit wakes us.
        self._wakeup.run(
            self._stop,
            lambda: self.run_once(worker, connector),
            lambda: idle_seconds(self.store, connector),
            f"outbox worker {worker}",
        )

    def run_once(self, worker: str = "inline", connector: str | None = None) -> bool:
        """Claim and deliver one row (of ``connector``, or any); False when nothing is due."""
        now = time.time()
        row = claim(self.store, worker, now, self.settings.outbox_claim_timeout, connector)
        if row is None:
            return False
        self.deliver(row, worker)
        return True

    def deliver(self, row: Any, worker: str) -> None:
        connector = self.connectors.get(row.connector)
        if connector is None:
            self._finish(row, worker, DEAD, f"connector {row.connector!r} is not configured")
            self.metrics.failed.labels(row.connector).inc()
            return
        with self.store.read() as conn:
            ref = stored_ref(conn, row.incident_id, row.connector)
        try:
            if row.action == PAGE:
                result = self._page(connector, row)
            else:
                subject = subject_of(row.payload)
                result = connector.attempt(Action(row.action), subject, ref)
        except ConnectorError as exc:
            self._failed(row, worker, exc.message, exc.permanent)
            return
        except Exception as exc:  # a bug or an unexpected library error: retry, bounded
            log.exception(
                "outbox %s: %s %s via %s failed unexpectedly",
                row.id,
                row.action,
                row.payload.get("key"),
                row.connector,
            )
            self._failed(row, worker, f"{type(exc).__name__}: {exc}", False)
            return
        now = time.time()
        with self.store.write() as conn:
            if result is not None and row.action != PAGE:
                store_ref(conn, row.incident_id, result, now)
            if row.action == str(Action.REOPEN):  # open there again: its next close counts
                conn.execute(
                    tickets.update()
                    .where(
                        tickets.c.incident_id == row.incident_id,
                        tickets.c.connector == row.connector,
                    )
                    .values(closed_remotely_at=None)
                )
            won = self._finish_in(conn, row, worker, DONE, None, now)
        if won:
            self.metrics.delivered.labels(row.connector, row.action).inc()
            if row.action == PAGE:
                self.metrics.pages.labels(_channel(row.connector), "sent").inc()
            if row.action == str(Action.OPEN):
                self.metrics.latency.labels(row.connector).observe(max(0.0, now - row.created_at))

    @staticmethod
    def _page(connector: Connector, row: Any) -> TicketRef | None:
        from collector.connectors.paging import Page, PagingConnector

        if not isinstance(connector, PagingConnector):
            raise ConnectorError(f"{connector.name} is not a paging channel", permanent=True)
        return connector.page(Page.from_json(row.payload["page"]))

    def _failed(self, row: Any, worker: str, message: str, permanent: bool) -> None:
        if row.action == PAGE:
            self._count_page_failure(row, permanent)
        now = time.time()
        failing_since = row.first_failed_at if row.first_failed_at is not None else now
        too_old = now - failing_since >= self.settings.outbox_max_age
        if permanent or too_old:
            why = (
                "permanent error"
                if permanent
                else f"failing for {format_duration(now - failing_since)}, {row.attempts} attempts"
            )
            log.error(
                "outbox %s: %s %s via %s failed (%s): %s",
                row.id,
                row.action,
                row.payload.get("key"),
                row.connector,
                why,
                message,
            )
            if self._finish(row, worker, DEAD, f"{why}: {message}", failing_since):
                self.metrics.failed.labels(row.connector).inc()
            return
        delay = backoff(
            row.attempts, self.settings.outbox_retry_base, self.settings.outbox_retry_max
        )
        log.warning(
            "outbox %s: %s %s via %s failed (attempt %d, retry in %.1fs): %s",
            row.id,
            row.action,
            row.payload.get("key"),
            row.connector,
            row.attempts,
            delay,
            message,
        )
        with self.store.write() as conn:
            won = conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == row.id,
                    outbox.c.state == IN_FLIGHT,
                    outbox.c.claimed_by == worker,
                )
                .values(
                    state=PENDING,
                    next_attempt_at=time.time() + delay,
                    first_failed_at=failing_since,
                    last_error=message[:2000],
                    claimed_by=None,
                    claimed_until=None,
                )
            ).rowcount
        if won:
            self.metrics.retried.labels(row.connector).inc()

    def _count_page_failure(self, row: Any, permanent: bool) -> None:
        now = time.time()
        failing_since = row.first_failed_at if row.first_failed_at is not None else now
        final = permanent or now - failing_since >= self.settings.outbox_max_age
        self.metrics.pages.labels(_channel(row.connector), "failed" if final else "retry").inc()

    def _finish(
        self,
        row: Any,
        worker: str,
        state: str,
        error: str | None,
        failing_since: float | None = None,
    ) -> bool:
        with self.store.write() as conn:
            return self._finish_in(conn, row, worker, state, error, time.time(), failing_since)

    @staticmethod
    def _finish_in(
        conn: Connection,
        row: Any,
        worker: str,
        state: str,
        error: str | None,
        now: float,
        failing_since: float | None = None,
    ) -> bool:
        # Only the claim holder finishes its row (a row re-claimed after a lease expiry is
        # finished by its new holder; both deliveries were idempotent).
        values: dict[str, Any] = {
            "state": state,
            "claimed_until": None,
            "last_error": None if error is None else error[:2000],
            "first_failed_at": failing_since,
        }
        if state == DONE:
            values["delivered_at"] = now
        return (
            conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == row.id,
                    outbox.c.state == IN_FLIGHT,
                    outbox.c.claimed_by == worker,
                )
                .values(**values)
            ).rowcount
            == 1
        )

    # -- two-way close

    def poll_closed(self) -> int:
        """Ask each polling connector which of our open tickets were closed; close those incidents."""
        closed = 0
        for name, connector in self.connectors.items():
            if not connector.supports_poll:
                continue
            with self.store.read() as conn:
                rows = conn.execute(
                    sa.select(tickets.c.incident_id, tickets.c.external_id, tickets.c.url).where(
                        _follows_a_close_there(name)
                    )
                ).all()
            if not rows:
                continue
            by_ref = {r.external_id: r.incident_id for r in rows}
            try:
                with deadline(connector.config.deadline):
                    done = connector.poll_closed(
                        [TicketRef(name, r.external_id, r.url) for r in rows]
                    )
            except ConnectorError as exc:
                log.warning("polling %s for closed tickets failed: %s", name, exc.message)
                continue
            for ref in done:
                incident_id = by_ref.get(ref.external_id)
                if incident_id is None:
                    continue
                note = self._resolution_note(connector, ref)
                now = time.time()
                with self.store.write() as conn:
                    # Asked again in the write: the incident may have been reopened (a reopen
                    # then queued) while the ticket system answered; its close is then stale.
                    if not conn.execute(
                        tickets.update()
                        .where(tickets.c.incident_id == incident_id, _follows_a_close_there(name))
                        .values(closed_remotely_at=now)
                    ).rowcount:
                        continue
                if self.on_closed is not None:
                    self.on_closed(incident_id, name, now, note)
                closed += 1
        return closed

    @staticmethod
    def _resolution_note(connector: Connector, ref: TicketRef) -> str | None:
        """The technician's closing note on the ticket, where the connector can read it; a
        failure to read it never keeps the incident from closing."""
        if not connector.supports_resolution_note:
            return None
        try:
            with deadline(connector.config.deadline):
                return connector.read_resolution_note(ref)
        except (ConnectorError, OSError) as exc:
            log.warning(
                "reading the closing note of %s ticket %s failed: %s",
                connector.name,
                ref.external_id,
                getattr(exc, "message", exc),
            )
            return None

    def poll_time_entries(self, now: float | None = None) -> int:
        """Mirror time entries logged in the ticket systems (connectors that can read them) on
        tickets of incidents not closed, or closed within ``TIME_ENTRY_WINDOW``. Returns how many
        entries were added."""
        from collector.incidents import time_mirror

        now = time.time() if now is None else now
        added = 0
        for name, connector in self.connectors.items():
            if not connector.supports_time_entries:
                continue
            with self.store.read() as conn:
                rows = conn.execute(
                    sa.select(tickets.c.incident_id, tickets.c.external_id, tickets.c.url)
                    .join(incidents, incidents.c.id == tickets.c.incident_id)
                    .where(
                        tickets.c.connector == name,
                        sa.or_(
                            incidents.c.closed_at.is_(None),
                            incidents.c.closed_at >= now - TIME_ENTRY_WINDOW,
                        ),
                    )
                ).all()
            for r in rows:
                try:
                    with deadline(connector.config.deadline):
                        entries = connector.read_time_entries(TicketRef(name, r.external_id, r.url))
                except ConnectorError as exc:
                    log.warning(
                        "reading time entries of %s ticket %s failed: %s",
                        name,
                        r.external_id,
                        exc.message,
                    )
                    if not exc.permanent:
                        break  # the system is away: try again next turn
                    continue
                if not any(e.upkeep_id is None for e in entries):
                    continue
                with self.store.write() as conn:
                    added += len(
                        time_mirror.mirror(
                            conn, r.incident_id, name, entries, now, self.incident_listeners
                        )
                    )
        return added


#: Time entries are read back for tickets whose incident closed at most this long ago.
TIME_ENTRY_WINDOW = 7 * 86400.0
