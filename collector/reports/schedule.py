"""Scheduled reports: once a contract's period has ended (plus ``report_schedule_delay``, so
late samples and end-of-period charges are in), generate the report, archive it and queue it
to the client's ``reports`` contacts. Idempotent: one archived report per client, period and
format (:func:`collector.reports.archive.archive` with ``replace=False``), one e-mail per client
and period (the notification's dedupe key). A client that fails is logged and retried on the
next turn; the others go on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import sqlalchemy as sa

from collector.contracts.store import get_contract
from collector.reports.archive import ArchivedReport, archive, find
from collector.reports.period import last_completed, resolve
from collector.schema import clients, contracts
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)
ACTOR = "schedule"


@dataclass(frozen=True, slots=True)
class Due:
    client: str
    period: str


def due(
    store: Store, now: float, *, delay: float, fmt: str, catch_up: float = 7 * 86400.0
) -> list[Due]:
    """Clients with a contract whose last period ended between ``delay`` and ``catch_up`` ago
    and has no archived report in ``fmt`` yet."""
    out: list[Due] = []
    with store.read() as conn:
        rows = conn.execute(
            sa.select(clients.c.id, clients.c.name)
            .join(contracts, contracts.c.client_id == clients.c.id)
            .where(clients.c.enabled.is_(True))
            .order_by(clients.c.name)
        ).all()
        for row in rows:
            try:
                contract = get_contract(conn, row.id)
            except ValueError:  # a stored contract this version cannot read: skip it, not everyone
                log.exception("contract of %s cannot be read; no scheduled report for it", row.name)
                continue
            label = last_completed(contract, now - delay)
            if resolve(label, contract).end < now - catch_up:
                continue  # too old to send now; `upkeep report` makes it on request
            if find(conn, row.id, label, fmt) is None:
                out.append(Due(row.name, label))
    return out


def run_once(store: Store, settings: Settings, now: float | None = None) -> list[ArchivedReport]:
    """Generate, archive and e-mail every report that is due; returns the ones made now."""
    now = time.time() if now is None else now
    fmt = settings.report_schedule_format
    made = []
    for item in due(
        store,
        now,
        delay=settings.report_schedule_delay,
        fmt=fmt,
        catch_up=settings.report_schedule_catch_up,
    ):
        try:
            result = archive(
                store,
                settings.data_dir,
                item.client,
                item.period,
                fmt,
                actor=ACTOR,
                now=now,
                email=True,
                replace=False,
                max_bytes=settings.artefact_max_bytes,
            )
        except Exception:
            log.exception(
                "report of %s for %s failed; retrying on the next turn", item.client, item.period
            )
            continue
        if result.created:
            log.info(
                "archived the %s report of %s (%s, %d bytes)",
                item.period,
                item.client,
                fmt,
                result.bytes,
            )
            made.append(result)
    return made
