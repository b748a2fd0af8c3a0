"""SLA clocks in the store: ``incident_sla`` (the clocks as of the last look) and
``sla_pauses`` (the pause history), kept up to date by an incident listener and a sweep (the ``sla-sweep`` job, :mod:`collector.background`).

:meth:`SlaClocks.on_incident` runs after every incident event, inside its transaction:
it records pauses (a stay in a waiting state; the time between a resolution and a reopen)
for every incident, and — when the client's contract has targets for the incident's
priority — recomputes the clocks from detection (:func:`collector.sla.clock.compute`).
:meth:`SlaClocks.sweep` recomputes the clocks that still run (or are paused) every
``sla_sweep_interval``. Whenever a clock is looked at, the warnings and breaches that are
due and not yet sent go out once each per target (``incident_sla.notified``): a row in
``sla_notices`` (the SLA domain's record; the incident timeline shows it through
:func:`timeline`), a comment to the client's ticket connectors through the outbox
(``IncidentService.mirror_note``), and a notification to the contract's contacts who
receive ``sla``.

The listener and the sweep only *read* the incident (its row and events) and write the SLA
domain's tables (``incident_sla``, ``sla_pauses``, ``sla_notices``) plus the delivery queues:
never the incident's row or its event log, so the incident is written once, complete, by
``collector.incidents.service`` and the listeners' order does not matter
(tests/collector/incidents/test_listeners_read_only.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import notify, timeutil
from collector.contracts.model import Contract
from collector.contracts.store import get_contract
from collector.incidents.lifecycle import WAITING
from collector.notices import Voice, default_locale, render
from collector.notices.model import SlaNotice
from collector.schema import incident_events, incident_sla, incidents, sla_notices, sla_pauses
from collector.sla.calendar import BusinessCalendar
from collector.sla.clock import Pause, SlaStatus, TargetStatus, compute, notices_due

if TYPE_CHECKING:
    from collector.incidents.service import IncidentChanged, IncidentService
    from collector.store import Store

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "upkeep"
RESOLVED_GAP = "resolved"  # the pause reason for the time between a resolution and a reopen
_EVENT = {"warning": "sla_warning", "breach": "sla_breached"}


# ---------------------------------------------------------------------- reads of the facts


def pauses_of(conn: Connection, incident_id: int) -> Sequence[Any]:
    return conn.execute(
        sa.select(sla_pauses)
        .where(sla_pauses.c.incident_id == incident_id)
        .order_by(sla_pauses.c.started_at, sla_pauses.c.id)
    ).all()


def _stops(conn: Connection, incident_id: int) -> list[tuple[str, float]]:
    return [
        (r.type, r.ts)
        for r in conn.execute(
            sa.select(incident_events.c.type, incident_events.c.ts)
            .where(
                incident_events.c.incident_id == incident_id,
                incident_events.c.type.in_(("resolved", "closed", "reopened")),
            )
            .order_by(incident_events.c.id)
        )
    ]


def responded_at(conn: Connection, row: Any) -> float | None:
    """The first acknowledgement, else the first resolution (a fix is a response too)."""
    if row.acknowledged_at is not None:
        return row.acknowledged_at
    return next((ts for kind, ts in _stops(conn, row.id) if kind != "reopened"), None)


def _last_resolved_gap(conn: Connection, incident_id: int) -> tuple[float, float] | None:
    since = gap = None
    for kind, ts in _stops(conn, incident_id):
        if kind == "reopened":
            if since is not None:
                gap = (since, ts)
            since = None
        elif since is None:
            since = ts
    return gap


def status_of(
    conn: Connection,
    row: Any,
    contract: Contract | None,
    now: float,
    calendar: BusinessCalendar | None = None,
) -> SlaStatus | None:
    """The incident's SLA status at ``now``; None when its contract has no target for its priority."""
    if contract is None:
        return None
    targets = contract.sla.for_priority(row.priority)
    if targets is None or (targets.response is None and targets.resolution is None):
        return None
    pauses = [Pause(p.started_at, p.ended_at, p.reason) for p in pauses_of(conn, row.id)]
    resolved = row.resolved_at if row.state in ("resolved", "closed") else None
    return compute(
        priority=row.priority,
        targets=targets,
        calendar=calendar or contract.calendar,
        opened_at=row.opened_at,
        responded_at=responded_at(conn, row),
        resolved_at=resolved,
        pauses=pauses,
        now=now,
    )


