"""Trends: this period's key figures next to those of the three periods before it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.reports.context import ReportContext
from collector.reports.sections import Section, availability, incidents, points, preventive, sla

PREVIOUS = 3


class Trends(Section):
    name = "trends"
    needs = ("incidents", "availability", "preventive", "points", "sla")

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        periods = [*ctx.previous(PREVIOUS), ctx.period]
        rows: dict[str, list[Any]] = {
            k: []
            for k in (
                "incidents",
                "proactive",
                "user_reported",
                "availability",
                "preventive_hours",
                "points_charged",
                "sla_breaches",
            )
        }
        rows["availability"] = availability.overall_by_period(ctx, [p.hours for p in periods[:-1]])
        for period in periods[:-1]:
            counts = incidents.counts(ctx, period.start, period.end)
            rows["incidents"].append(counts["proactive"] + counts["user_reported"])
            rows["proactive"].append(counts["proactive"])
            rows["user_reported"].append(counts["user_reported"])
            rows["preventive_hours"].append(
                round(preventive.minutes(ctx, period.start, period.end) / 60, 2)
            )
            rows["points_charged"].append(points.charged(ctx, period.label))
            rows["sla_breaches"].append(sla.breaches(ctx, period.start, period.end))
        # The current period: the figures the other sections computed.
        rows["incidents"].append(done["incidents"]["total"])
        rows["proactive"].append(done["incidents"]["proactive"])
        rows["user_reported"].append(done["incidents"]["user_reported"])
        rows["availability"].append(done["availability"]["overall"])
        rows["preventive_hours"].append(done["preventive"]["hours"])
        rows["points_charged"].append(done["points"]["charged"])
        rows["sla_breaches"].append(done["sla"]["breach_count"])
        return {
            "periods": [p.label for p in periods],
            "rows": [{"metric": k, "values": v} for k, v in rows.items()],
        }
