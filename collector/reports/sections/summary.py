"""The plain-language summary: what was monitored, what was caught before anyone noticed,
preventive work, whether the SLA was met, the points left. Built from the other sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.reports.context import ReportContext
from collector.reports.sections import Section


class Summary(Section):
    name = "summary"
    needs = ("assets", "availability", "incidents", "preventive", "sla", "points", "risks")

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        inc, sla, pts = done["incidents"], done["sla"], done["points"]
        return {
            "assets": done["assets"]["total"],
            "sites": len(done["assets"]["by_site"]),
            "kinds": [k["kind"] for k in done["assets"]["by_kind"]],
            "availability": done["availability"]["overall"],
            "incidents": inc["total"],
            "proactive": inc["proactive"],
            "user_reported": inc["user_reported"],
            "preventive_count": done["preventive"]["count"],
            "preventive_hours": done["preventive"]["hours"],
            "sla_met": sla["met"],
            "sla_compliance": sla["compliance"],
            "sla_breaches": sla["breach_count"],
            "points_enabled": pts["enabled"],
            "points_left": pts["closing"] if pts["enabled"] else None,
            "risks": done["risks"]["count"],
        }
