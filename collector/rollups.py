"""Hourly rollups built from the raw samples by a periodic job, not merged per batch.

Ingest used to merge every sample into ``rollups_hourly`` in its batch's transaction: a third
row write per sample, and a hot upsert on the rollup index. Now the ``rollups`` job (singleton:
once per cluster, :mod:`collector.background`) builds each hour once, from the raw samples,
when the hour is closed (``CLOSE_AFTER`` past its end):

* **Progress** is one row, ``rollup_state``: every hour before ``built_until`` is built, and of
  the hour ``built_until`` the series with ids up to ``built_series``. The job builds an hour
  in chunks of ``CHUNK`` series, one write transaction each (on SQLite a chunk holds the write
  lock for a short while, not a whole hour of the fleet), and moves the progress in the same
  transaction. A crash mid-hour loses at most the chunk in flight; the next turn goes on from
  the progress. After downtime the job catches up hour by hour (``BUDGET`` seconds a turn).
* **Idempotent**: a chunk writes each (series, hour) it aggregates as computed from the raw
  samples (``ON CONFLICT … DO UPDATE`` with the new figures, not merged), so running it again
  gives the same rows. :func:`rebuild` re-runs any hours still within raw retention.
* **Late samples** (an agent catching up from its spool, a sample of a built hour): ingest
  reads the progress in its transaction (shared row lock on PostgreSQL; SQLite has one writer)
  and merges those samples into their rollups exactly as every sample was merged before
  (:func:`late_rollups`). Samples of hours not built yet only go to the raw table. A batch whose
  samples are all of recent hours not built yet does not even read the progress (the job
  builds an hour only ``CLOSE_AFTER`` after its end, ingest reads the progress for anything
  older than ``CLOSE_AFTER / 2`` past its hour: five minutes for a batch to commit and for
  the replicas' clocks to differ).
* **Readers** see the same figures as before: :func:`hourly` is ``rollups_hourly`` for the built
  hours and the same aggregates computed from the raw samples for the hours not built yet
  (the current hour, the last closed one for ``CLOSE_AFTER``, more after downtime). Every
  reader of rollups selects from it instead of the table.

Closed hours equal what the per-batch merge wrote (min, max, count, last, last_ts exactly;
sum up to the order of floating-point additions).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from collector import timeutil
from collector.bulk import RollupRow, SampleRow
from collector.schema import rollup_state, rollups_hourly, samples
from collector.store import Store

log = logging.getLogger(__name__)

HOUR = 3600
#: An hour is built this long after it ended (samples of it still arriving in their batch).
CLOSE_AFTER = 600.0
#: Ingest reads the progress for a batch with a sample older than this past its hour's end.
LATE_AFTER = CLOSE_AFTER / 2
#: Series per write transaction of the job.
CHUNK = 20_000
#: Seconds of building per job turn (the rest waits for the next turn).
BUDGET = 50.0


class hour_of(FunctionElement[int]):
    """The start of the UTC hour of an epoch-seconds column, as an integer."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(hour_of)
