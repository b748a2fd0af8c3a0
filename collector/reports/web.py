"""The web UI's report actions beyond the archive list (``collector.web.routes``): publishing a
draft (staff). A module-level router, included by :func:`collector.api.create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from collector.web import routes
from collector.web.access import require_staff
from collector.web.routes import ClientScope, CsrfUser

router = APIRouter(include_in_schema=False)


@router.post(routes.PREFIX + "/reports/{report_id}/publish")
def publish_report(
    request: Request,
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    user: CsrfUser,
    scope: ClientScope,
) -> Response:
    """Release a draft to the client's viewers before its period ends."""
    from collector.reports.archive import publish

    require_staff(user)
    publish(request.app.state.store, report_id, actor=user.username)
    return routes.redirect(routes.PREFIX + "/reports")
