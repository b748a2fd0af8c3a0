"""Preventive work done in the period, with its evidence and hours.

Reads the ``preventive_work`` table directly (filled by :mod:`collector.preventive`), so the
report does not depend on that module's Python API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.schema import incidents, preventive_work


def minutes(ctx: ReportContext, start: float, end: float) -> int:
    """Minutes of preventive work done in [start, end) (for trends)."""
    return int(
        ctx.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(preventive_work.c.minutes), 0)).where(
                preventive_work.c.client_id == ctx.client_id,
                preventive_work.c.done_at >= start,
                preventive_work.c.done_at < end,
            )
        ).scalar()
        or 0
    )


class PreventiveWork(Section):
    name = "preventive"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        p = ctx.period
        query = (
            sa.select(preventive_work, incidents.c.key.label("incident"))
            .select_from(
                preventive_work.outerjoin(
                    incidents, incidents.c.id == preventive_work.c.incident_id
                )
            )
            .where(
                preventive_work.c.client_id == ctx.client_id,
                preventive_work.c.done_at >= p.start,
                preventive_work.c.done_at < p.end,
            )
            .order_by(preventive_work.c.done_at, preventive_work.c.id)
        )
        items = [
            {
                "kind": r.kind,
                "title": r.title,
                "asset": r.asset,
                "incident": r.incident,
                "task": r.task_id,
                "done_at": r.done_at,
                "actor": r.actor,
                "minutes": int(r.minutes),
                "note": r.note,
                "evidence": r.evidence or {},
            }
            for r in ctx.conn.execute(query)
        ]
        by_kind: dict[str, dict[str, Any]] = {
            k: {"kind": k, "count": 0, "minutes": 0} for k in ("incident", "task")
        }
        for item in items:
            entry = by_kind.setdefault(
                item["kind"], {"kind": item["kind"], "count": 0, "minutes": 0}
            )
            entry["count"] += 1
            entry["minutes"] += item["minutes"]
        total = sum(i["minutes"] for i in items)
        return {
            "count": len(items),
            "minutes": total,
            "hours": round(total / 60, 2),
            "by_kind": list(by_kind.values()),
            "items": items,
        }
