"""SLA compliance per priority for the incidents opened in the period; every breach explained.

Reads the ``incident_sla`` clocks (kept by :mod:`collector.sla`) directly. A target counts as
*met* once it stopped in time (responded / resolved before the due time), as *breached* once
the clock ran past it; a clock still running within its target is *in progress* and left out
of the percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.reports.analysis import percent
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.reports.sections.incidents import PRIORITY_ORDER, origin_group
from collector.schema import incident_sla, incidents


def outcome(target: float | None, done_at: float | None, breached: bool) -> str | None:
    """met | breached | running | None (no target)."""
    if target is None:
        return None
    if breached:
        return "breached"
    return "met" if done_at is not None else "running"


def breaches(ctx: ReportContext, start: float, end: float) -> int:
    """Targets breached by incidents opened in [start, end) (for trends)."""
    query = (
        sa.select(sa.func.count())
        .select_from(incident_sla.join(incidents, incidents.c.id == incident_sla.c.incident_id))
        .where(
            incidents.c.client_id == ctx.client_id,
            incidents.c.opened_at >= start,
            incidents.c.opened_at < end,
        )
    )
    response = (
        ctx.conn.execute(query.where(incident_sla.c.response_breached.is_(True))).scalar() or 0
    )
    resolution = (
        ctx.conn.execute(query.where(incident_sla.c.resolution_breached.is_(True))).scalar() or 0
    )
    return int(response) + int(resolution)


def _blank(priority: str) -> dict[str, Any]:
    return {
        "priority": priority,
        "incidents": 0,
        "response_target": None,
        "response_met": 0,
        "response_breached": 0,
        "resolution_target": None,
        "resolution_met": 0,
        "resolution_breached": 0,
        "running": 0,
    }


class SlaCompliance(Section):
    name = "sla"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        p = ctx.period
        query = (
            sa.select(
                incident_sla,
                incidents.c.key,
                incidents.c.title,
                incidents.c.asset,
                incidents.c.cause,
                incidents.c.resolution_note,
                incidents.c.origin,
                incidents.c.opened_at,
                incidents.c.state.label("incident_state"),
            )
            .select_from(incident_sla.join(incidents, incidents.c.id == incident_sla.c.incident_id))
            .where(
                incidents.c.client_id == ctx.client_id,
                incidents.c.opened_at >= p.start,
                incidents.c.opened_at < p.end,
            )
            .order_by(incidents.c.opened_at, incidents.c.id)
        )
        per: dict[str, dict[str, Any]] = {pr: _blank(pr) for pr in PRIORITY_ORDER}
        explained: list[dict[str, Any]] = []
        for r in ctx.conn.execute(query):
            row = per.setdefault(r.priority, _blank(r.priority))
            row["incidents"] += 1
            for target in ("response", "resolution"):
                seconds = getattr(r, f"{target}_target")
                done_at = r.responded_at if target == "response" else r.resolved_at
                result = outcome(seconds, done_at, bool(getattr(r, f"{target}_breached")))
                if result is None:
                    continue
                row[f"{target}_target"] = seconds
                if result == "running":
                    row["running"] += 1
                    continue
                row[f"{target}_{result}"] += 1
                if result == "breached":
                    elapsed = float(getattr(r, f"{target}_elapsed"))
                    explained.append(
                        {
                            "key": r.key,
                            "title": r.title,
                            "asset": r.asset,
                            "priority": r.priority,
                            "target": target,
                            "origin": origin_group(r.origin),
                            "target_seconds": seconds,
                            "elapsed_seconds": elapsed,
                            "over_seconds": round(max(0.0, elapsed - seconds), 3),
                            "paused_seconds": float(r.paused_seconds),
                            "due_at": getattr(r, f"{target}_due_at"),
                            "done_at": done_at,
                            "cause": r.cause,
                            "resolution_note": r.resolution_note,
                            "state": r.incident_state,
                        }
                    )
        rows = []
        met = measured = 0
        for row in per.values():
            m = row["response_met"] + row["resolution_met"]
            b = row["response_breached"] + row["resolution_breached"]
            row["compliance"] = percent(m, m + b, 2)
            met, measured = met + m, measured + m + b
            rows.append(row)
        return {
            "met": not explained,
            "compliance": percent(met, measured, 2),
            "targets_measured": measured,
            "targets_met": met,
            "breach_count": len(explained),
            "priorities": rows,
            "breaches": explained,
            "clocks": sum(r["incidents"] for r in rows),
        }
