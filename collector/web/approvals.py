"""A client's decision on a service-request estimate, made in the web UI (the one place).

:func:`decide` moves a request from ``awaiting_approval`` to ``approved`` (the estimate
becomes the cap the client agreed to) or ``rejected`` and appends a ``request_events`` row,
in one transaction. The UPDATE is conditional on the state, so two clicks (or two viewers)
cannot both decide. When the ledger's own request workflow grows a decision function, this
is the function to point at it.
"""

from __future__ import annotations

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


def decide(store: Store, scope: Scope, user: WebUser, key: str, decision: Decision, note: str,
           now: float) -> str:
    """Record the client's decision on request ``key``; returns the new state."""
    if decision not in _NEW_STATE:
        raise InvalidArgument("decision must be approve or reject")
    if user.role != "client_viewer":
        # The estimate is the client's to accept; staff record phone/e-mail decisions elsewhere.
        raise Forbidden("only the client's own users approve or reject estimates")
    state = _NEW_STATE[decision]
    with store.write() as conn:
        row = queries.request_row(conn, scope, key)
        if row.state != "awaiting_approval":
            raise InvalidArgument(f"request {key} is {row.state}, not awaiting approval")
        values: dict[str, object] = {"state": state, "decided_by": user.username, "decided_via": "portal",
                                     "decided_at": now, "decision_note": note or None, "updated_at": now}
        if decision == "approve":
            values["approved_centipoints"] = row.estimate_centipoints
        done = conn.execute(service_requests.update()
                            .where(service_requests.c.id == row.id,
                                   service_requests.c.state == "awaiting_approval")
                            .values(**values)).rowcount
        if done != 1:
            raise InvalidArgument(f"request {key} was decided meanwhile")
        conn.execute(request_events.insert().values(
            request_id=row.id, ts=now, actor=user.username, type=state,
            data={"via": "portal", "note": note, "estimate_centipoints": row.estimate_centipoints}))
    return state


def awaiting(conn: sa.Connection, scope: Scope) -> int:
    """How many requests in scope wait for the client's decision (for the dashboard)."""
    return conn.execute(sa.select(sa.func.count()).select_from(service_requests)
                        .where(scope.where(service_requests.c.client_id),
                               service_requests.c.state == "awaiting_approval")).scalar_one()
