"""The report's availability section: per asset and per service, with the downtime windows.

The figures are the assets domain's (:mod:`collector.health.availability`, which says how
they are measured); this section only turns them into the report model's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.health import availability as figures
from collector.health.availability import agent_hour_list as agent_hour_list
from collector.reports.context import ReportContext
from collector.reports.sections import Section


def _windows(windows: tuple[figures.Downtime, ...]) -> list[dict[str, Any]]:
    return [{"start": w.start, "end": w.end, "down_seconds": w.down_seconds} for w in windows]


def as_model(a: figures.Availability) -> dict[str, Any]:
    """The report model's ``availability`` section of figures ``a``."""
    return {
        "from": a.start,
        "to": a.end,
        "overall": a.overall,
        "down_seconds": a.down_seconds,
        "measured_assets": a.measured_assets,
        "unmeasured_assets": a.unmeasured_assets,
        "assets": [
            {
                "asset": r.asset,
                "kind": r.kind,
                "site": r.site,
                "source": r.source,
                "hours": r.hours,
                "down_seconds": r.down_seconds,
                "availability": r.availability,
                "windows": _windows(r.windows),
            }
            for r in a.assets
        ],
        "services": [
            {
                "asset": r.asset,
                "service": r.service,
                "target": r.target,
                "hours": r.hours,
                "down_seconds": r.down_seconds,
                "availability": r.availability,
                "windows": _windows(r.windows),
            }
            for r in a.services
        ],
    }


def measure(ctx: ReportContext, h0: int, h1: int, *, detail: bool = True) -> dict[str, Any]:
    """Availability of the client's assets seen in the period, and their services, in hours
    [h0, h1); ``detail`` adds windows."""
    return as_model(figures.measure(ctx, ctx.asset_by_id, h0, h1, ctx.now, detail=detail))


def overall_by_period(ctx: ReportContext, bounds: list[tuple[int, int]]) -> list[float | None]:
    """Overall availability of each hour range (for trends), of the period's assets."""
    return figures.overall_by_period(ctx, ctx.asset_by_id, bounds, ctx.now)


class Availability(Section):
    name = "availability"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        h0, h1 = ctx.period.hours
        return measure(ctx, h0, h1)
