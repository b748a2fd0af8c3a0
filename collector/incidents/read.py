"""The incidents' read model for period figures: what the monthly report (and anyone showing a
period's incidents) reads, typed; nobody else reads ``incidents``, ``incident_events`` or
``time_entries`` for a period's figures (tests/collector/test_read_model_boundaries.py lists
the readers not moved yet).

- :func:`opened_in` — the client's incidents opened in a range, each with its time to
  resolve and the minutes spent on it;
- :func:`summarize` — their counts by origin group, priority, asset and cause, how many are
  resolved and the mean time to resolve (MTTR);
- :func:`origin_counts` — opened per origin group, counted in SQL (trends);
- :func:`recurring` — the assets with the most incidents in a range, with what recurred on
  them (rules, causes, kinds): the input of the recurring-problems recommendation;
- :func:`open_counts` — open (active) incidents per client or per asset (the web UI's lists,
  the fleet overview); :func:`listing`, :func:`most_urgent_open` and :func:`by_key` — the rows
  the web UI lists (each with its client's name).

An incident counts in the range it was *opened* in; it is resolved when it has a resolution
time (or, closed without one, its closing time). The origin groups are ``proactive``
(monitoring: rules, Alertmanager) and ``user_reported`` (a person told us).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.incidents.lifecycle import ACTIVE
from collector.schema import clients, incidents, time_entries

PRIORITY_ORDER = ("critical", "major", "minor", "technical")
ORIGIN_GROUPS = ("proactive", "user_reported")
#: The states of an open incident (not resolved or closed).
OPEN_STATES = ACTIVE


def origin_group(origin: str) -> str:
    """``proactive`` (rules, Alertmanager) or ``user_reported`` (a person told us)."""
    return "user_reported" if origin == "user_reported" else "proactive"


@dataclass(frozen=True, slots=True)
class PeriodIncident:
    """An incident opened in the range, as a period's figures see it."""

    key: str
    title: str
    asset: str | None
    site: str | None
    rule: str | None
    priority: str
    origin: str  # the origin group (see :func:`origin_group`)
    kind: str | None
    cause: str | None
    state: str
    opened_at: float
    resolved_at: float | None  # resolved, or closed without a resolution
    minutes_spent: int
    resolution_note: str | None

    @property
    def time_to_resolve(self) -> float | None:
        return None if self.resolved_at is None else round(self.resolved_at - self.opened_at, 3)


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """Counts over a range's incidents; ``mean_time_to_resolve`` over the resolved ones
    (None when none is)."""

    total: int
    by_origin: dict[str, int]
    by_priority: dict[str, dict[str, int]]  # priority → origin group → count
    by_asset: dict[str | None, int]
    by_cause: list[tuple[str | None, int]]  # most first, then by cause (unknown last)
    resolved: int
    mean_time_to_resolve: float | None
    minutes_spent: int


