"""PostgreSQL: raw samples partitioned by day, hourly rollups by month (issue 15).

Each table is rebuilt as ``PARTITION BY RANGE`` with a DEFAULT partition and one partition
per day (month) that its rows fall in, plus today and the next days; the rows are copied in
and the old table dropped, all in the migration's transaction (a failure leaves the old
table as it was). Names follow :mod:`collector.partitions`, which creates the partitions
after this one (the ``partitions`` job). Rows dated more than 400 days away from now (a
broken clock) go to the default partition, where retention deletes them.

SQLite: nothing changes in these two tables.

Both: the queue of the Prometheus remote-write exporter, ``remote_write_queue``.

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02 01:10:00
"""

from __future__ import annotations

import calendar
import datetime as dt
import time

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

DAY = 86400
_SPAN = 400 * DAY  # how far from now a period gets a partition of its own here

# (table, range column, column DDL, primary key columns, period)
_TABLES = (
    (
        "samples",
        "ts",
        "series_id BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL, value DOUBLE PRECISION NOT NULL",
        "series_id, ts",
        "day",
    ),
    (
        "rollups_hourly",
        "hour",
        "series_id BIGINT NOT NULL, hour BIGINT NOT NULL, min DOUBLE PRECISION NOT NULL, "
        "max DOUBLE PRECISION NOT NULL, sum DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL, "
        "last DOUBLE PRECISION NOT NULL, last_ts DOUBLE PRECISION NOT NULL",
        "series_id, hour",
        "month",
    ),
)


def _period(ts: float, period: str) -> tuple[int, int, str]:
    """``(lo, hi, suffix)`` of the UTC day or month holding ``ts``."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    if period == "day":
        lo = int(ts // DAY) * DAY
        return lo, lo + DAY, f"{d:%Y%m%d}"
    lo = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return lo, calendar.timegm((year, month, 1, 0, 0, 0)), f"{d:%Y%m}"


def upgrade() -> None:
    op.create_table(
        "remote_write_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_write_queue")),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    now = time.time()
    for table, col, columns, pk, period in _TABLES:
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
        op.execute(
            f"CREATE TABLE {table} ({columns}, CONSTRAINT pk_{table} PRIMARY KEY ({pk})) "
            f"PARTITION BY RANGE ({col})"
        )
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        unit = DAY if period == "day" else 28 * DAY
        # One partition per period the stored rows fall in (within the span), and the
        # periods around now so ingest never starts in the default partition.
        present = bind.exec_driver_sql(
            f"SELECT DISTINCT floor({col} / {unit}) * {unit} FROM {old} "
            f"WHERE {col} BETWEEN {now - _SPAN!r} AND {now + _SPAN!r}"
        ).scalars()
        starts = {_period(float(ts), period)[0] for ts in present}
        if period == "month":  # a 28-day step can straddle two months: take both
            starts |= {_period(s + 27 * DAY, period)[0] for s in starts}
        starts |= {_period(now + k * DAY, period)[0] for k in range(-2, 4)}
        for start in sorted(starts):
            lo, hi, suffix = _period(start, period)
            op.execute(
                f"CREATE TABLE {table}_p{suffix} PARTITION OF {table} "
                f"FOR VALUES FROM ({lo}) TO ({hi})"
            )
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old}")
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    op.drop_table("remote_write_queue")
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, _col, columns, pk, _period_name in _TABLES:
        old = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{old}")
        op.execute(f"CREATE TABLE {table} ({columns}, CONSTRAINT pk_{table} PRIMARY KEY ({pk}))")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old}")  # and its partitions
