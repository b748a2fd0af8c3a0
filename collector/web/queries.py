"""What the web UI's pages show, read straight from the store and filtered by a :class:`Scope`.

Every function that reads client-owned rows takes the caller's scope and applies it in SQL
(lists) or with :meth:`Scope.check` (one row, which then answers "not found" for another
client's row). Functions return plain dicts and rows for the templates.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import format_points
from collector.contracts.store import get_contract
from collector.errors import NotFound
from collector.incidents import read as incidents_read
from collector.ledger import read as ledger_read
from collector.schema import (
    agents,
    assets,
    clients,
    outbox,
    reports,
    request_events,
    rule_alerts,
    service_requests,
    sites,
    tickets,
)
from collector.sla import summary as sla_summary
from collector.web.access import Scope

OPEN_STATES = incidents_read.OPEN_STATES
STATES = (*OPEN_STATES, "resolved", "closed")
PRIORITIES = ("critical", "major", "minor", "technical")
ORIGINS = ("proactive", "external", "user_reported")
CAUSES = ("wear", "hardware", "software", "client_error", "third_party", "provider", "unknown")


def points(centipoints: int | None) -> str:
    return format_points(int(centipoints or 0))


# ---------------------------------------------------------------------- clients


def client_options(conn: Connection, scope: Scope) -> Sequence[Any]:
    return conn.execute(
        sa.select(clients.c.id, clients.c.name)
        .where(scope.where(clients.c.id))
        .order_by(clients.c.name)
    ).all()


def client_by_name(conn: Connection, scope: Scope, name: str) -> Any:
    row = conn.execute(sa.select(clients).where(clients.c.name == name)).first()
    if row is None:
        raise NotFound(f"no client named {name!r}")
    scope.check(row.id, f"client named {name!r}")
    return row


def balances(conn: Connection, scope: Scope) -> dict[int, int]:
    """Points balance (centipoints) per client in scope (the ledger's read model)."""
    return ledger_read.balances(conn, scope.client_ids)


def list_clients(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    asset_counts: dict[int, int] = dict(
        conn.execute(
            sa.select(assets.c.client_id, sa.func.count())
            .where(scope.where(assets.c.client_id))
            .group_by(assets.c.client_id)
        ).all()
    )
    open_counts = incidents_read.open_counts(conn, per="client", ids=scope.client_ids)
    balance = balances(conn, scope)
    out = []
    for row in conn.execute(
        sa.select(clients).where(scope.where(clients.c.id)).order_by(clients.c.name)
    ):
        contract = _contract(conn, row.id)
        out.append(
            {
                "id": row.id,
                "name": row.name,
                "enabled": row.enabled,
                "assets": asset_counts.get(row.id, 0),
                "open_incidents": open_counts.get(row.id, 0),
                "balance": points(balance.get(row.id)) if row.id in balance else None,
                "plan": contract.plan.name if contract is not None else None,
            }
        )
    return out


def _contract(conn: Connection, client_id: int) -> Any:
    try:
        return get_contract(conn, client_id)
    except Exception:  # a stored contract the model no longer accepts must not break the page
        return None


def contract_summary(contract: Any) -> dict[str, Any] | None:
    """The contract facts a client page shows (None: no contract)."""
    if contract is None:
        return None
    sla = []
    for priority in PRIORITIES:
        targets = getattr(contract.sla, priority)
        if targets is None:
            continue
        sla.append(
            {
                "priority": priority,
                "response": _duration(targets.response.within) if targets.response else "-",
                "resolution": _duration(targets.resolution.within) if targets.resolution else "-",
            }
        )
    policy = contract.points
    return {
        "plan": contract.plan.name,
        "fee": f"{contract.plan.monthly_fee} {contract.plan.currency}",
        "language": contract.language,
        "period_start_day": contract.period.start_day,
        "timezone": contract.calendar.timezone,
        "sla": sla,
        "allotment": points(policy.allotment) if policy is not None else None,
        "contacts": [
            {"name": c.name, "email": c.email, "receives": ", ".join(c.receives)}
            for c in contract.contacts
        ],
        "maintenance_tasks": [
            {"title": t.title, "every": t.every} for t in contract.maintenance_tasks
        ],
    }


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def client_page(conn: Connection, scope: Scope, name: str) -> dict[str, Any]:
    row = client_by_name(conn, scope, name)
    statement = ledger_read.statement(conn, row.id)
    asset_rows = conn.execute(
        sa.select(assets, sites.c.name.label("site"))
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(assets.c.client_id == row.id)
        .order_by(assets.c.name)
    ).all()
    return {
        "client": row,
        "contract": contract_summary(_contract(conn, row.id)),
        "balance": points(statement.closing_balance) if statement is not None else None,
        "assets": asset_rows,
        "statement": _statement(statement),
        "open_incidents": list_incidents(
            conn, scope, client_id=row.id, states=OPEN_STATES, limit=50
        ),
    }


def _statement(s: ledger_read.Statement | None) -> dict[str, Any] | None:
    """The current period's points statement as the client page shows it."""
    if s is None:
        return None
    f = s.figures
    return {
        "period": s.period,
        "opening": points(f.opening_balance),
        "allotment": points(f.allotment),
        "rollover": points(f.rollover_in + f.rollover_out),
        "charged": points(-f.charged),
        "topped_up": points(f.topped_up),
        "adjusted": points(f.adjusted),
        "expired": points(f.expired),
        "closing": points(f.closing_balance),
        "entries": [
            {
                "ts": e.ts,
                "kind": e.kind,
                "points": points(e.centipoints),
                "balance": points(e.balance),
                "ref": " ".join(x for x in (e.incident, e.request) if x) or None,
                "reason": e.reason,
            }
            for e in reversed(s.entries)
        ],
    }


# ---------------------------------------------------------------------- incidents


def list_incidents(
    conn: Connection,
    scope: Scope,
    *,
    client_id: int | None = None,
    states: tuple[str, ...] | None = None,
    priority: str | None = None,
    origin: str | None = None,
    asset_id: int | None = None,
    limit: int = 200,
) -> Sequence[Any]:
    return incidents_read.listing(
        conn,
        client_ids=scope.client_ids,
        client_id=client_id,
        states=states,
        priority=priority,
        origin=origin,
        asset_id=asset_id,
        limit=limit,
    )


def open_incidents(conn: Connection, scope: Scope, limit: int = 100) -> Sequence[Any]:
    return incidents_read.most_urgent_open(conn, client_ids=scope.client_ids, limit=limit)


def incident_row(conn: Connection, scope: Scope, key: str) -> Any:
    row = incidents_read.by_key(conn, key)
    if row is None:
        raise NotFound(f"no incident {key!r}")
    scope.check(row.client_id, f"incident {key!r}")
    return row


def incident_sla_row(conn: Connection, incident_id: int) -> Any:
    """The incident's SLA clock (the SLA read model)."""
    return sla_summary.incident_clock(conn, incident_id)


def ticket_sync(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """Per connector: the ticket (if created) and the newest outbox row's delivery state."""
    refs = {
        t.connector: t
        for t in conn.execute(sa.select(tickets).where(tickets.c.incident_id == incident_id))
    }
    newest: dict[str, Any] = {}
    pending: dict[str, int] = defaultdict(int)
    for row in conn.execute(
        sa.select(outbox).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
    ):
        newest[row.connector] = row
        if row.state in ("pending", "in_flight"):
            pending[row.connector] += 1
    out = []
    for connector in sorted(set(refs) | set(newest)):
        ref, last = refs.get(connector), newest.get(connector)
        out.append(
            {
                "connector": connector,
                "external_id": ref.external_id if ref else None,
                "url": ref.url if ref else None,
                "closed_remotely_at": ref.closed_remotely_at if ref else None,
                "state": last.state if last else None,
                "action": last.action if last else None,
                "attempts": last.attempts if last else 0,
                "last_error": last.last_error if last else None,
                "delivered_at": last.delivered_at if last else None,
                "pending": pending[connector],
            }
        )
    return out


def sla_at_risk(
    conn: Connection, scope: Scope, *, now: float, window: float, limit: int = 100
) -> list[dict[str, Any]]:
    """Running SLA clocks whose response or resolution is due within ``window`` or overdue
    (the SLA read model, :func:`collector.sla.summary.at_risk`)."""
    return [
        asdict(r)
        for r in sla_summary.at_risk(
            conn, now=now, window=window, client_ids=scope.client_ids, limit=limit
        )
    ]


def silent_agents(conn: Connection, scope: Scope, *, now: float, after: float) -> Sequence[Any]:
    return conn.execute(
        sa.select(
            agents.c.id,
            agents.c.hostname,
            agents.c.last_seen,
            agents.c.version,
            clients.c.name.label("client"),
            sites.c.name.label("site"),
        )
        .join(clients, clients.c.id == agents.c.client_id)
        .outerjoin(sites, sites.c.id == agents.c.site_id)
        .where(scope.where(agents.c.client_id), agents.c.last_seen < now - after)
        .order_by(agents.c.last_seen)
    ).all()


# ---------------------------------------------------------------------- assets and alerts


def _alerts_query() -> sa.Select:
    return (
        sa.select(rule_alerts, clients.c.name.label("client"), assets.c.name.label("asset"))
        .join(clients, clients.c.id == rule_alerts.c.client_id)
        .join(assets, assets.c.id == rule_alerts.c.asset_id)
        .where(rule_alerts.c.status.in_(("firing", "pending")))
    )


def alerts(
    conn: Connection, scope: Scope, *, asset_id: int | None = None, limit: int = 500
) -> Sequence[Any]:
    query = _alerts_query().where(scope.where(rule_alerts.c.client_id))
    if asset_id is not None:
        query = query.where(rule_alerts.c.asset_id == asset_id)
    return conn.execute(
        query.order_by(
            rule_alerts.c.status, clients.c.name, assets.c.name, rule_alerts.c.rule_id
        ).limit(limit)
    ).all()


def alert_count(conn: Connection, scope: Scope) -> int:
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(rule_alerts)
        .where(
            scope.where(rule_alerts.c.client_id), rule_alerts.c.status.in_(("firing", "pending"))
        )
    ).scalar_one()


# ---------------------------------------------------------------------- reports


def _report_states(conn: Connection, rows: Sequence[Any], now: float) -> list[dict[str, Any]]:
    from collector.reports.states import is_draft, mail_state

    out = []
    for r in rows:
        state, error, accepted = mail_state(conn, r)
        out.append(
            {
                **r._asdict(),
                "email_state": state,
                "email_error": error,
                "emailed_at": accepted,
                "draft": is_draft(r, now),
            }
        )
    return out


def _drafts_hidden(scope: Scope, now: float) -> Any:
    """Client viewers do not see drafts (reports of a running period not published)."""
    if scope.everything:
        return sa.true()
    from collector.reports.states import visible_to_clients

    return visible_to_clients(now)


def list_reports(
    conn: Connection, scope: Scope, limit: int = 500, now: float | None = None
) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    rows = conn.execute(
        sa.select(reports, clients.c.name.label("client"))
        .join(clients, clients.c.id == reports.c.client_id)
        .where(scope.where(reports.c.client_id), _drafts_hidden(scope, now))
        .order_by(reports.c.generated_at.desc(), reports.c.id.desc())
        .limit(limit)
    ).all()
    return _report_states(conn, rows, now)


def report_row(conn: Connection, scope: Scope, report_id: int, now: float | None = None) -> Any:
    now = time.time() if now is None else now
    row = conn.execute(
        sa.select(reports, clients.c.name.label("client"))
        .join(clients, clients.c.id == reports.c.client_id)
        .where(reports.c.id == report_id, _drafts_hidden(scope, now))
    ).first()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    scope.check(row.client_id, f"report with id {report_id}")
    return row


# ---------------------------------------------------------------------- service requests


def _request_query() -> sa.Select:
    return sa.select(service_requests, clients.c.name.label("client")).join(
        clients, clients.c.id == service_requests.c.client_id
    )


def list_requests(conn: Connection, scope: Scope, limit: int = 500) -> Sequence[Any]:
    awaiting_first = sa.case((service_requests.c.state == "awaiting_approval", 0), else_=1)
    return conn.execute(
        _request_query()
        .where(scope.where(service_requests.c.client_id))
        .order_by(awaiting_first, service_requests.c.created_at.desc())
        .limit(limit)
    ).all()


def request_row(conn: Connection, scope: Scope, key: str) -> Any:
    row = conn.execute(_request_query().where(service_requests.c.key == key)).first()
    if row is None:
        raise NotFound(f"no service request {key!r}")
    scope.check(row.client_id, f"service request {key!r}")
    return row


def request_history(conn: Connection, request_id: int) -> Sequence[Any]:
    return conn.execute(
        sa.select(request_events)
        .where(request_events.c.request_id == request_id)
        .order_by(request_events.c.id)
    ).all()
