"""The points statement of the period: opening balance, allotment, charges (with the incident
or request they came from), top-ups and other entries, closing balance.

The figures are the ledger's read model (:func:`collector.ledger.read.statement`), the same
statement the API, the CLI, the management view and the web UI show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.ledger import read
from collector.ledger.entries import SYSTEM_ACTOR
from collector.reports.context import ReportContext
from collector.reports.sections import Section

KINDS = ("allotment", "rollover", "charge", "topup", "adjustment", "expiry")


def charged(ctx: ReportContext, label: str) -> int:
    """Centipoints charged in period ``label`` (a positive number; for trends)."""
    return -read.figures(ctx.conn, ctx.client_id, [label])[0][1].charged


class PointsStatement(Section):
    name = "points"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        found = read.statement(ctx.conn, ctx.client_id, ctx.period.label, now=ctx.now)
        if found is None:
            return {
                "enabled": False,
                "allotment_policy": None,
                "opening": 0,
                "closing": 0,
                "totals": dict.fromkeys(KINDS, 0),
                "charged": 0,
                "charges": [],
                "entries": [],
            }
        entries = [
            {
                "ts": e.ts,
                "kind": e.kind,
                "centipoints": e.centipoints,
                "balance": e.balance,
                "incident": e.incident,
                "request": e.request,
                "subject": e.subject,
                # What the ledger wrote itself (allotment, rollover, a charge's basis) is an
                # English log line; the report says it in the reader's words instead.
                "reason": None if e.actor == SYSTEM_ACTOR else e.reason,
                "cause": e.cause,
                "actor": e.actor,
            }
            for e in found.entries
        ]
        return {
            "enabled": True,
            "allotment_policy": found.allotment_policy,
            "opening": found.opening_balance,
            "closing": found.closing_balance,
            "totals": found.figures.by_kind(),
            "charged": -found.figures.charged,
            "charges": [e for e in entries if e["kind"] == "charge"],
            "entries": entries,
        }
