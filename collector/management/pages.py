"""Server-rendered management pages (``/ui/management``) for admins and technicians.

The web UI (``collector.web``) owns login, sessions, CSRF and the layout template
``base.html``; :data:`router` is defined here at module level and mounted by
``collector.web.install`` (through ``collector.management.web``). Its handlers take what they
need as FastAPI dependencies: the signed-in staff user (:func:`staff`, over the web UI's
``staff_user``), the page renderer (:func:`page_renderer`, the web UI's ``render``), the
collector's Runtime (store, settings) and "now" (``collector.management.deps.current_time``);
a test overrides any of them in ``app.dependency_overrides``. Each page renders one view of
:mod:`collector.management.catalog` as HTML tables plus inline SVG bar charts
(:mod:`collector.management.charts`): no JavaScript.

The range comes from a GET form (no CSRF needed: nothing changes): ``since`` / ``until`` as
local dates in ``tz`` (``until`` inclusive: the whole day) or local date-times (exclusive).
Empty fields mean the defaults (the last 30 days up to now).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from collector.contracts.model import format_points
from collector.errors import Forbidden, InvalidArgument
from collector.management import TEMPLATES_DIR, charts
from collector.management import models as m
from collector.management.catalog import VIEWS, ViewQuery, compute
from collector.management.deps import Now
from collector.management.oncall import paths_of
from collector.management.periods import resolve_range, time_zone
from collector.runtime import Runtime, RuntimeDep
from collector.web import routes

#: Roles that may see the management pages (client viewers get 403).
STAFF_ROLES = ("admin", "technician")
MAX_FIELD = 64


# ---------------------------------------------------------------------- the form (pure)


def _parse_local(text: str, tz_name: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (start of that day; with ``end``: start of the next) or ``YYYY-MM-DDTHH:MM``."""
    tz = time_zone(tz_name)
    try:
        if "T" in text or " " in text:
            return datetime.fromisoformat(text).replace(tzinfo=tz)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{'until' if end else 'since'}: {text!r} is not a date (YYYY-MM-DD)"
        ) from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), tz)


def form_query(
    params: Mapping[str, str], now: float, default_hourly_cost: Decimal
) -> tuple[ViewQuery, dict[str, str]]:
    """The view query of a page's GET form, and the values to show back in the form.

    Raises InvalidArgument naming the field (the page shows it above the form).
    """

    def field(name: str, default: str = "") -> str:
        value = (params.get(name) or "").strip()
        if len(value) > MAX_FIELD:
            raise InvalidArgument(f"{name}: at most {MAX_FIELD} characters")
        return value or default

    tz = field("tz", "UTC")
    time_zone(tz)
    since_text, until_text = field("since"), field("until")
    since = _parse_local(since_text, tz, end=False) if since_text else None
    until = _parse_local(until_text, tz, end=True) if until_text else None
    span = resolve_range(since, until, now)
    bucket = field("bucket", "day")
    if bucket not in ("day", "week"):
        raise InvalidArgument("bucket: day or week")
    try:
        limit = int(field("limit", "10"))
    except ValueError:
        raise InvalidArgument("limit: a whole number from 1 to 100") from None
    if not 1 <= limit <= 100:
        raise InvalidArgument("limit: a whole number from 1 to 100")
    try:
        cost = Decimal(field("hourly_cost", str(default_hourly_cost)))
    except InvalidOperation:
        raise InvalidArgument("hourly_cost: a number like 60 or 72.50") from None
    if not cost.is_finite() or not 0 <= cost <= 1_000_000:
        raise InvalidArgument("hourly_cost: between 0 and 1000000")
    zone = time_zone(tz)
    shown = {
        "since": since_text or datetime.fromtimestamp(span.since, zone).date().isoformat(),
        # The form shows the last day included (the range end is exclusive).
        "until": until_text or datetime.fromtimestamp(span.until - 1, zone).date().isoformat(),
        "tz": tz,
        "bucket": bucket,
        "limit": str(limit),
        "hourly_cost": str(cost),
        "client": field("client"),
        "technician": field("technician"),
    }
    query = ViewQuery(
        span=span,
        timezone=tz,
        bucket=bucket,  # type: ignore[arg-type]
        limit=limit,
        hourly_cost=cost,
        client=shown["client"] or None,
        technician=shown["technician"] or None,
    )
    return query, shown


# ---------------------------------------------------------------------- formatting for templates


