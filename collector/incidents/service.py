"""Applying lifecycle decisions to the store: incidents, events, comments, time entries and
outbox rows, always in one transaction.

:meth:`IncidentService.on_transitions` is the rule engine's transition listener (it runs
inside the engine's write transaction); :meth:`apply_signal` is the entry point for any
other source (the Alertmanager receiver). Technicians go through :meth:`act` and
:meth:`report`. Reads for the API and CLI are here too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from collector import admin, timeutil
from collector.connectors import Action, Comment, ConnectorsConfig, TicketSubject, TimeEntry
from collector.errors import IncidentConflict, InvalidArgument, NotFound
from collector.incidents import lifecycle, pipeline, renotify
from collector.incidents.changes import IncidentChanged, IncidentListener
from collector.incidents.lifecycle import Change, IncidentFacts, InvalidTransition
from collector.incidents.outbox import enqueue
from collector.incidents.pipeline import AlertSignal, Decision
from collector.rules.engine import Transition
from collector.schema import (
    ACTIVE_FINGERPRINT_INDEX,
    clients,
    incident_comments,
    incident_counters,
    incident_events,
    incidents,
    outbox,
    tickets,
    time_entries,
)
from collector.store import Store, inserted_id

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "upkeep"
#: Events after which reminders start over at the shortest interval.
_NEWS = ("opened", "reopened", "escalated")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

#: Rule-engine events that concern incidents, and the signal status they become.
_EVENT_STATUS: dict[str, Literal["firing", "resolved"]] = {
    "firing": "firing",
    "escalated": "firing",
    "deescalated": "firing",
    "flapping": "firing",
    "resolved": "resolved",
}


def incident_key(client: str, number: int) -> str:
    return f"UPK-{_KEY_UNSAFE.sub('-', client).strip('-') or 'client'}-{number}"


def signal_of(t: Transition) -> AlertSignal | None:
    """The signal a rule transition sends to the lifecycle (None: not an incident matter)."""
    status = _EVENT_STATUS.get(t.event)
    if status is None or (t.event == "flapping" and t.status != "firing"):
        return None
    return AlertSignal(
        fingerprint=t.fingerprint,
        name=t.rule_id,
        client_id=t.client_id,
        client=t.client,
        status=status,
        ts=t.ts,
        origin="proactive",
        site=t.site,
        asset_id=t.asset_id,
        asset=t.asset,
        labels=dict(t.labels),
        severity=t.severity,
        priority=t.priority,
        kind=t.kind,
        summary=t.summary,
        description=t.description,
        value=t.value,
        flapping=t.flapping,
        escalated=t.event == "escalated",
        event=t.event,
        title_source=t.title_source,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """What happened to a signal: the incident key and the lifecycle event, or the stage decision."""

    key: str | None
    event: str | None
    decision: Decision = pipeline.PASS


def reopen_comment(comment: str, *, via: str, rating: int | None) -> str:
    """The ticket comment of a client's "not solved" answer (staff-facing, in English like the
    other notes Upkeep writes to ticket systems): their words, where they said it, the rating."""
    where = {"link": "the closing link", "portal": "the client portal"}.get(via, via)
    rated = f" (rating {rating}/5)" if rating is not None else ""
    return f"The client says it is not solved, via {where}{rated}:\n\n{comment.strip()}"


class IncidentService:
    """Incidents over one store, with the client → connectors routing of ``connectors``."""

    def __init__(
        self,
        store: Store,
        connectors: ConnectorsConfig | None = None,
        *,
        reopen_window: float = 24 * 3600.0,
        stages: list[pipeline.Stage] | None = None,
        renotify_policy: renotify.RenotifyPolicy | None = None,
    ) -> None:
        self.store = store
        self.connectors = connectors or ConnectorsConfig()
        self.reopen_window = reopen_window
        self.renotify = renotify_policy or renotify.RenotifyPolicy()
        self.stages = stages  # None: the registered stages
        #: Called after every incident event, in its transaction, each inside a savepoint: a
        #: failing listener is logged and undone, never the incident change itself.
        self.listeners: list[IncidentListener] = []

    # ------------------------------------------------------------------ signals

    def on_transitions(self, conn: Connection, transitions: list[Transition], now: float) -> None:
        """Rule-engine listener: runs inside the transaction that stores the transitions."""
        self.apply_signals(conn, [s for t in transitions if (s := signal_of(t)) is not None], now)

    def apply_signals(self, conn: Connection, signals: list[AlertSignal], now: float) -> None:
        """Apply ``signals`` in order as one batch of the pipeline (:func:`pipeline.batch`):
        what they cannot change (a site's assets and alerts) is read once, the alerts folded
        into a parent incident are listed on it in one statement."""
        with pipeline.batch():
            for signal in signals:
                self.apply_signal(conn, signal, now)

    def apply_signal(self, conn: Connection, signal: AlertSignal, now: float) -> Applied:
        """Run ``signal`` through the stages and the lifecycle (inside ``conn``'s transaction).

        The active incident of the fingerprint is locked (``FOR UPDATE`` on PostgreSQL) before
        the lifecycle decides. When there is none, the new (or reopened) incident is written in
        a savepoint: if another replica opened one for the same fingerprint at the same moment,
        the partial unique index refuses the second, and the signal becomes a repeat of the
        incident that won.
        """
        decision = pipeline.run(conn, signal, now, self.stages)
        if not decision.passes:
            if decision.action == "suppress" and decision.parent:
                self._list_on_parent(conn, decision.parent, signal, decision.reason, now)
            return Applied(None, None, decision)
        known = pipeline.memo(pipeline.ACTIVE_KEYS)
        if known is not None:  # the lifecycle may open, reopen or resolve it now
            known.pop(signal.fingerprint, None)
            pipeline.flush()  # the batch's listings first: events in the order they happened
        active = self._by_fingerprint(conn, signal.fingerprint, lifecycle.ACTIVE, lock=True)
        if active is None and signal.status == "firing" and signal.fingerprint:
            try:
                with conn.begin_nested():
                    return self._apply(conn, signal, decision, None, now)
            except sa.exc.IntegrityError as exc:
                if not _active_fingerprint_conflict(exc):
                    raise
            active = self._by_fingerprint(conn, signal.fingerprint, lifecycle.ACTIVE, lock=True)
            if active is None:  # cannot be: the index just named one
                raise RuntimeError(f"no active incident for {signal.fingerprint} after a conflict")
            log.info(
                "%s opened elsewhere at the same moment: a repeat of %s",
                signal.fingerprint,
                active.key,
            )
        return self._apply(conn, signal, decision, active, now)

    def _apply(
        self,
        conn: Connection,
        signal: AlertSignal,
        decision: Decision,
        active: Any | None,
        now: float,
    ) -> Applied:
        recent = None
        if active is None and signal.status == "firing":
            recent = self._by_fingerprint(
                conn, signal.fingerprint, ("resolved", "closed"), lock=True
            )
        change = lifecycle.on_signal(
            signal, _facts(active), _facts(recent), now, self.reopen_window
        )
        if change is None:
            return Applied(None, None)
        if active is not None:  # a repeat earns a reminder only once the back-off has passed
            change = renotify.remind(
                change,
                active.last_notified_at or active.opened_at,
                active.reminders_sent,
                self.renotify,
                now,
            )
        # A new incident (a re-fire past the reopen window) is a new row, not the old one
        # rewritten as opened: that lost the old incident and sent its ticket a second open.
        row = None if change.new else active if active is not None else recent
        key = self._write(conn, row, change, now, SYSTEM_ACTOR, signal=signal, decision=decision)
        return Applied(key, change.event)

    def _list_on_parent(
        self, conn: Connection, parent: str, signal: AlertSignal, reason: str, now: float
    ) -> None:
        """A suppressed alert is listed on the incident it was folded into (e.g. the site's):
        an append-only ``suppressed`` event, once per alert and status change."""
        ids = pipeline.memo("incident-id")
        incident_id = ids.get(parent) if ids is not None else None
        if incident_id is None:
            incident_id = conn.execute(
                sa.select(incidents.c.id).where(incidents.c.key == parent)
            ).scalar()
            if incident_id is None:
                return
            if ids is not None:
                ids[parent] = incident_id
        data = {
            "fingerprint": signal.fingerprint,
            "alert": signal.name,
            "asset": signal.asset,
            "status": signal.status,
            "summary": signal.summary,
            "reason": reason,
        }
        listed = pipeline.memo("listed-on-parent")
        seen = listed.get(incident_id) if listed is not None else None
        if seen is None:  # once per parent and batch (a site's storm lists hundreds on one)
            seen = {
                (d.get("fingerprint"), d.get("status"))
                for d in conn.execute(
                    sa.select(incident_events.c.data).where(
                        incident_events.c.incident_id == incident_id,
                        incident_events.c.type == "suppressed",
                    )
                ).scalars()
            }
            if listed is not None:
                listed[incident_id] = seen
        if (signal.fingerprint, signal.status) in seen:
            return  # a repeat of the same suppressed alert adds nothing
        seen.add((signal.fingerprint, signal.status))
        # In a batch, its listings are one INSERT, before its next incident write.
        pipeline.insert_later(
            conn,
            incident_events,
            {
                "incident_id": incident_id,
                "ts": now,
                "actor": SYSTEM_ACTOR,
                "type": "suppressed",
                "data": data,
            },
        )

    def _by_fingerprint(
        self, conn: Connection, fingerprint: str, states: Iterable[str], *, lock: bool = False
    ) -> Any | None:
        query = (
            sa.select(incidents)
            .where(incidents.c.fingerprint == fingerprint, incidents.c.state.in_(tuple(states)))
            .order_by(incidents.c.id.desc())
            .limit(1)
        )
        # FOR UPDATE (PostgreSQL; SQLite's writers are serialized anyway): the lifecycle decides
        # on the row as it is, and nobody else changes it before this transaction ends.
        return conn.execute(query.with_for_update() if lock else query).first()

    # ------------------------------------------------------------------ people

    def report(
        self,
        *,
        client: str,
        title: str,
        actor: str,
        description: str = "",
        priority: str = "minor",
        asset: str | None = None,
        site: str | None = None,
        kind: str = "problem",
    ) -> str:
        """A person reports a problem (the client called): a user_reported incident. Returns its key."""
        if priority not in lifecycle.PRIORITIES:
            raise InvalidArgument(f"priority must be one of {', '.join(lifecycle.PRIORITIES)}")
        now = timeutil.now()
        with self.store.write() as conn:
            found = admin.get_client(conn, client)
            signal = AlertSignal(
                fingerprint="",
                name="",
                client_id=found.id,
                client=found.name,
                status="firing",
                ts=now,
                origin="user_reported",
                site=site,
                asset=asset,
                priority=priority,
                kind=kind,
                summary=title,
                description=description,
            )
            # The people's stages only annotate (e.g. out of scope): a report is never dropped.
            decision = pipeline.run(conn, signal, now)
            change = lifecycle.on_signal(signal, None, None, now, self.reopen_window)
            assert change is not None
            return self._write(
                conn,
                None,
                change,
                now,
                actor,
                signal=signal,
                decision=decision if decision.passes else pipeline.PASS,
            )

    def act(self, key: str, action: str, actor: str, **args: Any) -> str:
        """A technician's action on incident ``key``; returns the event type written."""
        now = timeutil.now()
        with self.store.write() as conn:
            row = self._get(conn, key, lock=True)
            try:
                change = lifecycle.on_action(_facts(row), action, now, **args)
            except InvalidTransition as exc:
                raise InvalidArgument(str(exc)) from None
            try:
                with conn.begin_nested():
                    self._write(conn, row, change, now, actor, extra=args)
            except sa.exc.IntegrityError as exc:
                if not _active_fingerprint_conflict(exc):
                    raise
                raise InvalidArgument(
                    f"{key} cannot be {change.event}: another incident of the same alert "
                    "is active (one active incident per alert)"
                ) from None
            return change.event

    def close_from_ticket(
        self, incident_id: int, connector: str, now: float, note: str | None = None
    ) -> None:
        """A ticket was closed in the ticket system: close the incident here (two-way).

        ``note``: the technician's closing note read back from the ticket (Redmine journal,
        Jira comment), where the connector can; it becomes the resolution note.

        The row is locked first: two replicas hearing of the same close wait for each other,
        and the second finds it closed (one close, one resolve to the other ticket systems)."""
        with self.store.write() as conn:
            row = conn.execute(
                sa.select(incidents).where(incidents.c.id == incident_id).with_for_update()
            ).first()
            if row is None or row.state == "closed":
                return
            change = lifecycle.on_action(
                _facts(row), "close", now, note=note or f"closed in {connector}"
            )
            if note:
                change = Change(
                    change.event,
                    {**change.fields, "resolution_note": note},
                    {**change.data, "from_ticket": connector},
                    change.action,
                )
            self._write(conn, row, change, now, f"{connector}", extra={})

    def client_answer(
        self,
        conn: Connection,
        incident_id: int,
        answer: Literal["confirmed", "reopened", "auto_closed"],
        actor: str,
        now: float,
        *,
        via: str,
        rating: int | None = None,
        comment: str | None = None,
    ) -> str:
        """The client's answer to a closing message, written in ``conn``'s transaction: confirmed
        (or no answer in time: ``auto_closed``) closes a resolved incident, ``reopened`` reopens
        it with their comment. When the incident moved on meanwhile (closed from the ticket
        system, or active again) the answer is recorded as an event without a state change.
        The rating and comment are in the event (the incident's timeline). Returns the event."""
        row = conn.execute(
            sa.select(incidents).where(incidents.c.id == incident_id).with_for_update()
        ).one()
        data: dict[str, Any] = {"answer": answer, "via": via, "rating": rating, "comment": comment}
        change: Change
        if answer == "reopened" and row.state in ("resolved", "closed"):
            note = comment or "the client says the problem is not solved"
            change = lifecycle.on_action(_facts(row), "reopen", now, note=note)
        elif answer != "reopened" and row.state == "resolved":
            note = (
                "the client confirmed it is solved"
                if answer == "confirmed"
                else "closed automatically: the client did not answer"
            )
            change = lifecycle.on_action(_facts(row), "close", now, note=note)
        else:
            change = Change("client_answered", {}, {"state": row.state})
        change = Change(change.event, change.fields, {**change.data, **data}, change.action)
        try:
            with conn.begin_nested():
                self._write(conn, row, change, now, actor, extra={})
        except sa.exc.IntegrityError as exc:
            if not _active_fingerprint_conflict(exc):
                raise
            # The alert fired again meanwhile (a newer incident is active): keep the answer.
            row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).one()
            change = Change("client_answered", {}, {**data, "state": row.state})
            self._write(conn, row, change, now, actor, extra={})
        if answer == "reopened" and comment and comment.strip():
            # What the client said reaches the ticket systems as a comment after the reopen
            # (same outbox, same order), with a stable id: the incident's version it made.
            version = conn.execute(
                sa.select(incidents.c.version).where(incidents.c.id == incident_id)
            ).scalar_one()
            self.mirror_note(
                conn,
                incident_id,
                body=reopen_comment(comment, via=via, rating=rating),
                note_id=f"a{version}",
                now=now,
                actor=actor,
            )
        return change.event

    def annotate(
        self,
        conn: Connection,
        incident_id: int,
        event: str,
        data: dict[str, Any],
        *,
        body: str,
        note_id: str,
        now: float,
        actor: str = SYSTEM_ACTOR,
    ) -> str:
        """A system event on an incident, mirrored once to the client's ticket connectors as a
        comment with the stable id ``<key>-<note_id>`` (inside ``conn``'s transaction, like
        every incident change). Returns the incident key. Not for listeners: they write their
        own tables and use :meth:`mirror_note` for the ticket comment."""
        row = conn.execute(
            sa.select(incidents).where(incidents.c.id == incident_id).with_for_update()
        ).one()
        note = Comment(f"{row.key}-{note_id}", body, actor, timeutil.to_datetime(now))
        return self._write(
            conn,
            row,
            Change(event, {}, {**data, "body": body}, Action.COMMENT),
            now,
            actor,
            note=note,
        )

    def record(
        self,
        conn: Connection,
        incident_id: int,
        event: str,
        data: dict[str, Any],
        now: float,
        actor: str = SYSTEM_ACTOR,
    ) -> str:
        """A system event on the incident's timeline that no ticket system hears of and that
        changes nothing else (e.g. ``closing_sent``, the on-call ``paged`` steps), inside
        ``conn``'s transaction. Returns the incident key."""
        row = conn.execute(
            sa.select(incidents).where(incidents.c.id == incident_id).with_for_update()
        ).one()
        return self._write(conn, row, Change(event, {}, dict(data), None), now, actor)

    def mirror_note(
        self,
        conn: Connection,
        incident_id: int,
        *,
        body: str,
        note_id: str,
        now: float,
        actor: str = SYSTEM_ACTOR,
    ) -> str:
        """Queue a comment with the stable id ``<key>-<note_id>`` to the client's ticket
        connectors, changing nothing of the incident (it only reads the row): what a domain
        that keeps its own record (an SLA notice) tells the ticket systems. Returns the key."""
        current = conn.execute(
            sa.select(incidents, clients.c.name.label("client"))
            .join(clients, clients.c.id == incidents.c.client_id)
            .where(incidents.c.id == incident_id)
        ).one()
        note = Comment(f"{current.key}-{note_id}", body, actor, timeutil.to_datetime(now))
        enqueue(
            conn,
            incident_id,
            subject_of_row(current, comment=note),
            Action.COMMENT,
            self.connectors.for_client(current.client),
            now,
        )
        return str(current.key)

    # ------------------------------------------------------------------ writing

    def _write(
        self,
        conn: Connection,
        row: Any | None,
        change: Change,
        now: float,
        actor: str,
        *,
        signal: AlertSignal | None = None,
        extra: dict[str, Any] | None = None,
        note: Comment | None = None,
        decision: Decision = pipeline.PASS,
    ) -> str:
        """Write ``change`` to ``row`` (None: a new incident from ``signal``, with the labels and
        events of the pipeline ``decision``), its event, the listeners' part and the outbox row."""
        added: tuple[pipeline.AddedEvent, ...] = ()
        if row is None:
            assert signal is not None and change.new
            number = self._next_number(conn, signal.client_id)
            key = incident_key(signal.client, number)
            added = decision.events
            values = {
                **change.fields,
                "key": key,
                "client_id": signal.client_id,
                "number": number,
                "fingerprint": signal.fingerprint or None,
                "site": signal.site,
                "asset_id": signal.asset_id,
                "asset": signal.asset,
                "rule": signal.name or None,
                "labels": {**signal.labels, **decision.labels},
                "version": 1,
                "updated_at": now,
                "last_notified_at": now,
                "reminders_sent": 0,
            }
            incident_id = inserted_id(conn.execute(incidents.insert().values(**values)))
            version = 1
        else:
            incident_id, key, version = row.id, row.key, row.version + 1
            notified = {}
            if (
                change.action is not None
            ):  # the ticket systems hear of it: the reminder clock restarts
                notified = {"last_notified_at": now}
                if change.event in _NEWS:
                    notified["reminders_sent"] = 0
            # The version check: a change decided on a row that changed since it was read (a
            # caller that did not lock it) fails instead of overwriting the other change.
            if (
                conn.execute(
                    incidents.update()
                    .where(incidents.c.id == incident_id, incidents.c.version == row.version)
                    .values(**change.fields, **notified, version=version, updated_at=now)
                ).rowcount
                != 1
            ):
                raise IncidentConflict(
                    f"incident {key} changed concurrently (version {row.version} is stale)"
                )
        data = dict(change.data)
        comment, entry = note, None
        if change.event == "escalated" and comment is None:
            # The ticket systems are told what rose (also when only the severity did).
            comment = Comment(
                f"{key}-e{version}",
                lifecycle.escalation_note(data),
                actor,
                timeutil.to_datetime(now),
            )
        if change.event == "commented":
            result = conn.execute(
                incident_comments.insert().values(
                    incident_id=incident_id, actor=actor, body=data["body"], created_at=now
                )
            )
            cid = inserted_id(result)
            data["comment_id"] = cid
            comment = Comment(f"{key}-c{cid}", data["body"], actor, timeutil.to_datetime(now))
        elif change.event == "time_logged":
            result = conn.execute(
                time_entries.insert().values(
                    incident_id=incident_id,
                    actor=actor,
                    minutes=data["minutes"],
                    work_type=data["work_type"],
                    note=data["note"],
                    created_at=now,
                )
            )
            tid = inserted_id(result)
            data["time_entry_id"] = tid
            entry = TimeEntry(
                f"{key}-t{tid}",
                data["minutes"],
                data["note"],
                data["work_type"],
                actor,
                timeutil.to_datetime(now).date(),
            )
        conn.execute(
            incident_events.insert().values(
                incident_id=incident_id, ts=now, actor=actor, type=change.event, data=data
            )
        )
        for event in added:  # from the pipeline decision (e.g. out_of_scope), after the opening
            conn.execute(
                incident_events.insert().values(
                    incident_id=incident_id,
                    ts=now,
                    actor=SYSTEM_ACTOR,
                    type=event.type,
                    data=dict(event.data),
                )
            )
        client_id = row.client_id if row is not None else values["client_id"]
        self._notify(
            conn, IncidentChanged(incident_id, key, client_id, change.event, data, actor, now)
        )
        if change.action is not None:
            current = conn.execute(
                sa.select(incidents, clients.c.name.label("client"))
                .join(clients, clients.c.id == incidents.c.client_id)
                .where(incidents.c.id == incident_id)
            ).one()
            subject = subject_of_row(current, comment=comment, time_entry=entry)
            enqueue(
                conn,
                incident_id,
                subject,
                change.action,
                self.connectors.for_client(current.client),
                now,
            )
        return key

    def _notify(self, conn: Connection, changed: IncidentChanged) -> None:
        for listener in self.listeners:
            try:
                with conn.begin_nested():
                    listener(conn, changed)
            except Exception:
                log.exception(
                    "incident listener %s failed on %s %s",
                    getattr(listener, "__qualname__", listener),
                    changed.key,
                    changed.event,
                )

    def _next_number(self, conn: Connection, client_id: int) -> int:
        # Race-free on PostgreSQL: the first incident of a client on two replicas at once both
        # insert the counter; ON CONFLICT DO NOTHING lets the second wait for the first and go
        # on, and the UPDATE's row lock hands out distinct numbers (SQLite serializes writers).
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            incident_counters
        )
        conn.execute(
            insert.values(client_id=client_id, last_number=0).on_conflict_do_nothing(
                index_elements=[incident_counters.c.client_id]
            )
        )
        return conn.execute(
            incident_counters.update()
            .where(incident_counters.c.client_id == client_id)
            .values(last_number=incident_counters.c.last_number + 1)
            .returning(incident_counters.c.last_number)
        ).scalar_one()

    # ------------------------------------------------------------------ reads

    def row(self, conn: Connection, incident_id: int) -> Any | None:
        """The incident's row with its client's name (``client``), or None (listeners' read)."""
        return conn.execute(
            sa.select(incidents, clients.c.name.label("client"))
            .join(clients, clients.c.id == incidents.c.client_id)
            .where(incidents.c.id == incident_id)
        ).first()

    def _get(self, conn: Connection, key: str, *, lock: bool = False) -> Any:
        query = sa.select(incidents).where(incidents.c.key == key)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"no incident {key!r}")
        return row

    def list(
        self,
        *,
        client: str | None = None,
        state: str | None = None,
        priority: str | None = None,
        origin: str | None = None,
        since: float | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        query = (
            sa.select(incidents, clients.c.name.label("client"))
            .join(clients, clients.c.id == incidents.c.client_id)
            .order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
            .limit(limit)
        )
        if client is not None:
            query = query.where(clients.c.name == client)
        if state is not None:
            query = query.where(incidents.c.state == state)
        if priority is not None:
            query = query.where(incidents.c.priority == priority)
        if origin is not None:
            query = query.where(incidents.c.origin == origin)
        if since is not None:
            query = query.where(incidents.c.updated_at >= since)
        with self.store.read() as conn:
            return [summary_of(r) for r in conn.execute(query).all()]

    def get(self, key: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(incidents, clients.c.name.label("client"))
                .join(clients, clients.c.id == incidents.c.client_id)
                .where(incidents.c.key == key)
            ).first()
            if row is None:
                raise NotFound(f"no incident {key!r}")
            events = conn.execute(
                sa.select(incident_events)
                .where(incident_events.c.incident_id == row.id)
                .order_by(incident_events.c.id)
            ).all()
            refs = conn.execute(
                sa.select(tickets)
                .where(tickets.c.incident_id == row.id)
                .order_by(tickets.c.connector)
            ).all()
            rows = conn.execute(
                sa.select(outbox).where(outbox.c.incident_id == row.id).order_by(outbox.c.id)
            ).all()
            comments = conn.execute(
                sa.select(incident_comments)
                .where(incident_comments.c.incident_id == row.id)
                .order_by(incident_comments.c.id)
            ).all()
            entries = conn.execute(
                sa.select(time_entries)
                .where(time_entries.c.incident_id == row.id)
                .order_by(time_entries.c.id)
            ).all()
            from collector.sla import service as sla_reads  # SLA reads build on incidents, not back

            sla = sla_reads.sla_section(conn, row.id, timeutil.now())
            # The timeline: the incident's own events (in their order) with the SLA notices
            # the SLA domain keeps, each after the events up to its moment.
            timeline = merge_timeline(
                [
                    {"id": e.id, "ts": e.ts, "actor": e.actor, "type": e.type, "data": e.data}
                    for e in events
                ],
                sla_reads.timeline(conn, row.id),
            )
        detail = summary_of(row)
        detail.update(
            fingerprint=row.fingerprint,
            site=row.site,
            severity=row.severity,
            kind=row.kind,
            title=row.title,
            description=row.description,
            labels=dict(row.labels or {}),
            first_value=row.first_value,
            last_value=row.last_value,
            count=row.count,
            flapping=row.flapping,
            assignee=row.assignee,
            cause=row.cause,
            resolution_note=row.resolution_note,
            version=row.version,
            acknowledged_at=timeutil.to_datetime(row.acknowledged_at),
            closed_at=timeutil.to_datetime(row.closed_at),
            events=[{**e, "ts": timeutil.to_datetime(e["ts"])} for e in timeline],
            tickets=[
                {
                    "connector": t.connector,
                    "external_id": t.external_id,
                    "url": t.url,
                    "closed_remotely_at": timeutil.to_datetime(t.closed_remotely_at),
                }
                for t in refs
            ],
            outbox=[
                {
                    "id": o.id,
                    "connector": o.connector,
                    "action": o.action,
                    "version": o.version,
                    "state": o.state,
                    "attempts": o.attempts,
                    "last_error": o.last_error,
                    "next_attempt_at": timeutil.to_datetime(o.next_attempt_at),
                    "created_at": timeutil.to_datetime(o.created_at),
                    "delivered_at": timeutil.to_datetime(o.delivered_at),
                }
                for o in rows
            ],
            comments=[
                {
                    "id": c.id,
                    "actor": c.actor,
                    "body": c.body,
                    "created_at": timeutil.to_datetime(c.created_at),
                }
                for c in comments
            ],
            time_entries=[
                {
                    "id": t.id,
                    "actor": t.actor,
                    "minutes": t.minutes,
                    "work_type": t.work_type,
                    "note": t.note,
                    "created_at": timeutil.to_datetime(t.created_at),
                }
                for t in entries
            ],
            sla=sla,
        )
        return detail


def _active_fingerprint_conflict(exc: sa.exc.IntegrityError) -> bool:
    """Whether ``exc`` is the one-active-incident-per-fingerprint index refusing a second one."""
    text = str(exc.orig)
    return ACTIVE_FINGERPRINT_INDEX in text or "incidents.fingerprint" in text


@overload
def _facts(row: None) -> None: ...
@overload
def _facts(row: Any) -> IncidentFacts: ...
def _facts(row: Any | None) -> IncidentFacts | None:
    if row is None:
        return None
    return IncidentFacts(
        key=row.key,
        state=row.state,
        priority=row.priority,
        severity=row.severity,
        count=row.count,
        flapping=row.flapping,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
    )


def summary_of(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        "client": row.client,
        "asset": row.asset,
        "rule": row.rule,
        "title": row.title,
        "state": row.state,
        "priority": row.priority,
        "origin": row.origin,
        "opened_at": timeutil.to_datetime(row.opened_at),
        "resolved_at": timeutil.to_datetime(row.resolved_at),
        "updated_at": timeutil.to_datetime(row.updated_at),
    }


_SUBJECT_STATE = {"waiting_for_client": "acknowledged", "waiting_for_third_party": "acknowledged"}


def merge_timeline(
    events: list[dict[str, Any]], notes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``events`` in their order, each of ``notes`` (by time) placed after the events up to its
    moment: an event and the notice it caused (same time) read in that order."""
    merged: list[dict[str, Any]] = []
    pending = list(notes)
    for event in events:
        while pending and pending[0]["ts"] < event["ts"]:
            merged.append(pending.pop(0))
        merged.append(event)
    return merged + pending


def subject_of_row(
    row: Any, *, comment: Comment | None = None, time_entry: TimeEntry | None = None
) -> TicketSubject:
    """The connectors' snapshot of an incident row (joined with its client's name)."""
    return TicketSubject(
        key=row.key,
        client=row.client,
        title=row.title,
        priority=row.priority,
        state=_SUBJECT_STATE.get(row.state, row.state),
        origin=row.origin,
        opened_at=timeutil.to_datetime(row.opened_at),
        site=row.site,
        asset=row.asset,
        rule=row.rule,
        description=row.description,
        resolved_at=timeutil.to_datetime(row.resolved_at),
        labels=dict(row.labels or {}),
        resolution_note=row.resolution_note,
        comment=comment,
        time_entry=time_entry,
        version=row.version,
        severity=row.severity,
    )


__all__ = [
    "Action",
    "Applied",
    "IncidentChanged",
    "IncidentListener",
    "IncidentService",
    "incident_key",
    "signal_of",
    "subject_of_row",
]
