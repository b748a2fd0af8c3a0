"""The management views: one function per view, over a connection and a time range.

Each domain's figures come from its read model: incidents, their events and the time spent
from :mod:`collector.incidents.read`, SLA figures from :mod:`collector.sla.summary`, points
from :mod:`collector.ledger.read`; contracts, clients, the outbox and notifications are read
here. The figures are counted in SQL — grouped by client, priority, actor, state or by a local
day/week whose edges :mod:`collector.management.periods` computes — so a view's cost grows
with the number of groups, not of rows. Python only merges the grouped rows and derives
percentages, money and rankings.

Time spent is counted when it was spent (``time_entries.spent_at``, else ``created_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.contracts.model import Contract
from collector.contracts.store import stored_contract
from collector.incidents import read as incidents_read
from collector.ledger import read as ledger_read
from collector.management import models as m
from collector.management.periods import (
    AGE_BUCKETS,
    AGE_LABELS,
    BucketUnit,
    TimeRange,
    buckets,
    months_covered,
    percent,
)
from collector.schema import clients, contracts, notifications, outbox
from collector.sla.summary import target_outcomes, tracked_incidents

log = logging.getLogger(__name__)

#: Priorities, most urgent first (the order of rows in the views).
PRIORITY_ORDER = ("critical", "major", "minor", "technical")
#: The actor of automatic incident changes (collector.incidents.service).
AUTOMATIC_ACTOR = "upkeep"
#: How long a stored last_error may be in a view (connector errors can quote whole responses).
MAX_ERROR_CHARS = 500
CENT = Decimal("0.01")


def _dt(value: float | None) -> Any:
    return timeutil.to_datetime(value)


def _priority_key(priority: str) -> tuple[int, str]:
    return (
        PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else len(PRIORITY_ORDER),
        priority,
    )


# ---------------------------------------------------------------------- created vs resolved


def created_vs_resolved(
    conn: Connection, span: TimeRange, tz: ZoneInfo, unit: BucketUnit
) -> m.CreatedResolved:
    """Incidents opened and resolved per local day or week of ``tz``."""
    parts = buckets(span, tz, unit)
    counted = incidents_read.opened_resolved_by_bucket(
        conn, span.since, span.until, [b.end for b in parts]
    )
    created, resolved = counted.opened, counted.resolved
    rows = [
        m.CreatedResolvedBucket(
            label=b.label,
            start=_dt(b.start),
            end=_dt(b.end),
            created=created.get(i, 0),
            resolved=resolved.get(i, 0),
        )
        for i, b in enumerate(parts)
    ]
    return m.CreatedResolved(
        since=_dt(span.since),
        until=_dt(span.until),
        timezone=tz.key,
        bucket=unit,
        buckets=rows,
        created=sum(created.values()),
        resolved=sum(resolved.values()),
    )


# ---------------------------------------------------------------------- open incidents by age


def open_by_age(conn: Connection, now: float) -> m.OpenByAge:
    """Incidents not resolved yet (open, acknowledged, waiting) by age bucket and priority."""
    found = incidents_read.open_by_age(conn, now, AGE_BUCKETS)
    by_priority: dict[str, dict[str, int]] = {
        p: dict.fromkeys(AGE_LABELS, 0) for p in PRIORITY_ORDER
    }
    for c in found.counts:
        by_priority.setdefault(c.priority, dict.fromkeys(AGE_LABELS, 0))[c.age] += c.count
    rows = [
        m.OpenAgeRow(priority=p, counts=c, total=sum(c.values()))
        for p, c in sorted(by_priority.items(), key=lambda item: _priority_key(item[0]))
    ]
    totals = {label: sum(r.counts[label] for r in rows) for label in AGE_LABELS}
    return m.OpenByAge(
        as_of=_dt(now),
        age_buckets=list(AGE_LABELS),
        rows=rows,
        totals=totals,
        total=sum(totals.values()),
        oldest_opened_at=_dt(found.oldest_opened_at),
    )


# ---------------------------------------------------------------------- SLA compliance


def _figures(met: int, breached: int, pending: int, untracked: int) -> m.SlaFigures:
    return m.SlaFigures(
        met=met,
        breached=breached,
        pending=pending,
        untracked=untracked,
        percent=percent(met, met + breached),
    )


def _sla_row(client: str, priority: str, counts: Iterable[dict[str, int]]) -> m.SlaRow:
    total: dict[str, int] = {}
    for c in counts:
        for key, value in c.items():
            total[key] = total.get(key, 0) + value
    figures = {
        kind: _figures(
            *(total.get(f"{kind}_{x}", 0) for x in ("met", "breached", "pending", "untracked"))
        )
        for kind in ("response", "resolution")
    }
    return m.SlaRow(
        client=client, priority=priority, incidents=total.get("incidents", 0), **figures
    )


def sla_compliance(conn: Connection, span: TimeRange, now: float) -> m.SlaCompliance:
    """Response and resolution targets met vs breached, for the incidents opened in the range,
    per client and (SLA) priority, with a total per client and overall — from the SLA read
    model (:func:`collector.sla.summary.target_outcomes`), so a running clock past its due
    time at ``now`` counts as breached here as in the report and the API."""
    grouped: dict[str, dict[str, dict[str, int]]] = {}
    for (client, priority), n in tracked_incidents(conn, span.since, span.until).items():
        counts = {"incidents": n}
        for kind in ("response", "resolution"):
            counts[f"{kind}_untracked"] = n
        grouped.setdefault(client, {})[priority] = counts
    for o in target_outcomes(conn, span.since, span.until, now):
        counts = grouped.setdefault(o.client, {}).setdefault(o.priority, {"incidents": 0})
        key = f"{o.target}_{o.outcome}"
        counts[key] = counts.get(key, 0) + 1
        counts[f"{o.target}_untracked"] = counts.get(f"{o.target}_untracked", 0) - 1
    rows, per_client = [], []
    for client in sorted(grouped):
        by_priority = grouped[client]
        for priority in sorted(by_priority, key=_priority_key):
            rows.append(_sla_row(client, priority, [by_priority[priority]]))
        per_client.append(_sla_row(client, "all", by_priority.values()))
    overall = _sla_row("all", "all", [c for p in grouped.values() for c in p.values()])
    return m.SlaCompliance(
        since=_dt(span.since), until=_dt(span.until), rows=rows, clients=per_client, overall=overall
    )


# ---------------------------------------------------------------------- technicians


def technician_workload(conn: Connection, span: TimeRange) -> m.TechnicianWorkload:
    """Per actor: minutes logged on incidents and on service requests (by when spent), and the
    incidents they acknowledged and resolved in the range."""
    work: dict[str, dict[str, int]] = {}
    for t in incidents_read.time_by_actor(conn, span.since, span.until):
        work[t.actor] = {
            "incident_minutes": t.incident_minutes,
            "request_minutes": t.request_minutes,
            "time_entries": t.time_entries,
            "incidents_worked": t.incidents_worked,
            "requests_worked": t.requests_worked,
        }
    transitions = incidents_read.transitions_by_actor(
        conn, span.since, span.until, ("acknowledged", "resolved")
    )
    for (actor, kind), n in transitions.items():
        work.setdefault(actor, {})[kind] = n
    rows = []
    for actor, w in work.items():
        inc, req = w.get("incident_minutes", 0), w.get("request_minutes", 0)
        rows.append(
            m.TechnicianRow(
                actor=actor,
                automatic=actor == AUTOMATIC_ACTOR,
                incident_minutes=inc,
                request_minutes=req,
                total_minutes=inc + req,
                time_entries=w.get("time_entries", 0),
                incidents_worked=w.get("incidents_worked", 0),
                requests_worked=w.get("requests_worked", 0),
                acknowledged=w.get("acknowledged", 0),
                resolved=w.get("resolved", 0),
            )
        )
    rows.sort(key=lambda r: (r.automatic, -r.total_minutes, -r.resolved, r.actor))
    return m.TechnicianWorkload(
        since=_dt(span.since),
        until=_dt(span.until),
        rows=rows,
        total_minutes=sum(r.total_minutes for r in rows),
    )


# ---------------------------------------------------------------------- top problems


def _client_names(conn: Connection) -> dict[int, str]:
    return dict(conn.execute(sa.select(clients.c.id, clients.c.name)).all())


def top_problems(conn: Connection, span: TimeRange, limit: int = 10) -> m.TopProblems:
    """The assets and clients with the most incidents opened, and the most time logged, in the range."""
    names = _client_names(conn)
    asset_rows = [
        m.ProblemAsset(
            client=names.get(a.client_id, str(a.client_id)),
            asset=a.asset,
            incidents=a.incidents,
            minutes=a.minutes,
        )
        for a in incidents_read.work_by_asset(conn, span.since, span.until)
    ]
    client_counts = incidents_read.opened_by_client(conn, span.since, span.until)
    client_minutes = incidents_read.minutes_by_client(conn, span.since, span.until)
    client_rows = [
        m.ProblemClient(
            client=names.get(cid, str(cid)),
            incidents=client_counts.get(cid, 0),
            minutes=client_minutes.get(cid, 0),
        )
        for cid in set(client_counts) | set(client_minutes)
    ]

    def top(rows: list[Any], first: str, second: str) -> list[Any]:
        ranked = sorted(
            rows,
            key=lambda r: (
                -getattr(r, first),
                -getattr(r, second),
                r.client,
                getattr(r, "asset", ""),
            ),
        )
        return [r for r in ranked if getattr(r, first) > 0][:limit]

    return m.TopProblems(
        since=_dt(span.since),
        until=_dt(span.until),
        assets_by_incidents=top(asset_rows, "incidents", "minutes"),
        assets_by_time=top(asset_rows, "minutes", "incidents"),
        clients_by_incidents=top(client_rows, "incidents", "minutes"),
        clients_by_time=top(client_rows, "minutes", "incidents"),
    )


# ---------------------------------------------------------------------- time vs fee


def _contracts(conn: Connection) -> dict[int, Contract]:
    out = {}
    for client_id, definition in conn.execute(
        sa.select(contracts.c.client_id, contracts.c.definition)
    ):
        try:
            out[client_id] = stored_contract(definition)
        except ValidationError:  # one unreadable contract must not take the view down
            log.warning("contract of client %s does not validate; shown without a fee", client_id)
    return out


def client_cost(
    client: str, minutes: int, hourly_cost: Decimal, months: Decimal, contract: Contract | None
) -> m.ClientCost:
    """Pure: price ``minutes`` at ``hourly_cost`` and compare with the contract's prorated fee."""
    hours = (Decimal(minutes) / 60).quantize(CENT, rounding=ROUND_HALF_UP)
    cost = (Decimal(minutes) * hourly_cost / 60).quantize(CENT, rounding=ROUND_HALF_UP)
    if contract is None:
        return m.ClientCost(
            client=client,
            plan=None,
            currency=None,
            minutes=minutes,
            hours=hours,
            cost=cost,
            monthly_fee=None,
            months=months,
            fee=None,
            margin=None,
            loss=False,
        )
    fee = (contract.plan.monthly_fee * months).quantize(CENT, rounding=ROUND_HALF_UP)
    return m.ClientCost(
        client=client,
        plan=contract.plan.name,
        currency=contract.plan.currency,
        minutes=minutes,
        hours=hours,
        cost=cost,
        monthly_fee=contract.plan.monthly_fee,
        months=months,
        fee=fee,
        margin=fee - cost,
        loss=cost > fee,
    )


