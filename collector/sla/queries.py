"""SLA reads over a store for the API and the CLI (errors are domain errors)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from collector import admin, timeutil
from collector.contracts.model import parse_period
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument, NotFound
from collector.schema import incidents
from collector.sla.service import sla_section
from collector.sla.summary import compliance
from collector.store import Store


def compliance_for_period(
    store: Store, client: str, period: str, now: float | None = None
) -> dict[str, Any]:
    """:func:`collector.sla.compliance` for the contract period ``period`` (``YYYY-MM``)."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    with store.read() as conn:
        found = admin.get_client(conn, client)
        contract = get_contract(conn, found.id)
        if contract is None:
            raise NotFound(f"client {client!r} has no contract")
        start, end = contract.period_bounds(period)
        figures = compliance(conn, found.id, start, end, now)
    return {
        "client": found.name,
        "period": period,
        "start": start,
        "end": end,
        "timezone": contract.calendar.timezone,
        "priorities": figures["priorities"],
        "total": figures["total"],
    }


def incident_sla(store: Store, key: str, now: float | None = None) -> dict[str, Any] | None:
    """One incident's SLA section (None when no target applies)."""
    with store.read() as conn:
        incident_id = conn.execute(sa.select(incidents.c.id).where(incidents.c.key == key)).scalar()
        if incident_id is None:
            raise NotFound(f"no incident {key!r}")
        return sla_section(conn, incident_id, timeutil.now() if now is None else now)