# ---------------------------------------------------------------------- presentation


def _dt(ts: float | None) -> datetime | None:
    return timeutil.to_datetime(ts)


def target_view(t: TargetStatus | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "within_seconds": t.within,
        "clock": t.clock,
        "due_at": _dt(t.due_at),
        "warn_at": _dt(t.warn_due_at),
        "stopped_at": _dt(t.stopped_at),
        "elapsed_seconds": round(t.elapsed, 3),
        "percent": round(t.percent, 1),
        "breached": t.breached,
        "state": t.state,
    }


def sla_section(conn: Connection, incident_id: int, now: float) -> dict[str, Any] | None:
    """The ``sla`` part of an incident's detail, computed at ``now`` (None: no SLA applies)."""
    row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        return None
    status = status_of(conn, row, get_contract(conn, row.client_id), now)
    if status is None:
        return None
    stored = conn.execute(
        sa.select(incident_sla.c.notified).where(incident_sla.c.incident_id == incident_id)
    ).scalar()
    return {
        "priority": status.priority,
        "state": status.state,
        "paused_seconds": round(status.paused_seconds, 3),
        "response": target_view(status.response),
        "resolution": target_view(status.resolution),
        "pauses": [
            {
                "reason": p.reason,
                "started_at": _dt(p.started_at),
                "ended_at": _dt(p.ended_at),
                "seconds": round((p.ended_at if p.ended_at is not None else now) - p.started_at, 3),
                "actor": p.actor,
            }
            for p in pauses_of(conn, incident_id)
        ],
        "notified": sorted(stored or []),
    }


def sla_notice(key: str, t: TargetStatus, kind: str, priority: str, client: str = "") -> SlaNotice:
    """The typed notice of an SLA warning or breach (words: :mod:`collector.notices`)."""
    return SlaNotice(
        client=client,
        incident=key,
        priority=priority,
        target=t.target,
        kind=kind,  # type: ignore[arg-type]
        within_seconds=t.within,
        clock=t.clock,
        due_at=t.due_at,
        elapsed_seconds=t.elapsed,
        percent=t.percent,
    )


