"""Recurring problems: the assets with the most incidents over this period and the three
before it, each with a recommendation chosen by what actually recurred on it (the same
problem family or the same classified cause, :func:`collector.reports.analysis.recommendation`),
or none when nothing did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.incidents import read
from collector.reports.analysis import recommendation
from collector.reports.context import ReportContext
from collector.reports.sections import Section

LOOKBACK = 3
MIN_INCIDENTS = 2
TOP = 5


class RecurringProblems(Section):
    name = "recurring"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        start = ctx.previous(LOOKBACK)[0].start
        found = read.recurring(
            ctx.conn,
            ctx.client_id,
            start,
            ctx.period.end,
            recent=ctx.period.start,
            at_least=MIN_INCIDENTS,
            top=TOP,
        )
        items = []
        for r in found:
            rows = r.occurrences
            items.append(
                {
                    "asset": r.asset,
                    "incidents": r.incidents,
                    "this_period": r.recent,
                    "rules": sorted({d.rule for d in rows if d.rule}),
                    "causes": sorted({d.cause for d in rows if d.cause}),
                    "recommendation": recommendation(
                        [d.rule for d in rows], [d.cause for d in rows]
                    ),
                }
            )
        return {"since": start, "items": items}
