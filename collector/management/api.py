"""HTTP endpoints of the management views (admin token): ``GET /api/v1/management/<view>``.

Every view takes ``since`` / ``until`` (ISO 8601; a time without zone is UTC; default: the
last 30 days up to now); the day/week view and time-vs-fee take ``tz`` (IANA name), the
first also ``bucket`` (day | week), top-problems ``limit``, time-vs-fee ``hourly_cost``
(default: the ``management_hourly_cost`` setting). Bad values answer 400/422 naming the
parameter; domain errors map to HTTP in ``collector.api``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from collector.api_auth import require_admin, responses
from collector.management import models as m
from collector.management.catalog import VIEWS, ViewQuery, compute
from collector.management.deps import Now
from collector.management.oncall import paths_of
from collector.management.periods import resolve_range
from collector.runtime import Runtime, RuntimeDep

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


#: ``/api/v1/management/<view>`` (admin token).
router = APIRouter(
    prefix="/api/v1/management",
    tags=["management"],
    responses=responses(400, 401, 403),
    dependencies=[Depends(require_admin)],
)


def run(
    runtime: Runtime,
    now: float,
    name: str,
    since: datetime | None,
    until: datetime | None,
    **params: Any,
) -> BaseModel:
    """The view ``name`` over the runtime's store for the range ``since``..``until``."""
    query = ViewQuery(
        span=resolve_range(since, until, now), oncall_paths=paths_of(runtime.settings), **params
    )
    with runtime.store.read() as conn:
        return compute(name, conn, query, now)


def created_resolved(
    runtime: RuntimeDep,
    now: Now,
    since: Since = None,
    until: Until = None,
    tz: Tz = "UTC",
    bucket: Bucket = "day",
) -> Any:
    return run(runtime, now, "created-resolved", since, until, timezone=tz, bucket=bucket)


def open_incidents(runtime: RuntimeDep, now: Now) -> Any:
    return run(runtime, now, "open-incidents", None, None)


def sla(runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None) -> Any:
    return run(runtime, now, "sla", since, until)


def technicians(runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None) -> Any:
    return run(runtime, now, "technicians", since, until)


def top_problems(
    runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None, limit: Limit = 10
) -> Any:
    return run(runtime, now, "top-problems", since, until, limit=limit)


def time_vs_fee(
    runtime: RuntimeDep,
    now: Now,
    since: Since = None,
    until: Until = None,
    tz: Tz = "UTC",
    hourly_cost: HourlyCost = None,
) -> Any:
    cost = hourly_cost if hourly_cost is not None else runtime.settings.management_hourly_cost
    return run(runtime, now, "time-vs-fee", since, until, timezone=tz, hourly_cost=cost)


def points(runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None) -> Any:
    return run(runtime, now, "points", since, until)


def connectors(runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None) -> Any:
    return run(runtime, now, "connectors", since, until)


def oncall(runtime: RuntimeDep, now: Now, since: Since = None, until: Until = None) -> Any:
    return run(runtime, now, "oncall", since, until)


def satisfaction(
    runtime: RuntimeDep,
    now: Now,
    since: Since = None,
    until: Until = None,
    tz: Tz = "UTC",
    client: Name = None,
    technician: Name = None,
) -> Any:
    return run(
        runtime,
        now,
        "satisfaction",
        since,
        until,
        timezone=tz,
        client=client,
        technician=technician,
    )


for _name, _endpoint in (
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
    router.add_api_route(
        f"/{_name}",
        _endpoint,
        methods=["GET"],
        response_model=RESPONSE_MODELS[_name],
        summary=VIEWS[_name].title,
        description=VIEWS[_name].description,
        name=f"management_{_name}",
    )
