"""Consumables: toner and ink replaced (the agent's ``supply_replaced`` events) and pages
printed per printer (the rise of ``printer_page_count_total`` over the period)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.reports import queries
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.schema import assets, events

PAGE_COUNTER = "printer_page_count_total"
SUPPLY_LEVEL = "printer_supply_level_percent"


class Consumables(Section):
    name = "consumables"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        p = ctx.period
        query = (
            sa.select(events.c.ts, events.c.data, events.c.message, assets.c.name.label("asset"))
            .select_from(events.join(assets, assets.c.id == events.c.asset_id))
            .where(
                events.c.client_id == ctx.client_id,
                events.c.type == "supply_replaced",
                events.c.ts >= p.start,
                events.c.ts < p.end,
            )
            .order_by(events.c.ts, events.c.id)
        )
        replaced = []
        for r in ctx.conn.execute(query):
            data = r.data or {}
            replaced.append(
                {
                    "asset": r.asset,
                    "ts": r.ts,
                    "supply": data.get("supply") or r.message,
                    "supply_type": data.get("supply_type"),
                    "color": data.get("color"),
                    "before_percent": data.get("before_percent"),
                    "after_percent": data.get("after_percent"),
                }
            )
        h0, h1 = p.hours
        pages: dict[str, float] = defaultdict(float)
        for ref, stats in queries.hour_stats(ctx, [PAGE_COUNTER], h0, h1):
            asset = ctx.asset_by_id.get(ref.asset_id)
            if asset is not None:
                pages[asset.name] += max(0.0, float(stats.max) - float(stats.min))
        replaced_by: dict[str, int] = defaultdict(int)
        for item in replaced:
            replaced_by[item["asset"]] += 1
        printers = sorted(set(pages) | set(replaced_by))
        return {
            "replaced_count": len(replaced),
            "replaced": replaced,
            "pages_total": int(sum(pages.values())),
            "printers": [
                {
                    "asset": name,
                    "pages": int(pages.get(name, 0)),
                    "replaced": replaced_by.get(name, 0),
                }
                for name in printers
            ],
        }
