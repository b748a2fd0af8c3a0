"""Per-series aggregates over the hourly rollups of one client's series: hours with data,
the sum of hourly averages, the hours that were down.

The assets domain's SQL for figures over hours (availability, :mod:`collector.health.availability`;
the report sections through :mod:`collector.reports.queries`). Everything is aggregated in the
database (one row per series, never one per hour and series), which is what keeps a 200-asset
month under the 2 s target (benchmarks/README.md, "Reports"). SQLAlchemy Core, unchanged on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.rollups import hourly
from collector.schema import assets, series


class ClientSeries(Protocol):
    """Whose series, on which connection (a report's context is one; :class:`OfClient` too)."""

    @property
    def conn(self) -> Connection: ...

    @property
    def client_id(self) -> int: ...

    @property
    def dialect(self) -> str: ...


@dataclass(frozen=True, slots=True)
class OfClient:
    """The series of the client ``client_id`` read on ``conn``."""

    conn: Connection
    client_id: int

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """A series of one of the client's assets."""

    id: int
    asset_id: int
    metric: str
    labels: dict[str, str]


def series_select(ctx: ClientSeries, metrics: Iterable[str], *columns: Any) -> sa.Select:
    return (
        sa.select(series.c.id, series.c.asset_id, series.c.metric, series.c.labels, *columns)
        .select_from(series.join(assets, assets.c.id == series.c.asset_id))
        .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
    )


def series_ref(row: Any) -> SeriesRef:
    return SeriesRef(row.id, row.asset_id, row.metric, json.loads(row.labels))


def series_ids(ctx: ClientSeries, metrics: Iterable[str]) -> sa.Select:
    """The ids of the client's series of ``metrics`` (for ``series_id IN (…)``)."""
    return (
        sa.select(series.c.id)
        .select_from(series.join(assets, assets.c.id == series.c.asset_id))
        .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
    )


def series_refs(ctx: ClientSeries, metrics: Iterable[str]) -> dict[int, SeriesRef]:
    """The client's series of ``metrics`` by id."""
    return {r.id: series_ref(r) for r in ctx.conn.execute(series_select(ctx, metrics))}


def per_series(
    ctx: ClientSeries, metrics: Iterable[str], h0: int, h1: int, *columns: Any
) -> list[tuple[SeriesRef, Any]]:
    # The first column must be a count (series without rows in the range are left out).
    R = hourly(h0, h1)
    metrics = list(metrics)
    if ctx.dialect == "postgresql":
        # A LATERAL aggregate per series: one primary-key range scan each. With ``IN`` the
        # planner often prefers a (parallel) scan of the whole table with a hash semi-join.
        agg = (
            sa.select(*columns)
            .where(R.c.series_id == series.c.id, R.c.hour >= h0, R.c.hour < h1)
            .lateral("agg")
        )
        names = [c.name for c in columns]
        query = (
            series_select(ctx, metrics, *(agg.c[n] for n in names))
            .join(agg, sa.true())
            .where(agg.c[names[0]] > 0)
        )
        return [(series_ref(r), r) for r in ctx.conn.execute(query)]
    # SQLite: ``series_id IN (subquery)`` walks the rollups' primary key series by series, in
    # order, so the GROUP BY needs no sort (a join from assets hands rows over in asset order
    # and makes SQLite build a temporary B-tree: about twice as slow).
    query = (
        sa.select(R.c.series_id, *columns)
        .where(R.c.series_id.in_(series_ids(ctx, metrics)), R.c.hour >= h0, R.c.hour < h1)
        .group_by(R.c.series_id)
    )
    rows = ctx.conn.execute(query).all()
    refs = series_refs(ctx, metrics) if rows else {}
    return [(refs[r.series_id], r) for r in rows if r.series_id in refs]


def hour_stats(
    ctx: ClientSeries, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, Any]]:
    """Per series with rollups in [h0, h1): hours with data, the sum of hourly averages,
    min of mins, max of maxes."""
    R = hourly(h0, h1)
    return per_series(
        ctx,
        metrics,
        h0,
        h1,
        sa.func.count().label("hours"),
        sa.func.sum(R.c.sum / R.c.count).label("avg_sum"),
        sa.func.min(R.c.min).label("min"),
        sa.func.max(R.c.max).label("max"),
    )


def hour_counts(
    ctx: ClientSeries, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, int]]:
    """Per series: the number of hours with rollups in [h0, h1)."""
    return [
        (ref, int(r.hours))
        for ref, r in per_series(ctx, metrics, h0, h1, sa.func.count().label("hours"))
    ]


def hours_below(
    ctx: ClientSeries, metrics: Iterable[str], h0: int, h1: int, below: float = 1.0
) -> list[tuple[int, int, float]]:
    """(series id, hour, hourly average) of every hour whose min was under ``below`` (down hours)."""
    R = hourly(h0, h1)
    query = (
        sa.select(R.c.series_id, R.c.hour, (R.c.sum / R.c.count).label("avg"))
        .where(
            R.c.series_id.in_(series_ids(ctx, metrics)),
            R.c.hour >= h0,
            R.c.hour < h1,
            R.c.min < below,
        )
        .order_by(R.c.series_id, R.c.hour)
    )
    if ctx.dialect == "postgresql":  # one index range scan per series, as in per_series
        # OFFSET 0 keeps PostgreSQL from flattening it into a join it would answer with a scan.
        rows = (
            sa.select(R.c.hour, (R.c.sum / R.c.count).label("avg"))
            .where(R.c.series_id == series.c.id, R.c.hour >= h0, R.c.hour < h1, R.c.min < below)
            .offset(0)
            .lateral("down")
        )
        query = (
            sa.select(series.c.id.label("series_id"), rows.c.hour, rows.c.avg)
            .select_from(
                series.join(assets, assets.c.id == series.c.asset_id).join(rows, sa.true())
            )
            .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
            .order_by(series.c.id, rows.c.hour)
        )
    return [(r.series_id, int(r.hour), float(r.avg)) for r in ctx.conn.execute(query)]
