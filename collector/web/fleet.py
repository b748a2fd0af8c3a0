"""The fleet overview (``/ui/fleet``): clients → sites → assets, worst state first, with
open incidents, silent agents (the loaded rules' one definition of silent) and the disks and
supplies that run out within N days; filters by client, site, state and horizon; every row
links down (client → its sites, site → its assets, asset → the asset overview)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from collector import timeutil
from collector.errors import InvalidArgument
from collector.health import overview
from collector.web import queries
from collector.web.routes import PREFIX, ClientScope, User, render, silence_threshold

router = APIRouter(prefix=PREFIX, include_in_schema=False)

NameQuery = Annotated[str, Query(max_length=100, pattern=r"^[^\x00]*$")]
DEFAULT_HORIZON_DAYS = 14
MAX_HORIZON_DAYS = 365


@router.get("/fleet")
def fleet_overview(
    request: Request,
    user: User,
    scope: ClientScope,
    client: NameQuery = "",
    site: NameQuery = "",
    state: Annotated[str, Query(max_length=20)] = "",
    days: Annotated[int, Query(ge=1, le=MAX_HORIZON_DAYS)] = DEFAULT_HORIZON_DAYS,
    problems: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    if state and state not in overview.STATES:
        raise InvalidArgument(f"state: must be one of {', '.join(overview.STATES)}")
    now = timeutil.now()
    silent_after = silence_threshold(request.app.state.rules, request.app.state.settings)
    with request.app.state.store.read() as conn:
        if client:
            queries.client_by_name(conn, scope, client)  # NotFound for another client's name
        options = queries.client_options(conn, scope)
        nodes = overview.fleet(
            conn,
            scope,
            now=now,
            silent_after=silent_after,
            horizon_days=days,
            client=client or None,
            site=site or None,
        )
    if state or problems:
        wanted = {state} if state else set(overview.STATES) - {"ok"}
        for c in nodes:
            for s in c.children:
                s.children = [a for a in s.children if a.state in wanted]
            c.children = [s for s in c.children if s.children or s.state in wanted]
        nodes = [c for c in nodes if c.children]
    totals = overview.FleetNode("all")
    for c in nodes:
        totals.add(c)
    return render(
        request,
        "fleet.html",
        {
            "nodes": nodes,
            "totals": totals,
            "clients": options,
            "states": overview.STATES,
            "filters": {
                "client": client,
                "site": site,
                "state": state,
                "days": days,
                "problems": bool(problems),
            },
            "silent_after": silent_after,
        },
    )
