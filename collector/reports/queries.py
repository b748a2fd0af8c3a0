"""The SQL the sections share: aggregates over the hourly rollups of a client's series.

The per-series hour counts and averages (:func:`hour_stats`, :func:`hour_counts`,
:func:`hours_below`) live in :mod:`collector.health.hours`, the assets domain's read model,
which the availability figures (:mod:`collector.health.availability`) read too; they are
re-exported here for the sections.

Everything is aggregated in the database (one row per series, never one per hour and series),
which is what keeps a 200-asset month under the 2 s target (benchmarks/README.md, "Reports").
The statements are SQLAlchemy Core and run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from collector.health.hours import SeriesRef as SeriesRef
from collector.health.hours import hour_counts as hour_counts
from collector.health.hours import hour_stats as hour_stats
from collector.health.hours import hours_below as hours_below
from collector.health.hours import per_series as _per_series
from collector.health.hours import series_ids as series_ids
from collector.health.hours import series_ref as _ref
from collector.health.hours import series_refs as series_refs
from collector.health.hours import series_select as _series_select
from collector.reports.context import ReportContext
from collector.rollups import hourly
from collector.schema import assets, series


def _edge_values(
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int, edge: Any
) -> list[Any]:
    # One index seek per series: the hour is a correlated MIN/MAX over the (series_id, hour)
    # primary key, which SQLite and PostgreSQL both answer from the index without a scan.
    R = hourly(h0, h1)
    inner = R.alias("edge")
    hour = (
        sa.select(edge(inner.c.hour))
        .where(inner.c.series_id == series.c.id, inner.c.hour >= h0, inner.c.hour < h1)
        .scalar_subquery()
    )
    query = _series_select(ctx, metrics, R.c.last, R.c.hour).join(
        R, sa.and_(R.c.series_id == series.c.id, R.c.hour == hour)
    )
    return list(ctx.conn.execute(query))


def last_values(
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, float, int]]:
    """The last value of each series in [h0, h1), with the hour it came from."""
    return [
        (_ref(r), float(r.last), int(r.hour))
        for r in _edge_values(ctx, metrics, h0, h1, sa.func.max)
    ]


def first_values(ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int) -> dict[int, float]:
    """The first value (the last of its first hour) of each series in [h0, h1), by series id."""
    return {int(r.id): float(r.last) for r in _edge_values(ctx, metrics, h0, h1, sa.func.min)}


def linear_fits(
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, Any]]:
    """Least-squares sums of hourly averages against time (in days since ``h0``), per series:
    n, Σx, Σy, Σxy, Σx² — enough for :func:`collector.reports.analysis.fit`."""
    R = hourly(h0, h1)
    x = (R.c.hour - h0) / 86400.0
    y = R.c.sum / R.c.count
    return _per_series(
        ctx,
        metrics,
        h0,
        h1,
        sa.func.count().label("n"),
        sa.func.sum(x).label("sx"),
        sa.func.sum(y).label("sy"),
        sa.func.sum(x * y).label("sxy"),
        sa.func.sum(x * x).label("sxx"),
    )


def decreases(ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int) -> dict[int, float]:
    """Per series: the sum of drops between consecutive hourly last values (e.g. updates applied)."""
    R = hourly(h0, h1)
    inner = (
        sa.select(
            R.c.series_id,
            R.c.last,
            sa.func.lag(R.c.last).over(partition_by=R.c.series_id, order_by=R.c.hour).label("prev"),
        )
        .where(R.c.series_id.in_(series_ids(ctx, metrics)), R.c.hour >= h0, R.c.hour < h1)
        .subquery()
    )
    drop = sa.case((inner.c.prev > inner.c.last, inner.c.prev - inner.c.last), else_=0.0)
    query = sa.select(inner.c.series_id, sa.func.sum(drop).label("dropped")).group_by(
        inner.c.series_id
    )
    if ctx.dialect == "postgresql":  # per series through the primary key, as in _per_series
        ordered = (
            sa.select(R.c.last, sa.func.lag(R.c.last).over(order_by=R.c.hour).label("prev"))
            .where(R.c.series_id == series.c.id, R.c.hour >= h0, R.c.hour < h1)
            .lateral("steps")
        )
        per = sa.case((ordered.c.prev > ordered.c.last, ordered.c.prev - ordered.c.last), else_=0.0)
        query = (
            sa.select(series.c.id.label("series_id"), sa.func.sum(per).label("dropped"))
            .select_from(
                series.join(assets, assets.c.id == series.c.asset_id).join(ordered, sa.true())
            )
            .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
            .group_by(series.c.id)
        )
    return {int(r.series_id): float(r.dropped or 0) for r in ctx.conn.execute(query)}


def daily_averages(
    ctx: ReportContext, series_ids: list[int], h0: int, h1: int
) -> dict[int, list[tuple[int, float]]]:
    """Per series: (day start epoch, average of hourly averages) for the days in [h0, h1)."""
    R = hourly(h0, h1)
    if not series_ids:
        return {}
    day = (R.c.hour - h0) // 86400
    query = (
        sa.select(R.c.series_id, day.label("day"), sa.func.avg(R.c.sum / R.c.count).label("avg"))
        .where(R.c.series_id.in_(series_ids), R.c.hour >= h0, R.c.hour < h1)
        .group_by(R.c.series_id, day)
        .order_by(R.c.series_id, day)
    )
    out: dict[int, list[tuple[int, float]]] = {}
    for r in ctx.conn.execute(query):
        out.setdefault(int(r.series_id), []).append((h0 + int(r.day) * 86400, float(r.avg)))
    return out
