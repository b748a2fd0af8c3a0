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
  the web UI lists (each with its client's name);
- the management figures (:mod:`collector.management.views`): :func:`opened_resolved_by_bucket`
  (created vs resolved), :func:`open_by_age`, :func:`time_by_actor` and
  :func:`transitions_by_actor` (workload), :func:`work_by_asset`, :func:`opened_by_client` and
  :func:`minutes_by_client` (top problems, time vs fee), :func:`keys_by_id`.

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
from collector.schema import clients, incident_events, incidents, service_requests, time_entries

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


# ---------------------------------------------------------------------- management figures
#
# What the management views count (collector.management.views): grouped in SQL, so a view's
# cost grows with the number of groups, not of rows. Time spent counts when it was spent
# (``time_entries.spent_at``, else ``created_at``); incidents count when opened or resolved.


def _spent() -> Any:
    return sa.func.coalesce(time_entries.c.spent_at, time_entries.c.created_at)


def _bucket_of(column: Any, edges: Sequence[float]) -> Any:
    """SQL: the index of the first bucket whose end (``edges``, ascending) exceeds ``column``.

    Rows are filtered to the range first, so the last bucket takes the rest. Grouping happens
    on a subquery's column: PostgreSQL would not match a CASE with bound parameters in SELECT
    and in GROUP BY as the same expression.
    """

    def between(lo: int, hi: int) -> Any:
        # Buckets lo..hi as a balanced tree of CASEs: log2(n) comparisons per row instead of
        # n (a year of days: 9 instead of up to 365).
        if lo == hi:
            return sa.literal(lo)
        mid = (lo + hi) // 2
        return sa.case((column < edges[mid], between(lo, mid)), else_=between(mid + 1, hi))

    return between(0, max(len(edges) - 1, 0))


@dataclass(frozen=True, slots=True)
class OpenedResolved:
    """Incidents opened and resolved per bucket (its index in the edges; empty ones left out)."""

    opened: dict[int, int]
    resolved: dict[int, int]


def opened_resolved_by_bucket(
    conn: Connection, since: float, until: float, edges: Sequence[float]
) -> OpenedResolved:
    """Incidents opened, and incidents resolved, in ``[since, until)`` per bucket; ``edges``
    are the buckets' ends, ascending (the last one takes the rest of the range)."""

    def count_by_bucket(column: Any) -> dict[int, int]:
        inner = (
            sa.select(_bucket_of(column, edges).label("b"))
            .where(column >= since, column < until)
            .subquery()
        )
        return {
            int(b): int(n)
            for b, n in conn.execute(sa.select(inner.c.b, sa.func.count()).group_by(inner.c.b))
        }

    return OpenedResolved(
        opened=count_by_bucket(incidents.c.opened_at),
        resolved=count_by_bucket(incidents.c.resolved_at),
    )


@dataclass(frozen=True, slots=True)
class OpenAgeCount:
    """Open incidents of one priority in one age bucket."""

    priority: str
    age: str
    count: int


@dataclass(frozen=True, slots=True)
class OpenAges:
    """Open incidents by priority and age bucket (empty groups left out), and when the oldest
    of them was opened (None: none open)."""

    counts: tuple[OpenAgeCount, ...]
    oldest_opened_at: float | None


def open_by_age(
    conn: Connection, now: float, age_buckets: Sequence[tuple[str, float | None]]
) -> OpenAges:
    """Incidents not resolved yet (open, acknowledged, waiting) per priority and age bucket at
    ``now``; ``age_buckets``: (label, upper bound in seconds, exclusive), youngest first, the
    last one open-ended (its bound None)."""
    opened = incidents.c.opened_at
    whens = [(opened > now - upper, label) for label, upper in age_buckets if upper is not None]
    inner = (
        sa.select(incidents.c.priority, sa.case(*whens, else_=age_buckets[-1][0]).label("age"))
        .where(incidents.c.state.in_(OPEN_STATES))
        .subquery()
    )
    grouped = conn.execute(
        sa.select(inner.c.priority, inner.c.age, sa.func.count()).group_by(
            inner.c.priority, inner.c.age
        )
    ).all()
    oldest = conn.execute(
        sa.select(sa.func.min(opened)).where(incidents.c.state.in_(OPEN_STATES))
    ).scalar()
    return OpenAges(
        counts=tuple(OpenAgeCount(p, age, int(n)) for p, age, n in grouped),
        oldest_opened_at=None if oldest is None else float(oldest),
    )


@dataclass(frozen=True, slots=True)
class ActorTime:
    """The time one actor logged in a range (by when it was spent)."""

    actor: str
    incident_minutes: int
    request_minutes: int
    time_entries: int
    incidents_worked: int
    requests_worked: int


def time_by_actor(conn: Connection, since: float, until: float) -> list[ActorTime]:
    """Per actor: minutes logged on incidents and on service requests spent in
    ``[since, until)``, the entries, and the distinct incidents and requests worked on."""
    on_incident = time_entries.c.incident_id.is_not(None)
    query = (
        sa.select(
            time_entries.c.actor,
            sa.func.sum(sa.case((on_incident, time_entries.c.minutes), else_=0)).label("inc"),
            sa.func.sum(sa.case((on_incident, 0), else_=time_entries.c.minutes)).label("req"),
            sa.func.count().label("entries"),
            sa.func.count(sa.distinct(time_entries.c.incident_id)).label("incidents"),
            sa.func.count(sa.distinct(time_entries.c.request_id)).label("requests"),
        )
        .where(_spent() >= since, _spent() < until)
        .group_by(time_entries.c.actor)
    )
    return [
        ActorTime(
            actor=r.actor,
            incident_minutes=int(r.inc or 0),
            request_minutes=int(r.req or 0),
            time_entries=int(r.entries),
            incidents_worked=int(r.incidents),
            requests_worked=int(r.requests),
        )
        for r in conn.execute(query)
    ]


def transitions_by_actor(
    conn: Connection, since: float, until: float, types: Collection[str]
) -> dict[tuple[str, str], int]:
    """Incident events of ``types`` (``acknowledged``, ``resolved``, …) in ``[since, until)``
    per (actor, type)."""
    query = (
        sa.select(incident_events.c.actor, incident_events.c.type, sa.func.count())
        .where(
            incident_events.c.ts >= since,
            incident_events.c.ts < until,
            incident_events.c.type.in_(sorted(types)),
        )
        .group_by(incident_events.c.actor, incident_events.c.type)
    )
    return {(actor, kind): int(n) for actor, kind, n in conn.execute(query)}


def minutes_by_client(conn: Connection, since: float, until: float) -> dict[int, int]:
    """Minutes spent in ``[since, until)`` per client id: on its incidents plus on its service
    requests."""
    in_range = (_spent() >= since, _spent() < until)
    on_incidents = (
        sa.select(incidents.c.client_id, sa.func.sum(time_entries.c.minutes))
        .select_from(time_entries.join(incidents, incidents.c.id == time_entries.c.incident_id))
        .where(*in_range)
        .group_by(incidents.c.client_id)
    )
    on_requests = (
        sa.select(service_requests.c.client_id, sa.func.sum(time_entries.c.minutes))
        .select_from(
            time_entries.join(service_requests, service_requests.c.id == time_entries.c.request_id)
        )
        .where(*in_range)
        .group_by(service_requests.c.client_id)
    )
    out: dict[int, int] = {}
    for query in (on_incidents, on_requests):
        for client_id, minutes in conn.execute(query):
            out[client_id] = out.get(client_id, 0) + int(minutes or 0)
    return out


def opened_by_client(conn: Connection, since: float, until: float) -> dict[int, int]:
    """Incidents opened in ``[since, until)`` per client id."""
    query = (
        sa.select(incidents.c.client_id, sa.func.count())
        .where(incidents.c.opened_at >= since, incidents.c.opened_at < until)
        .group_by(incidents.c.client_id)
    )
    return {int(cid): int(n) for cid, n in conn.execute(query)}


@dataclass(frozen=True, slots=True)
class AssetWork:
    """One asset (by its client and name, as the incidents name it): incidents opened on it
    and minutes spent on its incidents in a range."""

    client_id: int
    asset: str
    incidents: int
    minutes: int


def work_by_asset(conn: Connection, since: float, until: float) -> list[AssetWork]:
    """Per (client, asset name): the incidents opened in ``[since, until)`` and the minutes
    spent then on its incidents (whenever opened); assets with neither are left out,
    incidents without an asset too."""
    asset_counts = conn.execute(
        sa.select(incidents.c.client_id, incidents.c.asset, sa.func.count())
        .where(
            incidents.c.opened_at >= since,
            incidents.c.opened_at < until,
            incidents.c.asset.is_not(None),
        )
        .group_by(incidents.c.client_id, incidents.c.asset)
    ).all()
    asset_minutes = conn.execute(
        sa.select(incidents.c.client_id, incidents.c.asset, sa.func.sum(time_entries.c.minutes))
        .select_from(time_entries.join(incidents, incidents.c.id == time_entries.c.incident_id))
        .where(_spent() >= since, _spent() < until, incidents.c.asset.is_not(None))
        .group_by(incidents.c.client_id, incidents.c.asset)
    ).all()
    found: dict[tuple[int, str], list[int]] = {}
    for client_id, asset, n in asset_counts:
        found.setdefault((client_id, asset), [0, 0])[0] = int(n)
    for client_id, asset, minutes in asset_minutes:
        found.setdefault((client_id, asset), [0, 0])[1] = int(minutes or 0)
    return [AssetWork(cid, asset, n, mins) for (cid, asset), (n, mins) in found.items()]


def keys_by_id(conn: Connection, ids: Collection[int]) -> dict[int, str]:
    """The stable keys (``UPK-…``) of the incidents ``ids``."""
    if not ids:
        return {}
    query = sa.select(incidents.c.id, incidents.c.key).where(incidents.c.id.in_(sorted(ids)))
    return {int(i): k for i, k in conn.execute(query)}
