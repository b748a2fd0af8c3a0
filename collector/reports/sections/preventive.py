"""Preventive work done in the period, with its evidence and hours.

The figures are the preventive read model's (:mod:`collector.preventive.read`), the same the
preventive API and CLI show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.preventive import read
from collector.reports.context import ReportContext
from collector.reports.sections import Section


def minutes(ctx: ReportContext, start: float, end: float) -> int:
    """Minutes of preventive work done in [start, end) (for trends)."""
    return read.minutes(ctx.conn, ctx.client_id, start, end)


class PreventiveWork(Section):
    name = "preventive"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        found = read.summary(ctx.conn, ctx.client_id, ctx.period.start, ctx.period.end)
        items = [
            {
                "kind": i.kind,
                "title": i.title,
                "asset": i.asset,
                "incident": i.incident_key,
                "task": i.task_id,
                "done_at": i.done_at,
                "actor": i.actor,
                "minutes": i.minutes,
                "note": i.note,
                "evidence": dict(i.evidence),
            }
            for i in found.items
        ]
        return {
            "count": found.count,
            "minutes": found.minutes,
            "hours": round(found.minutes / 60, 2),
            "by_kind": [
                {"kind": k.kind, "count": k.count, "minutes": k.minutes} for k in found.by_kind
            ],
            "items": items,
        }
