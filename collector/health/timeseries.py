"""Chart data for one series over a range: raw samples where the store still has them,
hourly rollups before that (and for ranges where an hour per point is fine enough),
downsampled to at most ``max_points`` buckets (average, min and max per bucket).

:func:`downsample` is pure; :func:`series_points` reads the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.errors import InvalidArgument, NotFound
from collector.rollups import hourly
from collector.schema import assets, samples, series

HOUR = 3600
#: The ranges the charts offer, in seconds.
RANGES: dict[str, int] = {"1h": HOUR, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_POINTS = 600
MAX_POINTS = 2000


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket: its start, and the average, min and max of what fell into it."""

    ts: float
    avg: float
    min: float
    max: float


def range_seconds(name: str) -> int:
    try:
        return RANGES[name]
    except KeyError:
        raise InvalidArgument(f"range: must be one of {', '.join(RANGES)}") from None


def downsample(
    rows: Iterable[tuple[float, float, float, float, float]],
    since: float,
    until: float,
    max_points: int,
) -> list[Point]:
    """``(ts, sum, count, min, max)`` rows into at most ``max_points`` equal time buckets.

    A raw sample is ``(ts, value, 1, value, value)``; an hourly rollup carries its own sum and
    count, so a bucket's average weighs every sample equally. Empty buckets are left out (a gap
    stays a gap); non-finite values are dropped.
    """
    span = max(until - since, 1.0)
    width = span / max(1, max_points)
    buckets: dict[int, list[float]] = {}
    for ts, total, count, lo, hi in rows:
        if count <= 0 or not (math.isfinite(total) and math.isfinite(lo) and math.isfinite(hi)):
            continue
        if ts < since or ts > until:
            continue
        index = min(int((ts - since) // width), max_points - 1)
        bucket = buckets.get(index)
        if bucket is None:
            buckets[index] = [total, float(count), lo, hi]
        else:
            bucket[0] += total
            bucket[1] += count
            bucket[2] = min(bucket[2], lo)
            bucket[3] = max(bucket[3], hi)
    return [Point(since + i * width, b[0] / b[1], b[2], b[3]) for i, b in sorted(buckets.items())]


def series_row(conn: Connection, scope: Any, series_id: int) -> Any:
    """The series with its asset's client, checked against ``scope`` (NotFound otherwise)."""
    row = conn.execute(
        sa.select(
            series.c.id,
            series.c.asset_id,
            series.c.metric,
            series.c.labels,
            assets.c.client_id,
            assets.c.name.label("asset"),
        )
        .join(assets, assets.c.id == series.c.asset_id)
        .where(series.c.id == series_id)
    ).first()
    if row is None:
        raise NotFound(f"no series with id {series_id}")
    scope.check(row.client_id, f"series with id {series_id}")
    return row


def series_points(
    conn: Connection,
    series_id: int,
    *,
    since: float,
    until: float,
    max_points: int = DEFAULT_POINTS,
) -> tuple[list[Point], str]:
    """Buckets of one series in ``[since, until]`` and where they came from
    (``raw``, ``rollups`` or ``raw+rollups``).

    Buckets of an hour or more read the rollups only (one row per hour). Finer buckets read
    the raw samples for the part of the range the store still holds and the rollups of the
    hours before the oldest raw sample (raw retention is short; rollups are kept long).
    """
    max_points = max(1, min(max_points, MAX_POINTS))
    width = (until - since) / max_points
    rows: list[tuple[float, float, float, float, float]] = []
    source = "rollups"
    raw_start = until + 1
    if width < HOUR:
        raw = conn.execute(
            sa.select(samples.c.ts, samples.c.value)
            .where(samples.c.series_id == series_id, samples.c.ts >= since, samples.c.ts <= until)
            .order_by(samples.c.ts)
        ).all()
        if raw:
            raw_start = raw[0].ts
            rows.extend((r.ts, r.value, 1, r.value, r.value) for r in raw)
            source = "raw"
    hour_until = raw_start if rows else until
    first_hour = int(since // HOUR) * HOUR
    HOURLY = hourly(first_hour, int(hour_until) + HOUR)
    rolled = conn.execute(
        sa.select(
            HOURLY.c.hour,
            HOURLY.c.sum,
            HOURLY.c.count.label("n"),
            HOURLY.c.min,
            HOURLY.c.max,
        ).where(
            HOURLY.c.series_id == series_id,
            HOURLY.c.hour >= first_hour,
            # Only whole hours before the first raw sample: no sample is counted twice.
            HOURLY.c.hour + (HOUR if rows else 0) <= hour_until,
        )
    ).all()
    if rolled:
        source = "raw+rollups" if rows else "rollups"
        rows.extend((max(float(r.hour), since), r.sum, r.n, r.min, r.max) for r in rolled if r.n)
    return downsample(rows, since, until, max_points), source


def labels_of(row: Any) -> dict[str, str]:
    return json.loads(row.labels) if row.labels else {}
