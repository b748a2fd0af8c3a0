"""Hourly rollups built from raw samples by the ``rollups`` job (issue 15).

``rollup_state`` is one row: ``built_until`` (an hour, epoch seconds) and ``built_series``.
Every hour before ``built_until`` is built, and of the hour ``built_until`` itself the series
with ids up to ``built_series`` (the job builds an hour in chunks of series). Ingest no longer
merges every sample into ``rollups_hourly``: only a sample of an hour already built (a late
one) is still merged there, in its batch's transaction (collector/rollups.py).

The starting point: on a database that already holds samples, the hour after the current one
(the rollups written per batch so far are complete, and the current hour goes on being merged
per batch until it ends); on an empty one, the current hour.

On PostgreSQL also a BRIN index on ``samples.ts`` (a few pages per partition): the job reads
one hour of every series, which the primary key (series first) does not find by itself.

Backward compatible (expand only, ``BACKWARD_COMPATIBLE``): a replica of the release before
keeps merging every sample per batch, which the job's rebuild from raw agrees with.

Revision ID: 0022
Revises: 0012
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0012"
branch_labels = None
depends_on = None

BACKWARD_COMPATIBLE = True
HOUR = 3600


def upgrade() -> None:
    table = op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("built_until", sa.BigInteger(), nullable=False),
        sa.Column("built_series", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_state")),
    )
    conn = op.get_bind()
    now = time.time()
    hour = int(now // HOUR) * HOUR
    has_samples = conn.execute(sa.text("SELECT 1 FROM samples LIMIT 1")).first() is not None
    op.bulk_insert(
        table,
        [
            {
                "id": 1,
                "built_until": hour + HOUR if has_samples else hour,
                "built_series": 0,
                "updated_at": now,
            }
        ],
    )
    if conn.dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_samples_ts_brin ON samples USING brin (ts)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_samples_ts_brin")
    op.drop_table("rollup_state")