def time_vs_fee(
    conn: Connection, span: TimeRange, tz: ZoneInfo, hourly_cost: Decimal
) -> m.TimeVsFee:
    """Per client: hours logged in the range × ``hourly_cost`` against the contract's monthly fee
    prorated to the range; clients whose cost is above their fee are the loss makers."""
    names = _client_names(conn)
    enabled = {
        cid
        for (cid,) in conn.execute(sa.select(clients.c.id).where(clients.c.enabled == sa.true()))
    }
    minutes = incidents_read.minutes_by_client(conn, span.since, span.until)
    deals = _contracts(conn)
    months = months_covered(span, tz)
    rows = [
        client_cost(names[cid], minutes.get(cid, 0), hourly_cost, months, deals.get(cid))
        for cid in (enabled | set(minutes) | set(deals))
        if cid in names
    ]
    rows.sort(
        key=lambda r: (not r.loss, r.margin if r.margin is not None else Decimal(0), r.client)
    )
    return m.TimeVsFee(
        since=_dt(span.since),
        until=_dt(span.until),
        timezone=tz.key,
        hourly_cost=hourly_cost,
        rows=rows,
        loss_clients=[r.client for r in rows if r.loss],
    )


# ---------------------------------------------------------------------- points


def points_consumption(conn: Connection, span: TimeRange) -> m.PointsConsumption:
    """Per client: the statement figures of each contract period the range overlaps, as of
    ``until`` (the ledger's read model, :func:`collector.ledger.read.period_figures`: the
    same figures as the statement), and the balance then with the overdraft below zero."""
    names = _client_names(conn)
    out = []
    for cid, found in sorted(
        ledger_read.period_figures(conn, span.since, span.until).items(),
        key=lambda item: names.get(item[0], str(item[0])),
    ):
        rows = [
            m.PeriodPoints(
                period=period,
                allotment=f.allotment,
                rollover=f.rollover_in + f.rollover_out,
                charged=-f.charged,
                topups=f.topped_up,
                adjustments=f.adjusted,
                expired=f.expired,
                net=f.net,
            )
            for period, f in found
        ]
        balance = found[-1][1].closing_balance
        out.append(
            m.ClientPoints(
                client=names.get(cid, str(cid)),
                periods=rows,
                charged=sum(r.charged for r in rows),
                balance=balance,
                overdraft=max(0, -balance),
            )
        )
    return m.PointsConsumption(
        since=_dt(span.since),
        until=_dt(span.until),
        clients=out,
        charged=sum(c.charged for c in out),
        overdrawn_clients=[c.client for c in out if c.overdraft > 0],
    )


