"""Incidents opened in the period: caught by monitoring vs reported by the client's staff,
by priority and cause, each with its resolution note, time to resolve and time spent.

The figures are the incidents' read model (:mod:`collector.incidents.read`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.incidents import read
from collector.incidents.read import PRIORITY_ORDER, origin_group
from collector.reports.analysis import DAY, week_of
from collector.reports.context import ReportContext
from collector.reports.sections import Section

__all__ = ["PRIORITY_ORDER", "Incidents", "counts", "origin_group"]


def counts(ctx: ReportContext, start: float, end: float) -> dict[str, int]:
    """Incidents opened in [start, end) by origin group (for trends)."""
    return read.origin_counts(ctx.conn, ctx.client_id, start, end)


class Incidents(Section):
    name = "incidents"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        p = ctx.period
        found = read.opened_in(ctx.conn, ctx.client_id, p.start, p.end)
        items = [
            {
                "key": i.key,
                "title": i.title,
                "asset": i.asset,
                "site": i.site,
                "rule": i.rule,
                "priority": i.priority,
                "origin": i.origin,
                "kind": i.kind,
                "cause": i.cause,
                "state": i.state,
                "opened_at": i.opened_at,
                "resolved_at": i.resolved_at,
                "time_to_resolve": i.time_to_resolve,
                "minutes_spent": i.minutes_spent,
                "resolution_note": i.resolution_note,
            }
            for i in found
        ]
        summary = read.summarize(found)
        weeks = max(1, -(-int(p.end - p.start) // (7 * DAY)))
        weekly = [
            {"week": w + 1, "start": p.start + w * 7 * DAY, "proactive": 0, "user_reported": 0}
            for w in range(weeks)
        ]
        for i in found:
            weekly[min(week_of(i.opened_at, p.start), weeks - 1)][i.origin] += 1
        return {
            "total": summary.total,
            "proactive": summary.by_origin["proactive"],
            "user_reported": summary.by_origin["user_reported"],
            "resolved": summary.resolved,
            "mean_time_to_resolve": summary.mean_time_to_resolve,
            "minutes_spent": summary.minutes_spent,
            "by_priority": [{"priority": pr, **v} for pr, v in summary.by_priority.items()],
            "by_cause": [{"cause": c, "count": n} for c, n in summary.by_cause],
            "weekly": weekly,
            "items": items,
        }