class Formatter:
    """Number and time formatting the templates use (``fmt.minutes(95)`` → ``1 h 35 min``)."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.zone = time_zone(timezone)

    @staticmethod
    def minutes(value: int) -> str:
        hours, rest = divmod(int(value), 60)
        return f"{hours} h {rest:02d} min" if hours else f"{rest} min"

    @staticmethod
    def points(centipoints: int) -> str:
        return format_points(centipoints)

    @staticmethod
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} %"

    @staticmethod
    def money(value: Decimal | None, currency: str | None = None) -> str:
        if value is None:
            return "—"
        return f"{value:,.2f} {currency or ''}".strip()

    @staticmethod
    def rating(value: float | None) -> str:
        """An average rating: ``4.5 / 5``; ``—`` when none was given."""
        return "—" if value is None else f"{value:.1f} / 5"

    @staticmethod
    def age(seconds: float | None) -> str:
        if seconds is None:
            return "—"
        minutes = int(seconds // 60)
        if minutes < 60:
            return f"{minutes} min"
        hours = minutes // 60
        return (
            f"{hours} h {minutes % 60:02d} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"
        )

    def dt(self, value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------- charts per view


def view_charts(name: str, view: Any, fmt: Formatter) -> list[charts.Chart]:
    """The charts a view's page draws (pure: from the view's data)."""
    if name == "created-resolved":
        labels = [b.label[5:] for b in view.buckets]  # MM-DD
        return [
            charts.columns(
                "Incidents created and resolved",
                labels,
                [
                    ("created", [b.created for b in view.buckets]),
                    ("resolved", [b.resolved for b in view.buckets]),
                ],
            )
        ]
    if name == "open-incidents":
        return [
            charts.columns(
                "Open incidents by age",
                view.age_buckets,
                [(r.priority, [r.counts[a] for a in view.age_buckets]) for r in view.rows],
            )
        ]
    if name == "sla":
        return [
            charts.rows(
                "Resolution target met (%) per client",
                [(r.client, r.resolution.percent or 0.0) for r in view.clients],
            ),
            charts.rows(
                "Response target met (%) per client",
                [(r.client, r.response.percent or 0.0) for r in view.clients],
            ),
        ]
    if name == "technicians":
        people = [r for r in view.rows if not r.automatic]
        return [
            charts.rows(
                "Hours logged per person",
                [(r.actor, round(r.total_minutes / 60, 1)) for r in people],
            )
        ]
    if name == "oncall":
        return [
            charts.rows(
                "Median minutes to acknowledge, per priority",
                [(a.key, round(a.median_seconds / 60, 1)) for a in view.by_priority],
            ),
            charts.rows(
                "Nights on call per person",
                [(f"{r.name} ({r.rotation})", r.nights) for r in view.nights],
            ),
        ]
    if name == "top-problems":
        return [
            charts.rows(
                "Incidents per asset",
                [(f"{a.client}/{a.asset}", a.incidents) for a in view.assets_by_incidents],
            ),
            charts.rows(
                "Hours per client",
                [(c.client, round(c.minutes / 60, 1)) for c in view.clients_by_time],
            ),
        ]
    if name == "time-vs-fee":
        rows = [r for r in view.rows if r.fee is not None]
        return [
            charts.columns(
                "Cost of time vs fee",
                [r.client for r in rows],
                [
                    ("cost", [float(r.cost) for r in rows]),
                    ("fee", [float(r.fee or 0) for r in rows]),
                ],
            )
        ]
    if name == "points":
        return [
            charts.rows(
                "Points charged per client", [(c.client, c.charged / 100) for c in view.clients]
            )
        ]
    if name == "satisfaction":
        return [
            charts.rows(
                "Average rating per technician",
                [(t.key, t.average or 0.0) for t in view.by_technician],
            ),
            charts.rows(
                "Average rating per client", [(c.key, c.average or 0.0) for c in view.by_client]
            ),
        ]
    if name == "connectors":
        queues = view.connectors
        return [
            charts.columns(
                "Ticket outbox backlog",
                [q.name for q in queues],
                [
                    ("pending", [q.pending for q in queues]),
                    ("in flight", [q.in_flight for q in queues]),
                    ("failed", [q.failed for q in queues]),
                ],
            )
        ]
    return []


# ---------------------------------------------------------------------- the router


def _role(user: Any) -> str | None:
    if isinstance(user, Mapping):
        return user.get("role")
    return getattr(user, "role", None)


def ensure_loader(env: jinja2.Environment) -> None:
    """Make ``management/*.html`` loadable from ``env`` (adds this package's folder if needed)."""
    try:
        env.get_template("management/index.html")
    except jinja2.TemplateNotFound:
        extra = jinja2.FileSystemLoader(str(TEMPLATES_DIR))
        env.loader = jinja2.ChoiceLoader([env.loader, extra]) if env.loader is not None else extra


#: Where the pages live.
PREFIX = "/ui/management"
#: ``render(request, name, context, status_code=…)``: a page in the web UI's layout.
Renderer = Callable[..., Response]


def page_renderer() -> Renderer:
    """FastAPI dependency: the web UI's page renderer (fills ``user``, ``csrf_token``, its
    navigation and security headers). A test may put another in
    ``app.dependency_overrides``."""
    return routes.render


def staff(user: Annotated[Any, Depends(routes.staff_user)]) -> Any:
    """The signed-in user, if an admin or a technician (client viewers get 403)."""
    role = _role(user)
    if role is not None and role not in STAFF_ROLES:
        raise Forbidden("the management views are for admins and technicians")
    return user


Staff = Annotated[Any, Depends(staff)]
Render = Annotated[Renderer, Depends(page_renderer)]

#: The ``/ui/management`` pages (the web UI mounts them; not part of the API document).
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def run(
    request: Request, runtime: Runtime, now: float, names: list[str]
) -> tuple[dict[str, Any], dict[str, str], str | None, Formatter]:
    """The views ``names`` for the page's form; on a bad form: no results, the error, and the
    form as typed (shown back for correction)."""
    settings = runtime.settings
    try:
        query, form = form_query(request.query_params, now, settings.management_hourly_cost)
    except InvalidArgument as exc:
        return (
            {},
            {k: v[:MAX_FIELD] for k, v in request.query_params.items()},
            exc.detail,
            Formatter(),
        )
    query = dataclasses.replace(query, oncall_paths=paths_of(settings))
    with runtime.store.read() as conn:
        results = {name: compute(name, conn, query, now) for name in names}
    return results, form, None, Formatter(query.timezone)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request, user: Staff, render: Render, runtime: RuntimeDep, now: Now) -> Response:
    results, form, error, fmt = run(
        request, runtime, now, ["open-incidents", "sla", "time-vs-fee", "points", "connectors"]
    )
    headline: dict[str, Any] = {}
    if results:
        open_view: m.OpenByAge = results["open-incidents"]
        sla_view: m.SlaCompliance = results["sla"]
        fee_view: m.TimeVsFee = results["time-vs-fee"]
        points_view: m.PointsConsumption = results["points"]
        health: m.ConnectorHealth = results["connectors"]
        headline = {
            "open": open_view.total,
            "open_week": open_view.totals[">7d"],
            "sla_response": sla_view.overall.response.percent,
            "sla_resolution": sla_view.overall.resolution.percent,
            "loss_clients": fee_view.loss_clients,
            "overdrawn_clients": points_view.overdrawn_clients,
            "failed": sum(q.failed for q in health.connectors + health.notifications),
            "backlog": sum(
                q.pending + q.in_flight for q in health.connectors + health.notifications
            ),
        }
    context = {"headline": headline, "form": form, "error": error, "fmt": fmt, "current": None}
    return render(
        request,
        "management/index.html",
        {**context, "views": VIEWS, "prefix": PREFIX},
        status_code=400 if error else 200,
    )


def _page(name: str) -> Callable[..., Response]:
    """The endpoint of the page of view ``name``."""

    def endpoint(
        request: Request, user: Staff, render: Render, runtime: RuntimeDep, now: Now
    ) -> Response:
        results, form, error, fmt = run(request, runtime, now, [name])
        view = results.get(name)
        context = {
            "view": view,
            "meta": VIEWS[name],
            "form": form,
            "error": error,
            "fmt": fmt,
            "current": name,
            "charts": view_charts(name, view, fmt) if view is not None else [],
        }
        return render(
            request,
            f"management/{name}.html",
            {**context, "views": VIEWS, "prefix": PREFIX},
            status_code=400 if error else 200,
        )

    endpoint.__name__ = f"management_page_{name.replace('-', '_')}"
    return endpoint


for _name in VIEWS:
    router.add_api_route(f"/{_name}", _page(_name), methods=["GET"], response_class=HTMLResponse)
