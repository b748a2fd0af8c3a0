"""Service requests: work the client asks for, estimated in points and approved before it starts.

States::

    standard:      new ──start/log-time──► in_progress ──complete──► done        (free)
                   (approval=True: awaiting_approval ──approve──► approved ──► … done, free)
    non-standard:  awaiting_approval ──approve──► approved ──start/log-time──► in_progress
                        │                         ──complete──► done (charged)
                        └──reject──► rejected

A non-standard request gets an estimate (``estimate_minutes`` × the work type's rate, priced
like actual time) and an approval mail to the contacts receiving ``approvals`` with signed
approve/reject links (:mod:`collector.ledger.links`); the client can also decide through
the API or the portal, and a technician records a phone approval (``via="phone"``). Time
cannot be logged before approval. On completion the charge is the actual time × rate,
capped at the approved amount (the estimate, or a higher cap the client approved).

A *held charge* is a request too: with ``at_zero: require_approval``, a billable incident
charge that would take the balance below zero is not written; a request titled after the
incident asks the client to approve it, and the approval writes the charge.

Every change appends a ``request_events`` row; the request row holds the current state.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import notify, timeutil
from collector.contracts.model import format_points
from collector.errors import InvalidArgument, NotFound
from collector.ledger import charges, entries
from collector.ledger.charges import WorkItem
from collector.notices import Voice, render
from collector.notices.model import ApprovalRequestNotice
from collector.schema import (
    clients,
    ledger_entries,
    request_counters,
    request_events,
    service_requests,
    time_entries,
)
from collector.store import inserted_id

log = logging.getLogger(__name__)

STATES = ("new", "awaiting_approval", "approved", "rejected", "in_progress", "done", "cancelled")
VIA = ("api", "email", "phone", "portal")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: Where time may be logged (and work started).
_WORKABLE = ("new", "approved", "in_progress")


def request_key(client: str, number: int) -> str:
    return f"REQ-{_KEY_UNSAFE.sub('-', client).strip('-') or 'client'}-{number}"


def _event(
    conn: Connection, request_id: int, type_: str, actor: str, now: float, **data: Any
) -> None:
    conn.execute(
        request_events.insert().values(
            request_id=request_id, ts=now, actor=actor, type=type_, data=data
        )
    )


def _next_number(conn: Connection, client_id: int) -> int:
    if conn.execute(
        request_counters.update()
        .where(request_counters.c.client_id == client_id)
        .values(last_number=request_counters.c.last_number + 1)
    ).rowcount:
        return conn.execute(
            sa.select(request_counters.c.last_number).where(
                request_counters.c.client_id == client_id
            )
        ).scalar_one()
    conn.execute(request_counters.insert().values(client_id=client_id, last_number=1))
    return 1


def _row(conn: Connection, key: str, *, lock: bool = False) -> Any:
    query = (
        sa.select(service_requests, clients.c.name.label("client"))
        .join(clients, clients.c.id == service_requests.c.client_id)
        .where(service_requests.c.key == key)
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update(of=service_requests)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no service request {key!r}")
    return row


def _set(conn: Connection, row: Any, now: float, **values: Any) -> None:
    conn.execute(
        service_requests.update()
        .where(service_requests.c.id == row.id)
        .values(**values, updated_at=now)
    )


def _text(name: str, value: str | None, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidArgument(f"{name}: must not be empty")
    if len(value) > limit or "\x00" in value:
        raise InvalidArgument(f"{name}: at most {limit} characters, no NUL")
    return value


# ---------------------------------------------------------------------- creating


def create(
    conn: Connection,
    *,
    client_id: int,
    title: str,
    description: str = "",
    requested_by: str,
    standard: bool,
    work_type: str | None = None,
    estimate_minutes: int | None = None,
    now: float,
    actor: str,
    links: Any | None = None,
    approval: bool = False,
) -> str:
    """A new request; returns its key (``REQ-<client>-<n>``). ``approval``: a standard
    request that still waits for the client's approval (free: nothing is quoted or charged;
    a fix with policy client that the contract includes)."""
    title = _text("title", title, 500)
    description = _text("description", description, 20000, required=False)
    requested_by = _text("requested_by", requested_by, 200)
    client = conn.execute(sa.select(clients.c.name).where(clients.c.id == client_id)).scalar()
    if client is None:
        raise NotFound(f"no client with id {client_id}")
    estimate = None
    if not standard:
        if estimate_minutes is None or estimate_minutes <= 0:
            raise InvalidArgument(
                "estimate_minutes: a non-standard request needs an estimate (minutes > 0)"
            )
        found = entries.points_policy(conn, client_id)
        if found is None:
            raise InvalidArgument(
                f"client {client!r} has no points in its contract; "
                "a non-standard request cannot be estimated"
            )
        estimate = charges.estimate(estimate_minutes, work_type, found[1])
    number = _next_number(conn, client_id)
    key = request_key(client, number)
    ask = approval or not standard
    state = "awaiting_approval" if ask else "new"
    result = conn.execute(
        service_requests.insert().values(
            key=key,
            client_id=client_id,
            number=number,
            title=title,
            description=description,
            requested_by=requested_by,
            standard=standard,
            work_type=work_type,
            state=state,
            estimate_minutes=estimate_minutes,
            estimate_centipoints=estimate,
            created_at=now,
            updated_at=now,
        )
    )
    request_id = inserted_id(result)
    _event(
        conn,
        request_id,
        "created",
        actor,
        now,
        standard=standard,
        requested_by=requested_by,
        work_type=work_type,
        estimate_minutes=estimate_minutes,
        estimate_centipoints=estimate,
    )
    if ask:
        _ask_for_approval(conn, _row(conn, key), now, links)
    return key


def _ask_for_approval(
    conn: Connection,
    row: Any,
    now: float,
    links: Any | None,
    held: tuple[str, str] | None = None,
) -> int | None:
    """Mail the approval request (``held``: the incident key and basis of a charge held at
    zero balance, which the mail explains instead of "X asked us for")."""
    from collector.contracts.store import get_contract

    contract = get_contract(conn, row.client_id)
    recipients = contract.contacts_for("approvals") if contract is not None else []
    if not recipients:
        _event(
            conn,
            row.id,
            "approval_not_sent",
            entries.SYSTEM_ACTOR,
            now,
            reason="no contact receives approvals; record the decision by phone or the API",
        )
        return None
    approve_url = reject_url = None
    if links is not None:
        try:
            approve_url = links.url(row.key, "approve", now)
            reject_url = links.url(row.key, "reject", now)
        except Exception:  # no secret (unwritable data_dir): still ask, by reply or phone
            log.exception(
                "approval links for %s could not be made; the mail goes without them", row.key
            )
            approve_url = reject_url = None
    assert contract is not None, "recipients come from a contract"
    mail = render(
        ApprovalRequestNotice(
            client=row.client,
            request=row.key,
            title=row.title,
            requested_by=row.requested_by,
            description=row.description or "",
            estimate_minutes=row.estimate_minutes,
            work_type=row.work_type,
            estimate_centipoints=row.estimate_centipoints or 0,
            approve_url=approve_url,
            reject_url=reject_url,
            held_incident=held[0] if held else None,
            held_basis=held[1] if held else None,
            included=bool(row.standard),
        ),
        Voice.of(contract),
    )
    queued = notify.queue(
        conn,
        kind="approval_request",
        recipients=recipients,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        now=now,
        client_id=row.client_id,
        data={"request": row.key},
        dedupe_key=f"approval:{row.key}",
    )
    _event(
        conn,
        row.id,
        "approval_requested",
        entries.SYSTEM_ACTOR,
        now,
        recipients=recipients,
        notification_id=queued,
    )
    return queued


def hold_charge(
    conn: Connection,
    incident: Any,
    amount: int,
    why: str,
    *,
    now: float,
    actor: str,
    links: Any | None,
    data: dict[str, Any],
) -> str | None:
    """Hold an incident charge that would overdraw the balance: a request to approve it.
    Returns the new request's key (None: this very charge is already held or was decided)."""
    held = conn.execute(
        sa.select(request_events.c.data)
        .join(service_requests, service_requests.c.id == request_events.c.request_id)
        .where(
            service_requests.c.client_id == incident.client_id, request_events.c.type == "created"
        )
    ).all()
    for (event_data,) in held:
        hold = event_data.get("held_charge") or {}
        if hold.get("incident_id") == incident.id and hold.get("cost") == data.get("cost"):
            return None
    client = conn.execute(
        sa.select(clients.c.name).where(clients.c.id == incident.client_id)
    ).scalar_one()
    number = _next_number(conn, incident.client_id)
    key = request_key(client, number)
    title = f"Charge for {incident.key}: {incident.title}"
    description = (
        f"Charging {format_points(amount)} points for {incident.key} ({why}) would take the "
        "points balance below zero; it is charged once you approve it."
    )
    result = conn.execute(
        service_requests.insert().values(
            key=key,
            client_id=incident.client_id,
            number=number,
            title=title[:500],
            description=description,
            requested_by=actor,
            standard=False,
            work_type=None,
            state="awaiting_approval",
            estimate_minutes=None,
            estimate_centipoints=amount,
            created_at=now,
            updated_at=now,
        )
    )
    request_id = inserted_id(result)
    _event(
        conn,
        request_id,
        "created",
        actor,
        now,
        standard=False,
        requested_by=actor,
        estimate_centipoints=amount,
        held_charge={
            "incident_id": incident.id,
            "incident_key": incident.key,
            "centipoints": amount,
            "cost": data.get("cost"),
            "basis": why,
            "data": data,
        },
    )
    _ask_for_approval(conn, _row(conn, key), now, links, held=(incident.key, why))
    return key


