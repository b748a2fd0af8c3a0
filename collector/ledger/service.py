"""What a resolved incident costs in points, and its charge entries.

:func:`settle_incident` brings an incident's charges in line with its cost (posting through
:mod:`collector.ledger.entries`, or holding the charge as a service request when the balance
would go below zero and the contract wants approval); :func:`incident_points` is what the
closing message tells the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import PointsPolicy, format_points
from collector.ledger import charges, requests
from collector.ledger.charges import WorkItem
from collector.ledger.entries import balance, ensure_periods, lock_client, points_policy, post
from collector.schema import incident_events, incidents, ledger_entries

#: Incident events after which its charge is (re)computed.
SETTLING_EVENTS = ("resolved", "closed", "charge_set")

__all__ = ["balance", "incident_points", "points_policy", "settle_incident"]

# ---------------------------------------------------------------------- incident charges


def _override(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(incident_events.c.data, incident_events.c.actor)
        .where(incident_events.c.incident_id == incident_id, incident_events.c.type == "charge_set")
        .order_by(incident_events.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else {**row.data, "actor": row.actor}


def incident_work(conn: Connection, incident_id: int) -> list[WorkItem]:
    from collector.schema import time_entries

    rows = conn.execute(
        sa.select(time_entries)
        .where(time_entries.c.incident_id == incident_id)
        .order_by(time_entries.c.id)
    ).all()
    return [WorkItem(r.minutes, r.work_type, r.id, r.actor, r.note) for r in rows]


def incident_charge(
    row: Any, policy: PointsPolicy, work: list[WorkItem], override: Mapping[str, Any] | None
) -> tuple[int, str, charges.Priced]:
    """What a resolved incident costs (positive centipoints), why, and the priced time.

    Pure: ``row`` needs ``cause`` and ``labels``. A technician's override wins; otherwise
    the cause decides (``billable_causes``), or the scope (out of scope and billable).
    """
    priced = charges.price(work, policy)
    if override is not None:
        why = f"override by {override.get('actor')}: {override.get('reason')}"
        mode = override.get("mode")
        if mode == "free":
            return 0, why, priced
        if mode == "amount":
            return int(override.get("centipoints") or 0), why, priced
        return priced.total, why, priced
    labels = dict(row.labels or {})
    cause = row.cause or "unknown"
    if cause in policy.billable_causes:
        return priced.total, f"cause {cause} (billable)", priced
    if labels.get("scope") == "out-of-scope" and labels.get("scope_policy") == "billable":
        return priced.total, "out of scope (billable)", priced
    return 0, f"cause {cause} (covered)", priced


def settle_incident(
    conn: Connection, incident_id: int, now: float, actor: str, *, links: Any | None = None
) -> int | None:
    """Bring the incident's charges in line with what it costs now; the entry written, if any.

    Only a resolved or closed incident is charged. Its charges so far are summed; the
    difference to the current cost is written as one more ``charge`` entry (negative: more
    to pay; positive: a reversal), keyed ``charge:incident:<id>:<n>`` so that concurrent
    settlements of the same state write it once. A free incident writes nothing; a reopen
    and a second resolve with no new time writes nothing.
    """
    row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None or row.state not in ("resolved", "closed"):
        return None
    found = points_policy(conn, row.client_id)
    if found is None:
        return None
    _contract, policy = found
    lock_client(conn, row.client_id)
    target, why, priced = incident_charge(
        row, policy, incident_work(conn, incident_id), _override(conn, incident_id)
    )
    # One statement: the sum and the count of the same snapshot (the dedupe key depends on both).
    charged, count = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0), sa.func.count()
        ).where(ledger_entries.c.incident_id == incident_id, ledger_entries.c.kind == "charge")
    ).one()
    delta = -target - int(charged)
    if delta == 0:
        return None
    # The time entries are shown with a charge only when they are what it is made of.
    priced_from_time = target > 0 and target == priced.total
    data = {
        "basis": why,
        "cost": target,
        "previously_charged": -int(charged),
        "time_entries": [line.as_json() for line in priced.lines] if priced_from_time else [],
    }
    if delta < 0 and policy.at_zero == "require_approval":
        ensure_periods(conn, row.client_id, now)
        if balance(conn, row.client_id) + delta < 0:
            requests.hold_charge(
                conn, row, -delta, why, now=now, actor=actor, links=links, data=data
            )
            return None
    reason = (
        f"{row.key}: {why}"
        if int(charged) == 0
        else f"{row.key}: {why} (charged {format_points(-int(charged))} before)"
    )
    return post(
        conn,
        row.client_id,
        kind="charge",
        centipoints=delta,
        now=now,
        actor=actor,
        reason=reason,
        incident_id=incident_id,
        data=data,
        dedupe_key=f"charge:incident:{incident_id}:{int(count) + 1}",
    )


# ---------------------------------------------------------------------- reads for closing messages


def incident_points(conn: Connection, incident_id: int, now: float) -> tuple[int, int] | None:
    """(In a write transaction: the periods up to ``now`` are brought in first.) What incident ``incident_id`` cost in points so far (positive centipoints, reversals
    netted) and the client's balance right after its latest charge entry; None when the client
    has no points ledger. A free incident costs 0 and the balance is the current one."""
    client_id = conn.execute(
        sa.select(incidents.c.client_id).where(incidents.c.id == incident_id)
    ).scalar()
    if client_id is None or points_policy(conn, client_id) is None:
        return None
    ensure_periods(conn, client_id, now)  # a free incident's client may have no entry yet
    charged, last_id = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0),
            sa.func.max(ledger_entries.c.id),
        ).where(ledger_entries.c.incident_id == incident_id, ledger_entries.c.kind == "charge")
    ).one()
    after = sa.select(sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0)).where(
        ledger_entries.c.client_id == client_id
    )
    if last_id is not None:
        after = after.where(ledger_entries.c.id <= last_id)
    return -int(charged), int(conn.execute(after).scalar_one())
