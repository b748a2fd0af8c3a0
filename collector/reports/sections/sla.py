"""SLA compliance per priority for the incidents opened in the period; every breach explained.

Figures from the SLA read model (:func:`collector.sla.summary.target_outcomes`), so they are
the API's and the management view's: a target is *met* once it stopped in time, *breached*
once flagged or a running clock is past its due time at report time; a clock still within
its target is *in progress* and left out of the percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.reports.analysis import percent
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.reports.sections.incidents import PRIORITY_ORDER, origin_group
from collector.sla.summary import target_outcomes, tracked_incidents


def breaches(ctx: ReportContext, start: float, end: float) -> int:
    """Targets breached by incidents opened in [start, end) (for trends), judged at report time."""
    return sum(
        o.outcome == "breached"
        for o in target_outcomes(ctx.conn, start, end, ctx.now, ctx.client_id)
    )


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
        per: dict[str, dict[str, Any]] = {pr: _blank(pr) for pr in PRIORITY_ORDER}
        for (_client, priority), n in tracked_incidents(
            ctx.conn, p.start, p.end, ctx.client_id
        ).items():
            per.setdefault(priority, _blank(priority))["incidents"] += n
        explained: list[dict[str, Any]] = []
        for o in target_outcomes(ctx.conn, p.start, p.end, ctx.now, ctx.client_id):
            row = per.setdefault(o.priority, _blank(o.priority))
            row[f"{o.target}_target"] = o.within
            if o.outcome == "pending":
                row["running"] += 1
                continue
            row[f"{o.target}_{o.outcome}"] += 1
            if o.outcome == "breached":
                explained.append(
                    {
                        "key": o.key,
                        "title": o.title,
                        "asset": o.asset,
                        "priority": o.priority,
                        "target": o.target,
                        "origin": origin_group(o.origin),
                        "target_seconds": o.within,
                        "elapsed_seconds": o.elapsed,
                        "over_seconds": round(max(0.0, o.elapsed - o.within), 3),
                        "paused_seconds": o.paused_seconds,
                        "due_at": o.due_at,
                        "done_at": o.done_at,
                        "cause": o.cause,
                        "resolution_note": o.resolution_note,
                        "state": o.incident_state,
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
