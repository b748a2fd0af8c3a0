"""A client's decision on a service-request estimate, made in the web UI (the one place).

:func:`decide` moves a request from ``awaiting_approval`` to ``approved`` (the estimate
becomes the cap the client agreed to) or ``rejected`` and appends a ``request_events`` row,
in one transaction. When the points ledger (``collector.ledger.requests``) is installed, its
``approve`` / ``reject`` do it (``via="portal"``), so an approval also books any charge that
waited for it; without it, the state change and event are written here, with an UPDATE
conditional on the state so that two clicks (or two viewers) cannot both decide. Either way
the request is first looked up through the viewer's scope.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Literal

import sqlalchemy as sa

from collector.errors import Forbidden, InvalidArgument
from collector.schema import request_events, service_requests
from collector.store import Store
from collector.web import queries
from collector.web.access import Scope
from collector.web.auth import WebUser

Decision = Literal["approve", "reject"]
_NEW_STATE = {"approve": "approved", "reject": "rejected"}


def decide(
    store: Store, scope: Scope, user: WebUser, key: str, decision: Decision, note: str, now: float
) -> str:
    """Record the client's decision on request ``key``; returns the new state."""
    if decision not in _NEW_STATE:
        raise InvalidArgument("decision must be approve or reject")
    if user.role != "client_viewer":
        # The estimate is the client's to accept; staff record phone/e-mail decisions elsewhere.
        raise Forbidden("only the client's own users approve or reject estimates")
    state = _NEW_STATE[decision]
    ledger = _ledger_requests()
    with store.write() as conn:
        row = queries.request_row(conn, scope, key)
        if ledger is not None:
            decide_there = ledger.approve if decision == "approve" else ledger.reject
            done = decide_there(
                conn, key, actor=user.username, via="portal", now=now, note=note or None
            )
            return str(done.get("state", state)) if isinstance(done, dict) else state
        if row.state != "awaiting_approval":
            raise InvalidArgument(f"request {key} is {row.state}, not awaiting approval")
        values: dict[str, object] = {
            "state": state,
            "decided_by": user.username,
            "decided_via": "portal",
            "decided_at": now,
            "decision_note": note or None,
            "updated_at": now,
        }
        if decision == "approve":
            values["approved_centipoints"] = row.estimate_centipoints
        done = conn.execute(
            service_requests.update()
            .where(service_requests.c.id == row.id, service_requests.c.state == "awaiting_approval")
            .values(**values)
        ).rowcount
        if done != 1:
            raise InvalidArgument(f"request {key} was decided meanwhile")
        conn.execute(
            request_events.insert().values(
                request_id=row.id,
                ts=now,
                actor=user.username,
                type=state,
                data={
                    "via": "portal",
                    "note": note,
                    "estimate_centipoints": row.estimate_centipoints,
                },
            )
        )
    return state


def _ledger_requests() -> ModuleType | None:
    """``collector.ledger.requests`` when it offers approve and reject, else None."""
    try:
        module = importlib.import_module("collector.ledger.requests")
    except ModuleNotFoundError as exc:
        if exc.name in ("collector.ledger", "collector.ledger.requests"):
            return None
        raise
    if callable(getattr(module, "approve", None)) and callable(getattr(module, "reject", None)):
        return module
    return None


def awaiting(conn: sa.Connection, scope: Scope) -> int:
    """How many requests in scope wait for the client's decision (for the dashboard)."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(service_requests)
        .where(
            scope.where(service_requests.c.client_id),
            service_requests.c.state == "awaiting_approval",
        )
    ).scalar_one()
