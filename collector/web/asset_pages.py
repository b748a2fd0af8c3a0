"""The asset overview page and its chart data (``/ui/assets/{id}``).

Health at a glance (state, open alerts, CPU, memory, disks with free space and forecast,
uptime, printer supplies, UPS), every series grouped by the check that sends it with units
from the agent's metric catalog (searchable), and interactive charts drawn in the browser
by the vendored uPlot (``static/vendor/uplot``) from :func:`series_data`, a JSON endpoint
behind the same session and tenant scope as the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from collector import timeutil
from collector.errors import NotFound
from collector.health import catalog, overview, timeseries
from collector.web import queries
from collector.web.routes import (
    PREFIX,
    SECURITY_HEADERS,
    ClientScope,
    IdParam,
    User,
    render,
    silence_threshold,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

RangeParam = Annotated[str, Query(max_length=4, pattern=r"^(1h|1d|7d|30d)$")]
SearchParam = Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$")]


@router.get("/assets/{asset_id}")
def asset_overview(
    request: Request,
    asset_id: IdParam,
    user: User,
    scope: ClientScope,
    q: SearchParam = "",
    range: RangeParam = "7d",
) -> Response:
    silent_after = silence_threshold(request.app.state.rules, request.app.state.settings)
    with request.app.state.store.read() as conn:
        health = overview.asset_health(
            conn, scope, asset_id, now=timeutil.now(), silent_after=silent_after
        )
        recent = queries.list_incidents(conn, scope, asset_id=asset_id, limit=50)
    needle = q.strip().lower()
    groups = [
        (
            check,
            [
                line
                for line in lines
                if not needle
                or needle in line.metric.lower()
                or needle in line.label_text.lower()
                or needle in check.lower()
            ],
        )
        for check, lines in health.groups
    ]
    groups = [(check, lines) for check, lines in groups if lines]
    key_charts = [g["series"] for g in health.gauges if g["percent"] is not None]
    key_charts += [d["series"] for d in health.disks]
    key_charts += [s["series"] for s in health.supplies if s["series"]]
    key_charts += [u["series"] for u in health.ups if u["percent"] is not None]
    lines_by_id = {line.id: line for _, lines in health.groups for line in lines}
    return render(
        request,
        "asset_overview.html",
        {
            "asset": health.asset,
            "health": health,
            "groups": groups,
            "shown": sum(len(lines) for _, lines in groups),
            "q": q,
            "range": range,
            "ranges": list(timeseries.RANGES),
            "key_charts": [lines_by_id[i] for i in key_charts if i in lines_by_id][:8],
            "incidents": recent,
        },
    )


@router.get("/assets/{asset_id}/series/{series_id}/data")
def series_data(
    request: Request,
    asset_id: IdParam,
    series_id: IdParam,
    user: User,
    scope: ClientScope,
    range: RangeParam = "7d",
    points: Annotated[int, Query(ge=10, le=timeseries.MAX_POINTS)] = timeseries.DEFAULT_POINTS,
) -> Response:
    """``{"t": [...], "avg": [...], "min": [...], "max": [...]}`` of one series (epoch seconds),
    at most ``points`` buckets, with the unit from the metric catalog."""
    until = timeutil.now()
    since = until - timeseries.range_seconds(range)
    with request.app.state.store.read() as conn:
        row = timeseries.series_row(conn, scope, series_id)
        if row.asset_id != asset_id:
            raise NotFound(f"no series with id {series_id} on asset {asset_id}")
        found, source = timeseries.series_points(
            conn, series_id, since=since, until=until, max_points=points
        )
    meta = catalog.info(row.metric)
    body = {
        "series": series_id,
        "asset": row.asset,
        "metric": row.metric,
        "labels": timeseries.labels_of(row),
        "unit": meta.unit,
        "states": {str(k): v for k, v in meta.states.items()},
        "range": range,
        "since": since,
        "until": until,
        "source": source,
        "t": [p.ts for p in found],
        "avg": [p.avg for p in found],
        "min": [p.min for p in found],
        "max": [p.max for p in found],
    }
    return JSONResponse(body, headers=SECURITY_HEADERS)
