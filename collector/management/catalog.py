"""The list of management views and how a request's parameters become one.

:data:`VIEWS` is the one registry (URL name → title, description, what parameters it uses);
the API (:mod:`collector.management.api`) and the web pages (:mod:`collector.management.pages`)
both serve exactly these views through :func:`compute`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.engine import Connection

from collector.management import views
from collector.management.oncall import oncall_view
from collector.management.periods import BucketUnit, TimeRange, time_zone
from collector.management.satisfaction import satisfaction_view


@dataclass(frozen=True, slots=True)
class View:
    """One management view: its title and description, and the parameters it reads."""

    title: str
    description: str
    #: False: a snapshot of now (since/until only bound the "delivered" counts, if anything).
    ranged: bool = True
    zoned: bool = False


VIEWS: dict[str, View] = {
    "created-resolved": View(
        "Created vs resolved", "Incidents opened and resolved per day or week.", zoned=True
    ),
    "open-incidents": View(
        "Open incidents by age", "Unresolved incidents now, by age and priority.", ranged=False
    ),
    "sla": View(
        "SLA compliance",
        "Response and resolution targets met vs breached, per client and priority.",
    ),
    "technicians": View(
        "Technicians", "Time logged and incidents acknowledged/resolved per person."
    ),
    "top-problems": View(
        "Top problems", "Assets and clients with the most incidents and the most time."
    ),
    "time-vs-fee": View(
        "Time vs fee",
        "Hours spent × hourly cost against each client's fee; loss makers first.",
        zoned=True,
    ),
    "points": View("Points", "Points charged per client and period, balances and overdrafts."),
    "connectors": View(
        "Connectors' health", "Ticket outbox and client notifications: backlog and failures."
    ),
    "oncall": View(
        "On-call", "Time to acknowledge pages per priority and person; who carried the most nights."
    ),
    "satisfaction": View(
        "Satisfaction",
        "Clients' closing ratings (1–5) per client, technician and month, with averages.",
        zoned=True,
    ),
}


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """The parameters of one view request, already resolved to a range and a zone name."""

    span: TimeRange
    timezone: str = "UTC"
    bucket: BucketUnit = "day"
    limit: int = 10
    hourly_cost: Decimal = Decimal(60)
    #: The on-call files (settings.oncall_paths), for the on-call view's rotations.
    oncall_paths: tuple[str, ...] = ()
    #: Only this client's / technician's figures (the satisfaction view); None: everyone's.
    client: str | None = None
    technician: str | None = None


def compute(name: str, conn: Connection, query: ViewQuery, now: float) -> BaseModel:
    """Run view ``name`` (a key of :data:`VIEWS`) with ``query``; raises InvalidArgument on bad input."""
    runners: dict[str, Callable[[], BaseModel]] = {
        "created-resolved": lambda: views.created_vs_resolved(
            conn, query.span, time_zone(query.timezone), query.bucket
        ),
        "open-incidents": lambda: views.open_by_age(conn, now),
        "sla": lambda: views.sla_compliance(conn, query.span, now),
        "technicians": lambda: views.technician_workload(conn, query.span),
        "top-problems": lambda: views.top_problems(conn, query.span, query.limit),
        "time-vs-fee": lambda: views.time_vs_fee(
            conn, query.span, time_zone(query.timezone), query.hourly_cost
        ),
        "points": lambda: views.points_consumption(conn, query.span),
        "connectors": lambda: views.connector_health(conn, query.span, now),
        "oncall": lambda: oncall_view(conn, query.span, query.oncall_paths),
        "satisfaction": lambda: satisfaction_view(
            conn,
            query.span,
            time_zone(query.timezone),
            client=query.client,
            technician=query.technician,
        ),
    }
    return runners[name]()