def _held(conn: Connection, request_id: int) -> dict[str, Any] | None:
    created = conn.execute(
        sa.select(request_events.c.data).where(
            request_events.c.request_id == request_id, request_events.c.type == "created"
        )
    ).scalar()
    return (created or {}).get("held_charge")


# ---------------------------------------------------------------------- deciding


def approve(
    conn: Connection,
    key: str,
    *,
    actor: str,
    via: str,
    now: float,
    cap: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The client approves (``cap``: approve more than the estimate, in centipoints).
    Approving again while approved or in progress raises the cap."""
    if via not in VIA:
        raise InvalidArgument(f"via must be one of {', '.join(VIA)}")
    actor = _text("by", actor, 200)
    row = _row(conn, key, lock=True)
    if cap is not None and cap < 0:
        raise InvalidArgument("cap: must not be negative")
    if row.state == "awaiting_approval":
        approved = row.estimate_centipoints if cap is None else cap
    elif row.state in ("approved", "in_progress") and cap is not None:
        if cap < (row.approved_centipoints or 0):
            raise InvalidArgument(
                f"cap: {key} is approved up to {format_points(row.approved_centipoints or 0)}; "
                "a new approval can only raise it"
            )
        approved = cap
    else:
        raise InvalidArgument(
            f"{key} is {row.state}; only a request awaiting approval can be approved"
            " (or an approved one given a higher cap)"
        )
    _set(
        conn,
        row,
        now,
        state="approved" if row.state == "awaiting_approval" else row.state,
        approved_centipoints=approved,
        decided_by=actor,
        decided_via=via,
        decided_at=now,
        decision_note=note,
    )
    _event(
        conn,
        row.id,
        "approved",
        actor,
        now,
        via=via,
        approved_centipoints=approved,
        note=note,
        previous_centipoints=row.approved_centipoints,
    )
    hold = _held(conn, row.id)
    if hold is not None and row.state == "awaiting_approval":
        _charge_held(conn, _row(conn, key), hold, actor, now)
    return get(conn, key)


def _charge_held(conn: Connection, row: Any, hold: dict[str, Any], actor: str, now: float) -> None:
    amount = min(int(hold["centipoints"]), int(row.approved_centipoints or 0))
    count = conn.execute(
        sa.select(sa.func.count()).where(
            ledger_entries.c.incident_id == hold["incident_id"], ledger_entries.c.kind == "charge"
        )
    ).scalar_one()
    if amount:
        entries.post(
            conn,
            row.client_id,
            kind="charge",
            centipoints=-amount,
            now=now,
            actor=actor,
            reason=f"{hold['incident_key']}: {hold['basis']} (approved in {row.key})",
            incident_id=hold["incident_id"],
            request_id=row.id,
            data=hold.get("data") or {},
            dedupe_key=f"charge:incident:{hold['incident_id']}:{int(count) + 1}",
        )
    _set(conn, row, now, state="done", completed_at=now)
    _event(conn, row.id, "completed", actor, now, charged_centipoints=amount)


def reject(
    conn: Connection, key: str, *, actor: str, via: str, now: float, note: str | None = None
) -> dict[str, Any]:
    if via not in VIA:
        raise InvalidArgument(f"via must be one of {', '.join(VIA)}")
    actor = _text("by", actor, 200)
    row = _row(conn, key, lock=True)
    if row.state != "awaiting_approval":
        raise InvalidArgument(
            f"{key} is {row.state}; only a request awaiting approval can be rejected"
        )
    _set(
        conn,
        row,
        now,
        state="rejected",
        decided_by=actor,
        decided_via=via,
        decided_at=now,
        decision_note=note,
    )
    _event(conn, row.id, "rejected", actor, now, via=via, note=note)
    return get(conn, key)


# ---------------------------------------------------------------------- working


def _refuse_unless_workable(row: Any, what: str) -> None:
    if row.state == "awaiting_approval":
        raise InvalidArgument(
            f"{row.key} is awaiting the client's approval; {what} only after approval"
        )
    if row.state not in _WORKABLE:
        raise InvalidArgument(f"{row.key} is {row.state}; {what} is not possible")


def start(conn: Connection, key: str, *, actor: str, now: float) -> dict[str, Any]:
    row = _row(conn, key, lock=True)
    _refuse_unless_workable(row, "work starts")
    if row.state != "in_progress":
        _set(conn, row, now, state="in_progress", started_at=now)
        _event(conn, row.id, "started", actor, now)
    return get(conn, key)


def log_time(
    conn: Connection,
    key: str,
    *,
    actor: str,
    minutes: int,
    now: float,
    work_type: str | None = None,
    note: str = "",
) -> int:
    """A time entry on the request (starts it); returns the time entry id."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        raise InvalidArgument("minutes: a positive whole number")
    actor = _text("by", actor, 100)
    row = _row(conn, key, lock=True)
    _refuse_unless_workable(row, "time can be logged")
    if row.state != "in_progress":
        _set(conn, row, now, state="in_progress", started_at=now)
        _event(conn, row.id, "started", actor, now)
    work_type = work_type or row.work_type
    result = conn.execute(
        time_entries.insert().values(
            request_id=row.id,
            actor=actor,
            minutes=minutes,
            work_type=work_type,
            note=note or "",
            spent_at=now,
            created_at=now,
        )
    )
    entry = inserted_id(result)
    _event(
        conn,
        row.id,
        "time_logged",
        actor,
        now,
        time_entry_id=entry,
        minutes=minutes,
        work_type=work_type,
        note=note or "",
    )
    return entry


def request_work(conn: Connection, request_id: int) -> list[WorkItem]:
    rows = conn.execute(
        sa.select(time_entries)
        .where(time_entries.c.request_id == request_id)
        .order_by(time_entries.c.id)
    ).all()
    return [WorkItem(r.minutes, r.work_type, r.id, r.actor, r.note) for r in rows]


def complete(conn: Connection, key: str, *, actor: str, now: float) -> dict[str, Any]:
    """Done: a non-standard request is charged its actual time, capped at the approval."""
    row = _row(conn, key, lock=True)
    _refuse_unless_workable(row, "completing")
    charged = 0
    if not row.standard:
        found = entries.points_policy(conn, row.client_id)
        if found is None:
            raise InvalidArgument(f"{key}: the client's contract has no points any more")
        priced = charges.price(request_work(conn, row.id), found[1])
        charged = priced.capped(row.approved_centipoints)
        if charged:
            capped = charged < priced.total
            reason = f"{row.key}: {row.title}"
            if capped:
                reason += (
                    f" ({format_points(priced.total)} of work, capped at the approved "
                    f"{format_points(row.approved_centipoints or 0)})"
                )
            entries.post(
                conn,
                row.client_id,
                kind="charge",
                centipoints=-charged,
                now=now,
                actor=actor,
                reason=reason,
                request_id=row.id,
                data={
                    "basis": "service request",
                    "cost": priced.total,
                    "cap": row.approved_centipoints,
                    "capped": capped,
                    "time_entries": [line.as_json() for line in priced.lines],
                },
                dedupe_key=f"charge:request:{row.id}",
            )
    _set(conn, row, now, state="done", completed_at=now)
    _event(conn, row.id, "completed", actor, now, charged_centipoints=charged)
    return get(conn, key)


# ---------------------------------------------------------------------- reads


def summary(row: Any) -> dict[str, Any]:
    dt = timeutil.to_datetime
    return {
        "key": row.key,
        "client": row.client,
        "title": row.title,
        "state": row.state,
        "standard": row.standard,
        "work_type": row.work_type,
        "requested_by": row.requested_by,
        "estimate_minutes": row.estimate_minutes,
        "estimate_centipoints": row.estimate_centipoints,
        "approved_centipoints": row.approved_centipoints,
        "created_at": dt(row.created_at),
        "updated_at": dt(row.updated_at),
    }


def get(conn: Connection, key: str) -> dict[str, Any]:
    row = _row(conn, key)
    dt = timeutil.to_datetime
    events = conn.execute(
        sa.select(request_events)
        .where(request_events.c.request_id == row.id)
        .order_by(request_events.c.id)
    ).all()
    entries = conn.execute(
        sa.select(time_entries)
        .where(time_entries.c.request_id == row.id)
        .order_by(time_entries.c.id)
    ).all()
    charged = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0)).where(
            ledger_entries.c.request_id == row.id
        )
    ).scalar_one()
    detail = summary(row)
    detail.update(
        description=row.description,
        decided_by=row.decided_by,
        decided_via=row.decided_via,
        decided_at=dt(row.decided_at),
        decision_note=row.decision_note,
        started_at=dt(row.started_at),
        completed_at=dt(row.completed_at),
        charged_centipoints=-int(charged),
        events=[
            {"id": e.id, "ts": dt(e.ts), "actor": e.actor, "type": e.type, "data": e.data}
            for e in events
        ],
        time_entries=[
            {
                "id": t.id,
                "actor": t.actor,
                "minutes": t.minutes,
                "work_type": t.work_type,
                "note": t.note,
                "spent_at": dt(t.spent_at),
            }
            for t in entries
        ],
    )
    return detail


def list_requests(
    conn: Connection, *, client_id: int | None = None, state: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    query = (
        sa.select(service_requests, clients.c.name.label("client"))
        .join(clients, clients.c.id == service_requests.c.client_id)
        .order_by(service_requests.c.created_at.desc(), service_requests.c.id.desc())
        .limit(limit)
    )
    if client_id is not None:
        query = query.where(service_requests.c.client_id == client_id)
    if state is not None:
        if state not in STATES:
            raise InvalidArgument(f"state must be one of {', '.join(STATES)}")
        query = query.where(service_requests.c.state == state)
    return [summary(r) for r in conn.execute(query).all()]