def _hour_of_default(element: hour_of, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"(CAST(({compiler.process(arg, **kw)}) / 3600 AS INTEGER) * 3600)"


@compiles(hour_of, "postgresql")
def _hour_of_postgresql(element: hour_of, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"(floor(({compiler.process(arg, **kw)}) / 3600) * 3600)::bigint"


@dataclass(frozen=True, slots=True)
class Progress:
    """Every hour before ``until`` is built, and of the hour ``until`` series ids ≤ ``series``."""

    until: int
    series: int

    def built(self, series_id: int, hour: int) -> bool:
        return hour < self.until or (hour == self.until and series_id <= self.series)


def read_progress(conn: Connection, *, lock: str | None = None) -> Progress:
    """The job's progress; ``lock`` ("share" / "update") locks its row on PostgreSQL."""
    sql = "SELECT built_until, built_series FROM rollup_state WHERE id = 1"
    if lock and conn.dialect.name == "postgresql":
        sql += " FOR SHARE" if lock == "share" else " FOR UPDATE"
    row = conn.exec_driver_sql(sql).first()
    if row is None:
        raise RuntimeError(
            "rollup_state has no row: the database is not migrated (upkeep db upgrade)"
        )
    return Progress(int(row[0]), int(row[1]))


def mark_built(conn: Connection, until: int, series: int = 0) -> None:
    """Set the progress (tests and fixtures that write rollups themselves; :func:`rebuild`)."""
    conn.execute(
        rollup_state.update()
        .where(rollup_state.c.id == 1)
        .values(built_until=until, built_series=series, updated_at=timeutil.now())
    )


def built_through(conn: Connection, hour: int) -> None:
    """Mark every hour up to ``hour`` (inclusive) built, never moving the progress back: for
    rollups written directly (imports, test fixtures), which readers then take as they are."""
    progress = read_progress(conn, lock="update")
    if progress.until <= hour:
        mark_built(conn, int(hour // HOUR) * HOUR + HOUR)


# ---------------------------------------------------------------------- ingest's late path


def late_rollups(conn: Connection, rows: list[SampleRow]) -> tuple[list[RollupRow], Progress]:
    """The rollup rows to merge for the samples of hours already built (a late sample), and the
    progress read (with a shared lock on PostgreSQL: the job waits for this transaction)."""
    progress = read_progress(conn, lock="share")
    late = [row for row in rows if progress.built(row[0], int(row[1] // HOUR) * HOUR)]
    return aggregate(late), progress


def aggregate(rows: list[SampleRow]) -> list[RollupRow]:
    """Rollup rows per (series, hour) of distinct (series, ts) rows sorted by (series, ts)
    (as ingest's dedup leaves them; a batch of one sample per series is trivially so)."""
    hours: dict[tuple[int, int], list[Any]] = {}
    for sid, ts, v in rows:
        key = (sid, int(ts // HOUR) * HOUR)
        agg = hours.get(key)
        if agg is None:
            hours[key] = [v, v, v, 1, v, ts]
        else:
            agg[0] = min(agg[0], v)
            agg[1] = max(agg[1], v)
            agg[2] += v
            agg[3] += 1
            if ts >= agg[5]:
                agg[4], agg[5] = v, ts
    return [(sid, hour, *agg) for (sid, hour), agg in hours.items()]


# ---------------------------------------------------------------------- readers


def _raw_hours(until: Any, done: Any, since: Any, before: Any) -> sa.Select[Any]:
    """The rollup columns aggregated from the raw samples of the hours not built: from
    ``until`` on, less the series up to ``done`` of the hour ``until``; within the reader's
    ``[since, before)`` when given (static bounds: PostgreSQL prunes the day partitions)."""
    x = samples.alias("raw")
    hour = hour_of(x.c.ts)
    where = [
        x.c.ts >= until,
        sa.not_(sa.and_(x.c.ts < until + HOUR, x.c.series_id <= done)),
    ]
    if since is not None:
        where.append(x.c.ts >= since)
    if before is not None:
        where.append(x.c.ts < before)
    grouped = (
        sa.select(
            x.c.series_id,
            hour.label("hour"),
            sa.func.min(x.c.value).label("min"),
            sa.func.max(x.c.value).label("max"),
            sa.func.sum(x.c.value).label("sum"),
            sa.func.count().label("count"),
            sa.func.max(x.c.ts).label("last_ts"),
        )
        .where(*where)
        .group_by(x.c.series_id, hour)
        .subquery("raw_hours")
    )
    last = samples.alias("raw_last")
    # The same time bounds on the row the last value is read from: its partitions are pruned.
    on = [last.c.series_id == grouped.c.series_id, last.c.ts == grouped.c.last_ts]
    on.append(last.c.ts >= until)
    if since is not None:
        on.append(last.c.ts >= since)
    if before is not None:
        on.append(last.c.ts < before)
    return sa.select(
        grouped.c.series_id,
        grouped.c.hour,
        grouped.c.min,
        grouped.c.max,
        grouped.c.sum,
        grouped.c.count,
        last.c.value.label("last"),
        grouped.c.last_ts,
    ).join_from(
        grouped,
        last,
        sa.and_(*on),
    )


@functools.lru_cache(maxsize=512)  # one object per range: a query may name it twice
def hourly(since: int | None = None, before: int | None = None, name: str = "rollups") -> Any:
    """``rollups_hourly`` as readers must see it: the built hours from the table, the others
    computed from the raw samples (the same columns: series_id, hour, min, max, sum, count,
    last, last_ts). ``since`` / ``before``: the hours ``[since, before)`` the reader wants at
    most (it still bounds the rows itself); give them where known, so that PostgreSQL reads
    only the partitions of that range."""
    until = sa.select(rollup_state.c.built_until).where(rollup_state.c.id == 1).scalar_subquery()
    done = sa.select(rollup_state.c.built_series).where(rollup_state.c.id == 1).scalar_subquery()
    r = rollups_hourly
    where = [sa.or_(r.c.hour < until, sa.and_(r.c.hour == until, r.c.series_id <= done))]
    if since is not None:
        where.append(r.c.hour >= since)
    if before is not None:
        where.append(r.c.hour < before)
    built = sa.select(
        r.c.series_id, r.c.hour, r.c.min, r.c.max, r.c.sum, r.c.count, r.c.last, r.c.last_ts
    ).where(*where)
    return sa.union_all(built, _raw_hours(until, done, since, before)).subquery(name)


# ---------------------------------------------------------------------- the job


def _build_sql(dialect: str) -> str:
    """One hour of the series in (a, b], as aggregated from raw, written over what is stored."""
    # SQLite: CROSS JOIN keeps series outside, one primary-key seek per series for its hour.
    join = "CROSS JOIN" if dialect == "sqlite" else "JOIN"
    mark = "?" if dialect == "sqlite" else "%s"
    return (
        "INSERT INTO rollups_hourly (series_id, hour, min, max, sum, count, last, last_ts) "
        f"SELECT g.series_id, {mark}, g.mn, g.mx, g.sm, g.n, l.value, g.lt FROM ("
        "SELECT x.series_id AS series_id, MIN(x.value) AS mn, MAX(x.value) AS mx, "
        "SUM(x.value) AS sm, COUNT(*) AS n, MAX(x.ts) AS lt "
        f"FROM series s {join} samples x ON x.series_id = s.id AND x.ts >= {mark} "
        f"AND x.ts < {mark} WHERE s.id > {mark} AND s.id <= {mark} GROUP BY x.series_id) g "
        "JOIN samples l ON l.series_id = g.series_id AND l.ts = g.lt WHERE true "
        "ON CONFLICT (series_id, hour) DO UPDATE SET min = excluded.min, max = excluded.max, "
        "sum = excluded.sum, count = excluded.count, last = excluded.last, "
        "last_ts = excluded.last_ts"
    )


@dataclass(slots=True)
class BuildReport:
    hours: int = 0  # hours completed in this turn
    chunks: int = 0
    rows: int = 0  # rollup rows written
    behind: int = 0  # closed hours still to build after this turn


def build(
    store: Store,
    *,
    now: float | None = None,
    budget: float = BUDGET,
    chunk: int = CHUNK,
    stop_after_chunks: int | None = None,
) -> BuildReport:
    """One turn of the ``rollups`` job: build the closed hours from the progress on, chunk by
    chunk, for at most ``budget`` seconds. ``stop_after_chunks``: tests (a crash mid-hour)."""
    now = timeutil.now() if now is None else now
    target = int((now - CLOSE_AFTER) // HOUR) * HOUR  # hours before this are closed
    sql = _build_sql(store.dialect)
    report = BuildReport()
    started = time.monotonic()
    while True:
        if stop_after_chunks is not None and report.chunks >= stop_after_chunks:
            break
        if time.monotonic() - started > budget:
            break
        with store.write() as conn:
            progress = read_progress(conn, lock="update")
            if progress.until >= target:
                break
            hour = progress.until
            upper = conn.exec_driver_sql(
                _chunk_end_sql(store.dialect), (progress.series, chunk)
            ).scalar()
            if upper is None:  # every series of this hour is built: on to the next hour
                _set_progress(conn, hour + HOUR, 0)
                report.hours += 1
                continue
            result = conn.exec_driver_sql(sql, (hour, hour, hour + HOUR, progress.series, upper))
            report.rows += max(result.rowcount, 0)
            report.chunks += 1
            _set_progress(conn, hour, int(upper))
    with store.read() as conn:
        progress = read_progress(conn)
    report.behind = max(0, (target - progress.until) // HOUR)
    if report.hours or report.behind:
        log.info(
            "rollups: built %d hours (%d rows); %d closed hours still to build",
            report.hours,
            report.rows,
            report.behind,
        )
    return report


def rebuild(store: Store, since: int, until: int, *, chunk: int = CHUNK) -> int:
    """Build the hours ``[since, until)`` again from the raw samples (only while those are
    kept: raw retention), whether built already or not; returns the rollup rows written. Runs
    under the progress row's lock, like the job, so late samples merged meanwhile are not lost."""
    sql = _build_sql(store.dialect)
    written = 0
    for hour in range(int(since // HOUR) * HOUR, int(until), HOUR):
        last = 0
        while True:
            with store.write() as conn:
                read_progress(conn, lock="update")
                upper = conn.exec_driver_sql(_chunk_end_sql(store.dialect), (last, chunk)).scalar()
                if upper is None:
                    break
                result = conn.exec_driver_sql(sql, (hour, hour, hour + HOUR, last, upper))
                written += max(result.rowcount, 0)
                last = int(upper)
    return written


def _chunk_end_sql(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    return (
        f"SELECT MAX(id) FROM (SELECT id FROM series WHERE id > {mark} ORDER BY id LIMIT {mark}) c"
    )


def _set_progress(conn: Connection, until: int, series: int) -> None:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(
        f"UPDATE rollup_state SET built_until = {mark}, built_series = {mark}, "
        f"updated_at = {mark} WHERE id = 1",
        (until, series, timeutil.now()),
    )
