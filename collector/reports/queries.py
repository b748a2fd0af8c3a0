"""The SQL the sections share: aggregates over the hourly rollups of a client's series.

Everything is aggregated in the database (one row per series, never one per hour and series),
which is what keeps a 200-asset month under the 2 s target (benchmarks/README.md, "Reports").
The statements are SQLAlchemy Core and run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from collector.reports.context import ReportContext
from collector.rollups import hourly
from collector.schema import assets, series


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """A series of one of the client's assets."""

    id: int
    asset_id: int
    metric: str
    labels: dict[str, str]


def _series_select(ctx: ReportContext, metrics: Iterable[str], *columns: Any) -> sa.Select:
    return (
        sa.select(series.c.id, series.c.asset_id, series.c.metric, series.c.labels, *columns)
        .select_from(series.join(assets, assets.c.id == series.c.asset_id))
        .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
    )


def _ref(row: Any) -> SeriesRef:
    return SeriesRef(row.id, row.asset_id, row.metric, json.loads(row.labels))


def series_ids(ctx: ReportContext, metrics: Iterable[str]) -> sa.Select:
    """The ids of the client's series of ``metrics`` (for ``series_id IN (…)``)."""
    return (
        sa.select(series.c.id)
        .select_from(series.join(assets, assets.c.id == series.c.asset_id))
        .where(assets.c.client_id == ctx.client_id, series.c.metric.in_(list(metrics)))
    )


def series_refs(ctx: ReportContext, metrics: Iterable[str]) -> dict[int, SeriesRef]:
    """The client's series of ``metrics`` by id."""
    return {r.id: _ref(r) for r in ctx.conn.execute(_series_select(ctx, metrics))}


def _per_series(
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int, *columns: Any
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
            _series_select(ctx, metrics, *(agg.c[n] for n in names))
            .join(agg, sa.true())
            .where(agg.c[names[0]] > 0)
        )
        return [(_ref(r), r) for r in ctx.conn.execute(query)]
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
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, Any]]:
    """Per series with rollups in [h0, h1): hours with data, the sum of hourly averages,
    min of mins, max of maxes."""
    R = hourly(h0, h1)
    return _per_series(
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
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int
) -> list[tuple[SeriesRef, int]]:
    """Per series: the number of hours with rollups in [h0, h1)."""
    return [
        (ref, int(r.hours))
        for ref, r in _per_series(ctx, metrics, h0, h1, sa.func.count().label("hours"))
    ]


def hours_below(
    ctx: ReportContext, metrics: Iterable[str], h0: int, h1: int, below: float = 1.0
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
    if ctx.dialect == "postgresql":  # one index range scan per series, as in _per_series
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
