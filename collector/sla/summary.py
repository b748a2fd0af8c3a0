"""The SLA read model: every SLA figure anyone shows comes from here (the API, the CLI, the
monthly report, the management views). Nobody else reads ``incident_sla``.

:func:`outcome` is the one judgement of a target: *met* (stopped in time), *breached* (the
breach flag, or a running clock already past its due time at ``now`` — the sweep would flag
it shortly), *pending* (running or paused, not yet due). :func:`target_outcomes` lists them
per incident and target, :func:`compliance` counts them per priority for one client,
:func:`compliance_by_client` for every client in a range; :func:`at_risk` lists the running
clocks due soon or overdue, :func:`incident_clock` is one incident's clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.contracts.model import PRIORITIES
from collector.schema import clients, incident_sla, incidents

TARGETS = ("response", "resolution")


def _epoch(value: float | datetime) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def outcome(row: Any, target: str, now: float) -> str | None:
    """met, breached, pending (still running, not yet due) or None (no such target)."""
    if getattr(row, f"{target}_target") is None:
        return None
    stopped = row.responded_at if target == "response" else row.resolved_at
    if getattr(row, f"{target}_breached"):
        return "breached"
    if stopped is not None:
        return "met"
    due = getattr(row, f"{target}_due_at")
    if row.state == "running" and due is not None and now > due:
        return "breached"  # past due since the last look: the sweep will say so shortly
    return "pending"


Outcome = Literal["met", "breached", "pending"]


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """One SLA target of one incident, judged at ``now`` (see :func:`outcome`)."""

    incident_id: int
    client_id: int
    client: str
    key: str
    title: str
    asset: str | None
    origin: str
    cause: str | None
    resolution_note: str | None
    incident_state: str
    opened_at: float
    priority: str
    target: str  # response | resolution
    within: float  # seconds allowed on the target's clock
    due_at: float | None
    done_at: float | None  # responded / resolved
    elapsed: float
    paused_seconds: float
    outcome: Outcome


def _elapsed(row: Any, target: str, result: str, now: float) -> float:
    """The target's elapsed time as of ``now``: the stored figure (business time, kept by the
    sweep), but for a clock still running past its due time at least the target plus the
    time since it came due — never "0 min over" for an overdue clock the sweep has not
    reached yet."""
    stored = float(getattr(row, f"{target}_elapsed") or 0.0)
    due = getattr(row, f"{target}_due_at")
    done = row.responded_at if target == "response" else row.resolved_at
    if result == "breached" and done is None and due is not None and now > due:
        return max(stored, float(getattr(row, f"{target}_target")) + (now - float(due)))
    return stored


def target_outcomes(
    conn: Connection,
    start: float | datetime,
    end: float | datetime,
    now: float,
    client_id: int | None = None,
) -> list[TargetOutcome]:
    """Every SLA target of the incidents detected in [start, end) (one client, or all),
    judged at ``now``, in detection order."""
    query = (
        sa.select(
            incident_sla,
            clients.c.name.label("client"),
            incidents.c.key,
            incidents.c.title,
            incidents.c.asset,
            incidents.c.origin,
            incidents.c.cause,
            incidents.c.resolution_note,
            incidents.c.opened_at,
            incidents.c.state.label("incident_state"),
        )
        .select_from(
            incident_sla.join(incidents, incidents.c.id == incident_sla.c.incident_id).join(
                clients, clients.c.id == incident_sla.c.client_id
            )
        )
        .where(incidents.c.opened_at >= _epoch(start), incidents.c.opened_at < _epoch(end))
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    if client_id is not None:
        query = query.where(incident_sla.c.client_id == client_id)
    out = []
    for row in conn.execute(query):
        for target in TARGETS:
            result = outcome(row, target, now)
            if result is None:
                continue
            out.append(
                TargetOutcome(
                    incident_id=row.incident_id,
                    client_id=row.client_id,
                    client=row.client,
                    key=row.key,
                    title=row.title,
                    asset=row.asset,
                    origin=row.origin,
                    cause=row.cause,
                    resolution_note=row.resolution_note,
                    incident_state=row.incident_state,
                    opened_at=row.opened_at,
                    priority=row.priority,
                    target=target,
                    within=float(getattr(row, f"{target}_target")),
                    due_at=getattr(row, f"{target}_due_at"),
                    done_at=row.responded_at if target == "response" else row.resolved_at,
                    elapsed=_elapsed(row, target, result, now),
                    paused_seconds=float(row.paused_seconds or 0.0),
                    outcome=result,  # type: ignore[arg-type]
                )
            )
    return out


def tracked_incidents(
    conn: Connection, start: float | datetime, end: float | datetime, client_id: int | None = None
) -> dict[tuple[str, str], int]:
    """(client name, priority) → incidents with SLA clocks detected in [start, end)."""
    query = (
        sa.select(clients.c.name, incident_sla.c.priority, sa.func.count())
        .select_from(
            incident_sla.join(incidents, incidents.c.id == incident_sla.c.incident_id).join(
                clients, clients.c.id == incident_sla.c.client_id
            )
        )
        .where(incidents.c.opened_at >= _epoch(start), incidents.c.opened_at < _epoch(end))
        .group_by(clients.c.name, incident_sla.c.priority)
    )
    if client_id is not None:
        query = query.where(incident_sla.c.client_id == client_id)
    return {(c, p): int(n) for c, p, n in conn.execute(query)}


def counts(outcomes: Iterable[TargetOutcome]) -> dict[str, dict[str, int]]:
    """target → {met, breached, pending} over ``outcomes``."""
    out = {t: {"met": 0, "breached": 0, "pending": 0} for t in TARGETS}
    for o in outcomes:
        out[o.target][o.outcome] += 1
    return out


def _empty() -> dict[str, Any]:
    return {
        "incidents": 0,
        **{t: {"met": 0, "breached": 0, "pending": 0, "percent": None} for t in TARGETS},
    }


def _percent(figures: dict[str, Any]) -> None:
    decided = figures["met"] + figures["breached"]
    figures["percent"] = None if decided == 0 else round(100.0 * figures["met"] / decided, 2)


def compliance(
    conn: Connection,
    client_id: int,
    start: float | datetime,
    end: float | datetime,
    now: float | None = None,
) -> dict[str, Any]:
    """SLA compliance of the client's incidents detected in [start, end) (epoch or aware datetimes).

    Only incidents with SLA targets (an ``incident_sla`` row) count, under their current
    priority. Returns::

        {"start": float, "end": float,               # epoch seconds, as given
         "priorities": {                             # only priorities that had incidents
             "critical": {"incidents": 3,
                          "response":   {"met": 2, "breached": 1, "pending": 0, "percent": 66.67},
                          "resolution": {"met": 1, "breached": 1, "pending": 1, "percent": 50.0}},
             ...},
         "total": {same shape as one priority}}

    ``percent`` is met / (met + breached) × 100 (None while nothing is decided); ``pending``
    are clocks still running (or paused) and not yet due. A target an incident has no
    target for is not counted in it.
    """
    now = timeutil.now() if now is None else now
    lo, hi = _epoch(start), _epoch(end)
    per: dict[str, dict[str, Any]] = {}
    total = _empty()
    for (_client, priority), n in tracked_incidents(conn, lo, hi, client_id).items():
        bucket = per.setdefault(priority, _empty())
        bucket["incidents"] += n
        total["incidents"] += n
    for o in target_outcomes(conn, lo, hi, now, client_id):
        per.setdefault(o.priority, _empty())[o.target][o.outcome] += 1
        total[o.target][o.outcome] += 1
    for figures in [*per.values(), total]:
        for target in TARGETS:
            _percent(figures[target])
    order = {p: i for i, p in enumerate(PRIORITIES)}
    return {
        "start": lo,
        "end": hi,
        "priorities": dict(sorted(per.items(), key=lambda kv: order.get(kv[0], 99))),
        "total": total,
    }


@dataclass(frozen=True, slots=True)
class AtRisk:
    """A running SLA clock due within the window (``overdue``: already past due, i.e.
    breached in :func:`outcome`'s terms); ``seconds`` until or since it was due."""

    key: str
    title: str
    client: str
    priority: str
    clock: str  # response | resolution
    due_at: float
    overdue: bool
    seconds: float


def at_risk(
    conn: Connection,
    *,
    now: float,
    window: float,
    client_ids: Collection[int] | None = None,
    limit: int = 100,
) -> list[AtRisk]:
    """Running clocks (of ``client_ids``; None: every client) whose response or resolution is
    due by ``now + window`` and not done, soonest due first."""
    horizon = now + window
    response_due = sa.and_(
        incident_sla.c.responded_at.is_(None),
        incident_sla.c.response_due_at.is_not(None),
        incident_sla.c.response_due_at <= horizon,
    )
    resolution_due = sa.and_(
        incident_sla.c.resolved_at.is_(None),
        incident_sla.c.resolution_due_at.is_not(None),
        incident_sla.c.resolution_due_at <= horizon,
    )
    query = (
        sa.select(
            incident_sla,
            incidents.c.key,
            incidents.c.title,
            clients.c.name.label("client"),
        )
        .join(incidents, incidents.c.id == incident_sla.c.incident_id)
        .join(clients, clients.c.id == incident_sla.c.client_id)
        .where(incident_sla.c.state == "running", sa.or_(response_due, resolution_due))
        .limit(limit)
    )
    if client_ids is not None:
        query = query.where(incident_sla.c.client_id.in_(sorted(client_ids)))
    out = []
    for r in conn.execute(query).all():
        for clock in TARGETS:
            due = getattr(r, f"{clock}_due_at")
            done = r.responded_at if clock == "response" else r.resolved_at
            if due is None or done is not None or due > horizon:
                continue
            out.append(
                AtRisk(r.key, r.title, r.client, r.priority, clock, due, due <= now, abs(due - now))
            )
    out.sort(key=lambda item: item.due_at)
    return out


def incident_clock(conn: Connection, incident_id: int) -> Any:
    """The incident's ``incident_sla`` row (None: no SLA target applies)."""
    return conn.execute(
        sa.select(incident_sla).where(incident_sla.c.incident_id == incident_id)
    ).first()
