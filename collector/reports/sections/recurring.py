"""Recurring problems: the assets with the most incidents over this period and the three
before it, each with a recommendation chosen by what actually recurred on it (the same
problem family or the same classified cause, :func:`collector.reports.analysis.recommendation`),
or none when nothing did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.reports.analysis import recommendation
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.schema import incidents

LOOKBACK = 3
MIN_INCIDENTS = 2
TOP = 5


class RecurringProblems(Section):
    name = "recurring"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        start = ctx.previous(LOOKBACK)[0].start
        end = ctx.period.end
        where = (
            incidents.c.client_id == ctx.client_id,
            incidents.c.opened_at >= start,
            incidents.c.opened_at < end,
            incidents.c.asset.is_not(None),
        )
        top = ctx.conn.execute(
            sa.select(
                incidents.c.asset,
                sa.func.count().label("n"),
                sa.func.sum(sa.case((incidents.c.opened_at >= ctx.period.start, 1), else_=0)).label(
                    "now"
                ),
            )
            .where(*where)
            .group_by(incidents.c.asset)
            .having(sa.func.count() >= MIN_INCIDENTS)
            .order_by(sa.func.count().desc(), incidents.c.asset)
            .limit(TOP)
        ).all()
        names = [r.asset for r in top]
        details: dict[str, list[Any]] = defaultdict(list)
        if names:
            for r in ctx.conn.execute(
                sa.select(
                    incidents.c.asset,
                    incidents.c.rule,
                    incidents.c.cause,
                    incidents.c.kind,
                    incidents.c.title,
                )
                .where(*where, incidents.c.asset.in_(names))
                .order_by(incidents.c.opened_at)
            ):
                details[r.asset].append(r)
        items = []
        for r in top:
            rows = details[r.asset]
            rules = sorted({d.rule for d in rows if d.rule})
            items.append(
                {
                    "asset": r.asset,
                    "incidents": int(r.n),
                    "this_period": int(r.now or 0),
                    "rules": rules,
                    "causes": sorted({d.cause for d in rows if d.cause}),
                    "recommendation": recommendation(
                        [d.rule for d in rows], [d.cause for d in rows]
                    ),
                }
            )
        return {"since": start, "items": items}
