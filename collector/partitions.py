"""Time partitions of the two big tables on PostgreSQL: raw samples by day, rollups by month.

On PostgreSQL (from migration 0014) ``samples`` is ``PARTITION BY RANGE (ts)`` with one
partition per UTC day (``samples_p20261202`` holds ``[2026-12-02 00:00, 2026-12-03 00:00)``)
and ``rollups_hourly`` is ``PARTITION BY RANGE (hour)`` with one partition per UTC month
(``rollups_hourly_p202612``). Native declarative partitioning, no extension: pg_partman
would add a superuser ``CREATE EXTENSION`` and a scheduler of its own to every deployment,
while Upkeep already has a job registry with singleton leases, and the work is two small
functions (:func:`ensure` and :func:`drop_expired`).

**Nothing is lost for want of a partition.** Each table has a ``DEFAULT`` partition
(``samples_default``, ``rollups_hourly_default``) that takes any row no day/month partition
covers: a sample of a day whose partition is not created yet (early, within the clock skew
ingest accepts, before the job ran) or no longer exists (late, older than raw retention:
retention deletes it from the default partition at its next run, as it always did). When
:func:`ensure` creates a partition whose range already has rows in the default partition, it
moves them into the new partition in the same transaction (PostgreSQL would otherwise refuse
the new partition).

**Ahead and behind.** The ``partitions`` job (singleton, :mod:`collector.background`) keeps
partitions from the day raw retention reaches back to (late samples within retention land in
their own day) up to ``partition_days_ahead`` days past the accepted clock skew; rollup
months from the month rollup retention reaches back to, to the next month.

**Retention drops whole partitions** (:func:`drop_expired`): a day partition once all of it
is past ``raw_retention``, a month partition once all of it is past ``rollup_retention``. So
on PostgreSQL a raw sample is kept at least ``raw_retention`` and at most one day more, an
hourly rollup at most one month more; readers bound every query by time anyway. Dropping
takes a brief ACCESS EXCLUSIVE lock on the parent (``DETACH … CONCURRENTLY`` is not allowed
with a default partition), under ``lock_timeout`` so a busy moment only postpones it.

SQLite is unchanged: one table each, retention by ``DELETE`` (:mod:`collector.retention`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)

DAY = 86400
#: How long partition DDL may wait for a lock before giving up until the next turn.
LOCK_TIMEOUT = "2s"


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one table is partitioned: its range column and the partitions' period."""

    table: str
    column: str
    period: str  # "day" | "month"

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def name(self, start: float) -> str:
        """The partition holding ``start`` (epoch seconds)."""
        d = dt.datetime.fromtimestamp(start, dt.UTC)
        return f"{self.table}_p{d:%Y%m%d}" if self.period == "day" else f"{self.table}_p{d:%Y%m}"

    def bounds(self, ts: float) -> tuple[int, int]:
        """``[lo, hi)`` of the period containing ``ts``, as epoch seconds."""
        if self.period == "day":
            lo = int(ts // DAY) * DAY
            return lo, lo + DAY
        d = dt.datetime.fromtimestamp(ts, dt.UTC)
        lo = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return lo, calendar.timegm((year, month, 1, 0, 0, 0))

    def periods(self, first: float, last: float) -> list[tuple[int, int]]:
        """Every period from the one holding ``first`` to the one holding ``last``."""
        out = []
        lo, hi = self.bounds(first)
        while lo <= last:
            out.append((lo, hi))
            lo, hi = self.bounds(hi)
        return out


SAMPLES = Scheme("samples", "ts", "day")
ROLLUPS = Scheme("rollups_hourly", "hour", "month")
SCHEMES = (SAMPLES, ROLLUPS)

_PARTITION_NAME = re.compile(r"^(samples|rollups_hourly)_(p\d{6}|p\d{8}|default)$")
_BOUND = re.compile(r"FROM \('?(-?[\d.e+]+)'?\) TO \('?(-?[\d.e+]+)'?\)")


def is_partition(table_name: str) -> bool:
    """Whether ``table_name`` is one of the partitions (not in ``collector.schema``)."""
    return bool(_PARTITION_NAME.match(table_name))


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lo: float | None  # None: the default partition
    hi: float | None


def is_partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` is a partitioned table in the current schema (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    return kind == "p"


def partitions(conn: Connection, scheme: Scheme) -> list[Partition]:
    """The partitions of ``scheme.table``, ordered by range (the default partition first)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": scheme.table},
    ).all()
    out = []
    for name, bound in rows:
        m = _BOUND.search(bound or "")
        if m is None:
            out.append(Partition(name, None, None))
        else:
            out.append(Partition(name, float(m.group(1)), float(m.group(2))))
    return sorted(out, key=lambda p: (p.lo is not None, p.lo or 0.0))


def create_partition(conn: Connection, scheme: Scheme, lo: int, hi: int) -> str:
    """Create the partition ``[lo, hi)`` of ``scheme``, moving in the rows the default
    partition holds for that range (inside the caller's transaction)."""
    name = scheme.name(lo)
    t, c, default = scheme.table, scheme.column, scheme.default
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # The default partition is locked first: no row can land in it for this range between
    # the move and the attach (inserts for other days are not held up: they route elsewhere).
    conn.exec_driver_sql(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {t} INCLUDING DEFAULTS INCLUDING STORAGE)")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {default} WHERE {c} >= {lo} AND {c} < {hi} RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved"
    )
    # A CHECK constraint proving the range spares ATTACH its validation scan of the new table.
    conn.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ({c} >= {lo} AND {c} < {hi})"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {t} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
    )
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    return name


def wanted(scheme: Scheme, settings: Settings, now: float) -> list[tuple[int, int]]:
    """The periods :func:`ensure` keeps a partition for at ``now``."""
    if scheme is SAMPLES:
        first = now - settings.raw_retention
        last = now + settings.max_clock_skew + settings.partition_days_ahead * DAY
    else:
        first = now - settings.rollup_retention
        last = now + settings.max_clock_skew + max(settings.partition_days_ahead * DAY, DAY)
        last = ROLLUPS.bounds(last)[1]  # and the next month, so a month never starts uncovered
    return scheme.periods(max(first, 0.0), last)


def ensure(store: Store, settings: Settings, now: float | None = None) -> list[str]:
    """Create every missing partition :func:`wanted` names; return the names created.

    No-op on SQLite and on a table that is not partitioned. One transaction per partition,
    so a lock timeout only postpones that one (the next turn tries again).
    """
    if store.is_sqlite:
        return []
    now = timeutil.now() if now is None else now
    created = []
    for scheme in SCHEMES:
        with store.read() as conn:
            if not is_partitioned(conn, scheme.table):
                continue
            have = {p.lo for p in partitions(conn, scheme) if p.lo is not None}
        for lo, hi in wanted(scheme, settings, now):
            if lo in have:
                continue
            try:
                with store.write() as conn:
                    created.append(create_partition(conn, scheme, lo, hi))
            except sa.exc.DBAPIError as exc:
                log.warning(
                    "creating partition %s failed (next turn retries): %s",
                    scheme.name(lo),
                    exc.orig or exc,
                )
    if created:
        log.info("partitions created: %s", ", ".join(created))
    return created


def drop_expired(
    store: Store, settings: Settings, now: float | None = None, *, raw_cutoff: float | None = None
) -> list[str]:
    """Drop every day/month partition wholly past its retention; return the names dropped.
    ``raw_cutoff``: raw samples are kept from here on at least (default: raw retention)."""
    if store.is_sqlite:
        return []
    now = timeutil.now() if now is None else now
    cutoffs = {
        SAMPLES.table: now - settings.raw_retention if raw_cutoff is None else raw_cutoff,
        ROLLUPS.table: now - settings.rollup_retention,
    }
    dropped = []
    for scheme in SCHEMES:
        with store.read() as conn:
            if not is_partitioned(conn, scheme.table):
                continue
            parts = partitions(conn, scheme)
        for p in parts:
            if p.hi is None or p.hi > cutoffs[scheme.table]:
                continue
            try:
                with store.write() as conn:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    conn.exec_driver_sql(f"ALTER TABLE {scheme.table} DETACH PARTITION {p.name}")
                    conn.exec_driver_sql(f"DROP TABLE {p.name}")
                dropped.append(p.name)
            except sa.exc.DBAPIError as exc:
                log.warning(
                    "dropping partition %s failed (next turn retries): %s", p.name, exc.orig or exc
                )
    return dropped
