"""SLA compliance per client and period, from ``incident_sla`` (read by the API, the CLI,
the monthly report and the management views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.contracts.model import PRIORITIES
from collector.schema import incident_sla, incidents

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


def _empty() -> dict[str, Any]:
    return {
        "incidents": 0,
        **{t: {"met": 0, "breached": 0, "pending": 0, "percent": None} for t in TARGETS},
    }


def _percent(counts: dict[str, Any]) -> None:
    decided = counts["met"] + counts["breached"]
    counts["percent"] = None if decided == 0 else round(100.0 * counts["met"] / decided, 2)


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
    rows = conn.execute(
        sa.select(incident_sla)
        .join(incidents, incidents.c.id == incident_sla.c.incident_id)
        .where(
            incident_sla.c.client_id == client_id,
            incidents.c.opened_at >= lo,
            incidents.c.opened_at < hi,
        )
    ).all()
    per: dict[str, dict[str, Any]] = {}
    total = _empty()
    for row in rows:
        bucket = per.setdefault(row.priority, _empty())
        for counts in (bucket, total):
            counts["incidents"] += 1
        for target in TARGETS:
            result = outcome(row, target, now)
            if result is not None:
                bucket[target][result] += 1
                total[target][result] += 1
    for counts in [*per.values(), total]:
        for target in TARGETS:
            _percent(counts[target])
    order = {p: i for i, p in enumerate(PRIORITIES)}
    return {
        "start": lo,
        "end": hi,
        "priorities": dict(sorted(per.items(), key=lambda kv: order.get(kv[0], 99))),
        "total": total,
    }