def timeline(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The SLA notices sent for an incident, as entries of its timeline (the incident detail
    merges them with its own events by time): ``type`` ``sla_warning`` / ``sla_breached``."""
    rows = conn.execute(
        sa.select(sla_notices)
        .where(sla_notices.c.incident_id == incident_id)
        .order_by(sla_notices.c.ts, sla_notices.c.id)
    ).all()
    return [
        {
            "id": None,
            "ts": r.ts,
            "actor": r.actor,
            "type": _EVENT[r.kind],
            "data": dict(r.data),
            "source": "sla",
        }
        for r in rows
    ]


def notices(conn: Connection, *, incident_id: int | None = None) -> list[dict[str, Any]]:
    """The SLA notices sent (oldest first), each ``{incident_id, target, kind, ts, data}``."""
    query = sa.select(sla_notices).order_by(sla_notices.c.id)
    if incident_id is not None:
        query = query.where(sla_notices.c.incident_id == incident_id)
    return [
        {
            "incident_id": r.incident_id,
            "target": r.target,
            "kind": r.kind,
            "ts": r.ts,
            "data": r.data,
        }
        for r in conn.execute(query).all()
    ]


def notice_text(
    key: str,
    t: TargetStatus,
    kind: str,
    priority: str,
    tz: str,
    language: str = "en",
    locale: str | None = None,
) -> tuple[str, str]:
    """(subject, body) of an SLA warning or breach notice, in ``language`` (en, ru).

    Ticket comments are written in English (for the technicians); the client's contacts
    get their contract's language and locale.
    """
    voice = Voice(language, tz, locale or default_locale(language, None, tz))
    rendered = render(sla_notice(key, t, kind, priority), voice)
    return rendered.subject, rendered.text.strip()


# ---------------------------------------------------------------------- the clocks


class SlaClocks:
    """The SLA listener and sweep over one incident service (which routes the notices)."""

    def __init__(self, incidents: IncidentService | None = None) -> None:
        self.incidents = incidents

    # ------------------------------------------------------------------ listener

    def on_incident(self, conn: Connection, changed: IncidentChanged) -> None:
        """Incident listener: pauses, then the clocks (inside the incident's transaction)."""
        if changed.event in _EVENT.values():
            return  # our own notices
        row = conn.execute(sa.select(incidents).where(incidents.c.id == changed.incident_id)).one()
        self._track_pauses(conn, row, changed)
        self.refresh(conn, row, changed.ts)

    def _track_pauses(self, conn: Connection, row: Any, changed: IncidentChanged) -> None:
        current = conn.execute(
            sa.select(sla_pauses).where(
                sla_pauses.c.incident_id == row.id, sla_pauses.c.ended_at.is_(None)
            )
        ).first()
        if current is not None and current.reason != row.state:
            conn.execute(
                sla_pauses.update().where(sla_pauses.c.id == current.id).values(ended_at=changed.ts)
            )
        if row.state in WAITING and (current is None or current.reason != row.state):
            conn.execute(
                sla_pauses.insert().values(
                    incident_id=row.id,
                    reason=row.state,
                    started_at=changed.ts,
                    ended_at=None,
                    actor=changed.actor[:100],
                )
            )
        if changed.event == "reopened":
            gap = _last_resolved_gap(conn, row.id)
            if gap is not None and gap[1] > gap[0]:
                conn.execute(
                    sla_pauses.insert().values(
                        incident_id=row.id,
                        reason=RESOLVED_GAP,
                        started_at=gap[0],
                        ended_at=gap[1],
                        actor=changed.actor[:100],
                    )
                )

    # ------------------------------------------------------------------ recompute

    def refresh(self, conn: Connection, row: Any, now: float) -> SlaStatus | None:
        """Recompute the incident's clocks at ``now``, store them, send the notices due."""
        contract = get_contract(conn, row.client_id)
        status = status_of(conn, row, contract, now)
        query = sa.select(incident_sla).where(incident_sla.c.incident_id == row.id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one sweeper (or listener) per incident at a time
        existing = conn.execute(query).first()
        if status is None:
            if existing is not None:
                conn.execute(incident_sla.delete().where(incident_sla.c.incident_id == row.id))
            return None
        assert contract is not None, "status_of gives a status only under a contract"
        notified = set(existing.notified or []) if existing is not None else set()
        for target, kind in notices_due(status, notified):
            self._notice(conn, row, contract, status, target, kind, now)
            notified.add(f"{target}:{kind}")
        values = _row_values(row, status, now, sorted(notified))
        if existing is None:
            conn.execute(incident_sla.insert().values(incident_id=row.id, **values))
        else:
            conn.execute(
                incident_sla.update().where(incident_sla.c.incident_id == row.id).values(**values)
            )
        return status

    def _notice(
        self,
        conn: Connection,
        row: Any,
        contract: Contract,
        status: SlaStatus,
        target: str,
        kind: str,
        now: float,
    ) -> None:
        t = getattr(status, target)
        notice = sla_notice(row.key, t, kind, status.priority, contract.client)
        body = render(notice, Voice.of(contract, "en")).text.strip()
        data = {
            "target": target,
            "priority": status.priority,
            "within": t.within,
            "clock": t.clock,
            "due_at": t.due_at,
            "elapsed": round(t.elapsed, 3),
        }
        # The SLA domain's own record of the notice (at most one per target and kind); the
        # incident itself is not written (its timeline reads this table, :func:`timeline`).
        conn.execute(
            sla_notices.insert().values(
                incident_id=row.id,
                client_id=row.client_id,
                target=target,
                kind=kind,
                ts=now,
                actor=SYSTEM_ACTOR,
                data={**data, "body": body},
            )
        )
        if self.incidents is not None:  # the ticket systems hear of it as a comment
            self.incidents.mirror_note(
                conn, row.id, body=body, note_id=f"sla-{target}-{kind}", now=now
            )
        recipients = contract.contacts_for("sla")
        if recipients:
            mail = render(notice, Voice.of(contract))
            notify.queue(
                conn,
                kind=_EVENT[kind],
                recipients=recipients,
                subject=mail.subject,
                body_text=mail.text,
                body_html=mail.html,
                now=now,
                client_id=row.client_id,
                data={**data, "incident": row.key, "kind": kind},
                dedupe_key=f"sla:{row.key}:{target}:{kind}",
            )
        log.info("%s: %s %s", row.key, _EVENT[kind], target)

    # ------------------------------------------------------------------ sweep

    def sweep(self, store: Store, now: float | None = None) -> int:
        """Recompute every running or paused clock; returns how many needed a write.

        Each clock is first looked at in a read; only one whose notices are due or whose
        state, due times or breach flags changed is written (one transaction per incident,
        so one bad incident never holds up the others).
        """
        now = timeutil.now() if now is None else now
        calendars: dict[int, tuple[Contract | None, BusinessCalendar | None]] = {}
        with store.read() as conn:
            rows = conn.execute(
                sa.select(incident_sla, incidents.c.client_id.label("owner"))
                .join(incidents, incidents.c.id == incident_sla.c.incident_id)
                .where(incident_sla.c.state.in_(("running", "paused")))
                .order_by(incident_sla.c.incident_id)
            ).all()
        written = 0
        for stored in rows:
            try:
                if not self._changed(store, stored, now, calendars):
                    continue
                with store.write() as conn:
                    query = sa.select(incidents).where(incidents.c.id == stored.incident_id)
                    if not store.is_sqlite:
                        # Incident row first, then its clock: the order an incident change takes.
                        query = query.with_for_update()
                    row = conn.execute(query).first()
                    if row is not None:
                        self.refresh(conn, row, now)
                        written += 1
            except Exception:  # one bad incident never stops the others' clocks
                log.exception("SLA sweep failed on incident %s", stored.incident_id)
        return written

    def _changed(
        self,
        store: Store,
        stored: Any,
        now: float,
        calendars: dict[int, tuple[Contract | None, BusinessCalendar | None]],
    ) -> bool:
        with store.read() as conn:
            if stored.owner not in calendars:
                contract = get_contract(conn, stored.owner)
                calendars[stored.owner] = (
                    contract,
                    BusinessCalendar(contract.calendar) if contract else None,
                )
            contract, calendar = calendars[stored.owner]
            row = conn.execute(
                sa.select(incidents).where(incidents.c.id == stored.incident_id)
            ).first()
            if row is None:
                return False
            status = status_of(conn, row, contract, now, calendar)
        if status is None or notices_due(status, stored.notified or []):
            return True
        fresh = _row_values(row, status, now, sorted(stored.notified or []))
        watched: tuple[str, ...] = _WATCHED
        if status.state == stored.state == "paused":  # a paused clock's due time moves with now
            watched = tuple(k for k in _WATCHED if not k.endswith("_due_at"))
        return any(fresh[k] != getattr(stored, k) for k in watched)


#: Stored fields a sweep keeps current (elapsed times are brought up to date with these).
_WATCHED = (
    "priority",
    "state",
    "response_target",
    "response_due_at",
    "response_breached",
    "resolution_target",
    "resolution_due_at",
    "resolution_breached",
)


def _row_values(row: Any, status: SlaStatus, now: float, notified: list[str]) -> dict[str, Any]:
    r, s = status.response, status.resolution
    return {
        "client_id": row.client_id,
        "priority": status.priority,
        "state": status.state,
        "response_target": r.within if r else None,
        "response_due_at": r.due_at if r else None,
        "responded_at": r.stopped_at if r else None,
        "response_elapsed": r.elapsed if r else 0.0,
        "response_breached": bool(r and r.breached),
        "resolution_target": s.within if s else None,
        "resolution_due_at": s.due_at if s else None,
        "resolved_at": s.stopped_at if s else None,
        "resolution_elapsed": s.elapsed if s else 0.0,
        "resolution_breached": bool(s and s.breached),
        "paused_seconds": status.paused_seconds,
        "notified": notified,
        "updated_at": now,
    }