def opened_in(conn: Connection, client_id: int, start: float, end: float) -> list[PeriodIncident]:
    """The client's incidents opened in ``[start, end)``, oldest first."""
    spent = (
        sa.select(time_entries.c.incident_id, sa.func.sum(time_entries.c.minutes).label("minutes"))
        .where(time_entries.c.incident_id.is_not(None))
        .group_by(time_entries.c.incident_id)
        .subquery()
    )
    query = (
        sa.select(incidents, spent.c.minutes)
        .select_from(incidents.outerjoin(spent, spent.c.incident_id == incidents.c.id))
        .where(
            incidents.c.client_id == client_id,
            incidents.c.opened_at >= start,
            incidents.c.opened_at < end,
        )
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    return [
        PeriodIncident(
            key=r.key,
            title=r.title,
            asset=r.asset,
            site=r.site,
            rule=r.rule,
            priority=r.priority,
            origin=origin_group(r.origin),
            kind=r.kind,
            cause=r.cause,
            state=r.state,
            opened_at=r.opened_at,
            resolved_at=r.resolved_at if r.resolved_at is not None else r.closed_at,
            minutes_spent=int(r.minutes or 0),
            resolution_note=r.resolution_note,
        )
        for r in conn.execute(query)
    ]


def summarize(items: Sequence[PeriodIncident]) -> IncidentSummary:
    by_priority = {p: dict.fromkeys(ORIGIN_GROUPS, 0) for p in PRIORITY_ORDER}
    for i in items:
        by_priority.setdefault(i.priority, dict.fromkeys(ORIGIN_GROUPS, 0))[i.origin] += 1
    causes = Counter(i.cause for i in items)
    resolved = [t for t in (i.time_to_resolve for i in items) if t is not None]
    return IncidentSummary(
        total=len(items),
        by_origin={g: sum(1 for i in items if i.origin == g) for g in ORIGIN_GROUPS},
        by_priority=by_priority,
        by_asset=dict(Counter(i.asset for i in items)),
        by_cause=sorted(causes.items(), key=lambda c: (-c[1], c[0] or "~")),
        resolved=len(resolved),
        mean_time_to_resolve=round(sum(resolved) / len(resolved), 3) if resolved else None,
        minutes_spent=sum(i.minutes_spent for i in items),
    )


def origin_counts(conn: Connection, client_id: int, start: float, end: float) -> dict[str, int]:
    """Incidents opened in ``[start, end)`` per origin group."""
    query = (
        sa.select(incidents.c.origin, sa.func.count().label("n"))
        .where(
            incidents.c.client_id == client_id,
            incidents.c.opened_at >= start,
            incidents.c.opened_at < end,
        )
        .group_by(incidents.c.origin)
    )
    out = dict.fromkeys(ORIGIN_GROUPS, 0)
    for r in conn.execute(query):
        out[origin_group(r.origin)] += int(r.n)
    return out


@dataclass(frozen=True, slots=True)
class Occurrence:
    rule: str | None
    cause: str | None
    kind: str | None
    title: str


@dataclass(frozen=True, slots=True)
class RecurringAsset:
    """An asset with repeated incidents: how many in the range, how many since ``recent``,
    and each one's rule, cause and kind (oldest first)."""

    asset: str
    incidents: int
    recent: int
    occurrences: tuple[Occurrence, ...] = field(default_factory=tuple)


def recurring(
    conn: Connection,
    client_id: int,
    start: float,
    end: float,
    *,
    recent: float,
    at_least: int = 2,
    top: int = 5,
) -> list[RecurringAsset]:
    """The ``top`` assets with at least ``at_least`` incidents opened in ``[start, end)``,
    most first (then by name); ``recent``: the start of the part counted separately."""
    where = (
        incidents.c.client_id == client_id,
        incidents.c.opened_at >= start,
        incidents.c.opened_at < end,
        incidents.c.asset.is_not(None),
    )
    found = conn.execute(
        sa.select(
            incidents.c.asset,
            sa.func.count().label("n"),
            sa.func.sum(sa.case((incidents.c.opened_at >= recent, 1), else_=0)).label("now"),
        )
        .where(*where)
        .group_by(incidents.c.asset)
        .having(sa.func.count() >= at_least)
        .order_by(sa.func.count().desc(), incidents.c.asset)
        .limit(top)
    ).all()
    names = [r.asset for r in found]
    details: dict[str, list[Occurrence]] = {n: [] for n in names}
    if names:
        rows: Any = conn.execute(
            sa.select(
                incidents.c.asset,
                incidents.c.rule,
                incidents.c.cause,
                incidents.c.kind,
                incidents.c.title,
            )
            .where(*where, incidents.c.asset.in_(names))
            .order_by(incidents.c.opened_at)
        )
        for r in rows:
            details[r.asset].append(Occurrence(r.rule, r.cause, r.kind, r.title))
    return [
        RecurringAsset(r.asset, int(r.n), int(r.now or 0), tuple(details[r.asset])) for r in found
    ]


# ---------------------------------------------------------------------- open incidents, lists


def open_counts(
    conn: Connection,
    *,
    per: Literal["client", "asset"],
    ids: Collection[int] | None = None,
    without_asset: bool = False,
) -> dict[int, int]:
    """Open incidents per client id or per asset id (of ``ids``; None: all);
    ``without_asset``: only those with no asset (reported by phone)."""
    column = incidents.c.client_id if per == "client" else incidents.c.asset_id
    query = (
        sa.select(column, sa.func.count())
        .where(incidents.c.state.in_(OPEN_STATES), column.is_not(None))
        .group_by(column)
    )
    if without_asset:
        query = query.where(incidents.c.asset_id.is_(None))
    if ids is not None:
        query = query.where(column.in_(sorted(ids)))
    return {int(k): int(n) for k, n in conn.execute(query).all()}


def _listing() -> sa.Select:
    return sa.select(incidents, clients.c.name.label("client")).join(
        clients, clients.c.id == incidents.c.client_id
    )


def _of(query: sa.Select, client_ids: Collection[int] | None) -> sa.Select:
    return (
        query if client_ids is None else query.where(incidents.c.client_id.in_(sorted(client_ids)))
    )


def listing(
    conn: Connection,
    *,
    client_ids: Collection[int] | None = None,
    client_id: int | None = None,
    states: Sequence[str] | None = None,
    priority: str | None = None,
    origin: str | None = None,
    asset_id: int | None = None,
    limit: int = 200,
) -> Sequence[Any]:
    """Incidents (of ``client_ids``; None: every client), newest first, filtered."""
    query = _of(_listing(), client_ids)
    if client_id is not None:
        query = query.where(incidents.c.client_id == client_id)
    if states:
        query = query.where(incidents.c.state.in_(states))
    if priority:
        query = query.where(incidents.c.priority == priority)
    if origin:
        query = query.where(incidents.c.origin == origin)
    if asset_id is not None:
        query = query.where(incidents.c.asset_id == asset_id)
    return conn.execute(
        query.order_by(incidents.c.opened_at.desc(), incidents.c.id.desc()).limit(limit)
    ).all()


def most_urgent_open(
    conn: Connection, *, client_ids: Collection[int] | None = None, limit: int = 100
) -> Sequence[Any]:
    """Open incidents, most urgent priority first, then oldest first."""
    rank = sa.case(
        {p: i for i, p in enumerate(PRIORITY_ORDER)}, value=incidents.c.priority, else_=9
    )
    return conn.execute(
        _of(_listing(), client_ids)
        .where(incidents.c.state.in_(OPEN_STATES))
        .order_by(rank, incidents.c.opened_at)
        .limit(limit)
    ).all()


def by_key(conn: Connection, key: str) -> Any | None:
    """One incident with its client's name, or None."""
    return conn.execute(_listing().where(incidents.c.key == key)).first()
