"""HTTP endpoints of the management views (admin token): ``GET /api/v1/management/<view>``.

Every view takes ``since`` / ``until`` (ISO 8601; a time without zone is UTC; default: the
last 30 days up to now); the day/week view and time-vs-fee take ``tz`` (IANA name), the
first also ``bucket`` (day | week), top-problems ``limit``, time-vs-fee ``hourly_cost``
(default: the ``management_hourly_cost`` setting). Bad values answer 400/422 naming the
parameter; domain errors map to HTTP in ``collector.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from collector import timeutil
from collector.management import models as m
from collector.management.catalog import VIEWS, ViewQuery, compute
from collector.management.oncall import paths_of
from collector.management.periods import resolve_range
from collector.settings import Settings
from collector.store import Store

#: What ``tz`` may look like (IANA names); anything else is refused before zoneinfo sees it.
TZ_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$"

Since = Annotated[
    datetime | None, Query(description="start of the range (inclusive); default until − 30 days")
]
Until = Annotated[datetime | None, Query(description="end of the range (exclusive); default now")]
Tz = Annotated[
    str,
    Query(
        description="IANA time zone of day/week/month boundaries", max_length=64, pattern=TZ_PATTERN
    ),
]
Bucket = Annotated[Literal["day", "week"], Query(description="bucket size")]
Limit = Annotated[int, Query(ge=1, le=100, description="rows per ranking")]
HourlyCost = Annotated[
    Decimal | None,
    Query(
        ge=0,
        le=1_000_000,
        max_digits=12,
        decimal_places=2,
        description="cost of one hour of work; default: the setting management_hourly_cost",
    ),
]

RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "created-resolved": m.CreatedResolved,
    "open-incidents": m.OpenByAge,
    "sla": m.SlaCompliance,
    "technicians": m.TechnicianWorkload,
    "top-problems": m.TopProblems,
    "time-vs-fee": m.TimeVsFee,
    "points": m.PointsConsumption,
    "connectors": m.ConnectorHealth,
    "oncall": m.OncallView,
    "satisfaction": m.SatisfactionView,
}
Name = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[^\x00-\x1f]+$", description="only this one's figures"),
]


def management_router(
    store: Store,
    settings: Settings,
    require_admin: Callable[..., Any],
    responses: dict[int | str, dict[str, Any]],
    *,
    clock: Callable[[], float] | None = None,
) -> APIRouter:
    """The management API over ``store``; ``clock`` gives "now" (default: ``timeutil.now``)."""
    router = APIRouter(
        prefix="/api/v1/management",
        tags=["management"],
        responses=responses,
        dependencies=[Depends(require_admin)],
    )

    def run(name: str, since: datetime | None, until: datetime | None, **params: Any) -> BaseModel:
        now = clock() if clock is not None else timeutil.now()
        query = ViewQuery(
            span=resolve_range(since, until, now), oncall_paths=paths_of(settings), **params
        )
        with store.read() as conn:
            return compute(name, conn, query, now)

    def add(name: str, endpoint: Callable[..., Any]) -> None:
        view = VIEWS[name]
        router.add_api_route(
            f"/{name}",
            endpoint,
            methods=["GET"],
            response_model=RESPONSE_MODELS[name],
            summary=view.title,
            description=view.description,
            name=f"management_{name}",
        )

    def created_resolved(
        since: Since = None, until: Until = None, tz: Tz = "UTC", bucket: Bucket = "day"
    ) -> Any:
        return run("created-resolved", since, until, timezone=tz, bucket=bucket)

    def open_incidents() -> Any:
        return run("open-incidents", None, None)

    def sla(since: Since = None, until: Until = None) -> Any:
        return run("sla", since, until)

    def technicians(since: Since = None, until: Until = None) -> Any:
        return run("technicians", since, until)

    def top_problems(since: Since = None, until: Until = None, limit: Limit = 10) -> Any:
        return run("top-problems", since, until, limit=limit)

    def time_vs_fee(
        since: Since = None, until: Until = None, tz: Tz = "UTC", hourly_cost: HourlyCost = None
    ) -> Any:
        cost = hourly_cost if hourly_cost is not None else settings.management_hourly_cost
        return run("time-vs-fee", since, until, timezone=tz, hourly_cost=cost)

    def points(since: Since = None, until: Until = None) -> Any:
        return run("points", since, until)

    def connectors(since: Since = None, until: Until = None) -> Any:
        return run("connectors", since, until)

    def oncall(since: Since = None, until: Until = None) -> Any:
        return run("oncall", since, until)

    def satisfaction(
        since: Since = None,
        until: Until = None,
        tz: Tz = "UTC",
        client: Name = None,
        technician: Name = None,
    ) -> Any:
        return run("satisfaction", since, until, timezone=tz, client=client, technician=technician)

    for name, endpoint in (
        ("oncall", oncall),
        ("created-resolved", created_resolved),
        ("open-incidents", open_incidents),
        ("sla", sla),
        ("technicians", technicians),
        ("top-problems", top_problems),
        ("time-vs-fee", time_vs_fee),
        ("points", points),
        ("connectors", connectors),
        ("satisfaction", satisfaction),
    ):
        add(name, endpoint)
    return router