# ---------------------------------------------------------------------- connectors' health

_WAITING = ("pending", "in_flight")


def _error(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"


def _queues(
    conn: Connection,
    table: sa.Table,
    name_col: Any,
    delivered_col: Any,
    span: TimeRange,
    now: float,
) -> list[m.QueueHealth]:
    states = conn.execute(
        sa.select(
            name_col,
            table.c.state,
            sa.func.count(),
            sa.func.min(table.c.created_at),
            sa.func.max(table.c.attempts),
        )
        .where(table.c.state != "done")
        .group_by(name_col, table.c.state)
    ).all()
    delivered: dict[str, int] = dict(
        conn.execute(
            sa.select(name_col, sa.func.count())
            .where(table.c.state == "done", delivered_col >= span.since, delivered_col < span.until)
            .group_by(name_col)
        ).all()
    )
    # The newest error per queue: the highest id among rows not delivered that carry one.
    newest = (
        sa.select(name_col.label("name"), sa.func.max(table.c.id).label("id"))
        .where(table.c.state != "done", table.c.last_error.is_not(None))
        .group_by(name_col)
        .subquery()
    )
    errors = dict(
        conn.execute(
            sa.select(newest.c.name, table.c.last_error).join(newest, newest.c.id == table.c.id)
        ).all()
    )
    acc: dict[str, dict[str, Any]] = {}
    for name, state, n, oldest, attempts in states:
        q = acc.setdefault(
            name, {"pending": 0, "in_flight": 0, "failed": 0, "oldest": None, "attempts": 0}
        )
        # A dead letter (state "dead") is what these views call failed.
        bucket = "failed" if state == "dead" else state
        if bucket in q:
            q[bucket] += n
        if state in _WAITING:
            q["oldest"] = oldest if q["oldest"] is None else min(q["oldest"], oldest)
        q["attempts"] = max(q["attempts"], attempts or 0)
    for name in delivered:
        acc.setdefault(
            name, {"pending": 0, "in_flight": 0, "failed": 0, "oldest": None, "attempts": 0}
        )
    return [
        m.QueueHealth(
            name=name,
            pending=q["pending"],
            in_flight=q["in_flight"],
            failed=q["failed"],
            delivered=delivered.get(name, 0),
            oldest_pending_at=_dt(q["oldest"]),
            oldest_pending_age_seconds=None if q["oldest"] is None else max(0.0, now - q["oldest"]),
            max_attempts=q["attempts"],
            last_error=_error(errors.get(name)),
        )
        for name, q in sorted(acc.items())
    ]


def connector_health(
    conn: Connection, span: TimeRange, now: float, problems_limit: int = 50
) -> m.ConnectorHealth:
    """The ticket outbox per connector and the client notifications per kind: backlog by state
    now, oldest waiting row, deliveries in the range, and the rows that failed or are retrying."""
    connectors = _queues(conn, outbox, outbox.c.connector, outbox.c.delivered_at, span, now)
    kinds = _queues(conn, notifications, notifications.c.kind, notifications.c.sent_at, span, now)
    troubled = sa.or_(
        outbox.c.state == "dead",
        sa.and_(outbox.c.state.in_(_WAITING), outbox.c.last_error.is_not(None)),
    )
    troubled_rows = conn.execute(
        sa.select(
            outbox.c.id,
            outbox.c.connector,
            outbox.c.incident_id,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.created_at,
            outbox.c.next_attempt_at,
        )
        .where(troubled)
        .order_by(outbox.c.id.desc())
        .limit(problems_limit)
    ).all()
    # The incident's key as the subject (outbox.incident_id is a required foreign key).
    keys = incidents_read.keys_by_id(conn, {r.incident_id for r in troubled_rows})
    outbox_rows = [
        (r[0], r[1], keys.get(r.incident_id), *r[3:])
        for r in troubled_rows
        if r.incident_id in keys
    ]
    troubled_n = sa.or_(
        notifications.c.state == "dead",
        sa.and_(notifications.c.state.in_(_WAITING), notifications.c.last_error.is_not(None)),
    )
    notification_rows = conn.execute(
        sa.select(
            notifications.c.id,
            notifications.c.kind,
            notifications.c.subject,
            notifications.c.state,
            notifications.c.attempts,
            notifications.c.last_error,
            notifications.c.created_at,
            notifications.c.next_attempt_at,
        )
        .where(troubled_n)
        .order_by(notifications.c.id.desc())
        .limit(problems_limit)
    ).all()

    def problem(r: Any) -> m.DeliveryProblem:
        return m.DeliveryProblem(
            id=r[0],
            name=r[1],
            subject=r[2],
            state=r[3],
            attempts=r[4],
            last_error=_error(r[5]),
            created_at=_dt(r[6]),
            next_attempt_at=_dt(r[7]) if r[3] != "dead" else None,
        )

    return m.ConnectorHealth(
        since=_dt(span.since),
        until=_dt(span.until),
        as_of=_dt(now),
        connectors=connectors,
        connector_problems=[problem(r) for r in outbox_rows],
        notifications=kinds,
        notification_problems=[problem(r) for r in notification_rows],
    )
