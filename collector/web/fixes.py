"""The web UI's "Run fix" (collector/remediation): staff queue the incident rule's action.

Policy ``technician`` queues the task at once; policy ``client`` creates the request the
client approves in the portal (Requests page) first. The outcome appears on the incident
as comments (queued, succeeded with its evidence, failed and left to the technician).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response

from collector.errors import InvalidArgument
from collector.remediation.keys import SigningKeyMissing
from collector.web.access import require_staff
from collector.web.routes import PREFIX, ClientScope, CsrfUser, KeyParam, redirect

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.post("/fixes/{key}")
def run_fix(
    request: Request,
    key: KeyParam,
    user: CsrfUser,
    scope: ClientScope,
    action: Annotated[str, Form(max_length=100, pattern=r"^[a-z0-9-]*$")] = "",
) -> Response:
    require_staff(user)
    from collector.web import queries

    with request.app.state.store.read() as conn:
        queries.incident_row(conn, scope, key)
    try:
        request.app.state.remediation.run_fix(key, user.username, action=action or None)
    except SigningKeyMissing as exc:
        raise InvalidArgument(str(exc)) from None
    return redirect(f"{PREFIX}/incidents/{quote(key)}")
