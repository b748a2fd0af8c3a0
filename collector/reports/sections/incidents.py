"""Incidents opened in the period: caught by monitoring vs reported by the client's staff,
by priority and cause, each with its resolution note, time to resolve and time spent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.reports.analysis import DAY, week_of
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.schema import incidents, time_entries

PRIORITY_ORDER = ("critical", "major", "minor", "technical")


def origin_group(origin: str) -> str:
    """``proactive`` (rules, Alertmanager) or ``user_reported`` (a person told us)."""
    return "user_reported" if origin == "user_reported" else "proactive"


def counts(ctx: ReportContext, start: float, end: float) -> dict[str, int]:
    """Incidents opened in [start, end) by origin group (for trends)."""
    query = (
        sa.select(incidents.c.origin, sa.func.count().label("n"))
        .where(
            incidents.c.client_id == ctx.client_id,
            incidents.c.opened_at >= start,
            incidents.c.opened_at < end,
        )
        .group_by(incidents.c.origin)
    )
    out = {"proactive": 0, "user_reported": 0}
    for r in ctx.conn.execute(query):
        out[origin_group(r.origin)] += int(r.n)
    return out


class Incidents(Section):
    name = "incidents"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        p = ctx.period
        spent = (
            sa.select(
                time_entries.c.incident_id, sa.func.sum(time_entries.c.minutes).label("minutes")
            )
            .where(time_entries.c.incident_id.is_not(None))
            .group_by(time_entries.c.incident_id)
            .subquery()
        )
        query = (
            sa.select(incidents, spent.c.minutes)
            .select_from(incidents.outerjoin(spent, spent.c.incident_id == incidents.c.id))
            .where(
                incidents.c.client_id == ctx.client_id,
                incidents.c.opened_at >= p.start,
                incidents.c.opened_at < p.end,
            )
            .order_by(incidents.c.opened_at, incidents.c.id)
        )
        items = []
        for r in ctx.conn.execute(query):
            resolved = r.resolved_at if r.resolved_at is not None else r.closed_at
            items.append(
                {
                    "key": r.key,
                    "title": r.title,
                    "asset": r.asset,
                    "site": r.site,
                    "rule": r.rule,
                    "priority": r.priority,
                    "origin": origin_group(r.origin),
                    "kind": r.kind,
                    "cause": r.cause,
                    "state": r.state,
                    "opened_at": r.opened_at,
                    "resolved_at": resolved,
                    "time_to_resolve": None
                    if resolved is None
                    else round(resolved - r.opened_at, 3),
                    "minutes_spent": int(r.minutes or 0),
                    "resolution_note": r.resolution_note,
                }
            )
        weeks = max(1, -(-int(p.end - p.start) // (7 * DAY)))
        weekly = [
            {"week": w + 1, "start": p.start + w * 7 * DAY, "proactive": 0, "user_reported": 0}
            for w in range(weeks)
        ]
        by_priority = {pr: {"proactive": 0, "user_reported": 0} for pr in PRIORITY_ORDER}
        for item in items:
            weekly[min(week_of(item["opened_at"], p.start), weeks - 1)][item["origin"]] += 1
            by_priority.setdefault(item["priority"], {"proactive": 0, "user_reported": 0})[
                item["origin"]
            ] += 1
        causes = Counter(item["cause"] for item in items)
        resolved = [i["time_to_resolve"] for i in items if i["time_to_resolve"] is not None]
        return {
            "total": len(items),
            "proactive": sum(1 for i in items if i["origin"] == "proactive"),
            "user_reported": sum(1 for i in items if i["origin"] == "user_reported"),
            "resolved": len(resolved),
            "mean_time_to_resolve": round(sum(resolved) / len(resolved), 3) if resolved else None,
            "minutes_spent": sum(i["minutes_spent"] for i in items),
            "by_priority": [{"priority": pr, **v} for pr, v in by_priority.items()],
            "by_cause": [
                {"cause": c, "count": n}
                for c, n in sorted(causes.items(), key=lambda i: (-i[1], i[0] or "~"))
            ],
            "weekly": weekly,
            "items": items,
        }
