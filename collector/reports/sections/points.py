"""The points statement of the period: opening balance, allotment, charges (with the incident
or request they came from), top-ups and other entries, closing balance.

Reads ``ledger_entries`` directly (written by :mod:`collector.ledger`). The opening balance is
the sum of every entry of earlier periods; the closing balance adds this period's entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from collector.ledger.service import SYSTEM_ACTOR
from collector.reports.context import ReportContext
from collector.reports.sections import Section
from collector.schema import incidents, ledger_entries, service_requests

KINDS = ("allotment", "rollover", "charge", "topup", "adjustment", "expiry")


def charged(ctx: ReportContext, label: str) -> int:
    """Centipoints charged in period ``label`` (a positive number; for trends)."""
    total = ctx.conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0)).where(
            ledger_entries.c.client_id == ctx.client_id,
            ledger_entries.c.period == label,
            ledger_entries.c.kind == "charge",
        )
    ).scalar()
    return -int(total or 0)


class PointsStatement(Section):
    name = "points"

    def compute(self, ctx: ReportContext, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        label = ctx.period.label
        le = ledger_entries
        opening = int(
            ctx.conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(le.c.centipoints), 0)).where(
                    le.c.client_id == ctx.client_id, le.c.period < label
                )
            ).scalar()
            or 0
        )
        query = (
            sa.select(
                le.c.id,
                le.c.kind,
                le.c.centipoints,
                le.c.ts,
                le.c.actor,
                le.c.reason,
                incidents.c.key.label("incident"),
                service_requests.c.key.label("request"),
                service_requests.c.title.label("request_title"),
                incidents.c.title.label("incident_title"),
                incidents.c.cause.label("incident_cause"),
            )
            .select_from(
                le.outerjoin(incidents, incidents.c.id == le.c.incident_id).outerjoin(
                    service_requests, service_requests.c.id == le.c.request_id
                )
            )
            .where(le.c.client_id == ctx.client_id, le.c.period == label)
            .order_by(le.c.ts, le.c.id)
        )
        entries = []
        balance = opening
        totals = dict.fromkeys(KINDS, 0)
        for r in ctx.conn.execute(query):
            balance += int(r.centipoints)
            totals[r.kind] = totals.get(r.kind, 0) + int(r.centipoints)
            entries.append(
                {
                    "ts": r.ts,
                    "kind": r.kind,
                    "centipoints": int(r.centipoints),
                    "balance": balance,
                    "incident": r.incident,
                    "request": r.request,
                    "subject": r.incident_title or r.request_title,
                    # What the ledger wrote itself (allotment, rollover, a charge's basis) is an
                    # English log line; the report says it in the reader's words instead.
                    "reason": None if r.actor == SYSTEM_ACTOR else r.reason,
                    "cause": r.incident_cause if r.kind == "charge" else None,
                    "actor": r.actor,
                }
            )
        policy = ctx.contract.points if ctx.contract is not None else None
        return {
            "enabled": policy is not None or bool(entries) or opening != 0,
            "allotment_policy": policy.allotment if policy is not None else None,
            "opening": opening,
            "closing": balance,
            "totals": totals,
            "charged": -totals.get("charge", 0),
            "charges": [e for e in entries if e["kind"] == "charge"],
            "entries": entries,
        }
