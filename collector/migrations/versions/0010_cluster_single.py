"""Cluster safety (issue 14): at most one active incident per fingerprint, enforced by a partial
unique index; report files and other artefacts in the database (``artefacts``).

Before the index is built, any fingerprint with more than one active incident (possible only
from the races this index now prevents) keeps its newest incident; each older one is closed
with a ``closed`` event that names the one it duplicates, so nothing is deleted.

Report rows made before this revision keep their ``path`` (a file under
``<data_dir>/reports``) and are still served from it; new reports are artefacts.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

ACTIVE = ("open", "acknowledged", "waiting_for_client", "waiting_for_third_party")
INDEX = "uq_incidents_active_fingerprint"


def _close_duplicates(conn: sa.Connection) -> None:
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("fingerprint", sa.String),
        sa.column("state", sa.String),
        sa.column("version", sa.Integer),
        sa.column("closed_at", sa.Float),
        sa.column("updated_at", sa.Float),
    )
    events = sa.table(
        "incident_events",
        sa.column("incident_id", sa.Integer),
        sa.column("ts", sa.Float),
        sa.column("actor", sa.String),
        sa.column("type", sa.String),
        sa.column("data", sa.JSON),
    )
    active = sa.and_(incidents.c.fingerprint.is_not(None), incidents.c.state.in_(ACTIVE))
    doubled = (
        sa.select(incidents.c.fingerprint)
        .where(active)
        .group_by(incidents.c.fingerprint)
        .having(sa.func.count() > 1)
    )
    now = time.time()
    for fingerprint in conn.execute(doubled).scalars().all():
        rows = conn.execute(
            sa.select(incidents.c.id, incidents.c.key, incidents.c.version)
            .where(active, incidents.c.fingerprint == fingerprint)
            .order_by(incidents.c.id.desc())
        ).all()
        keep = rows[0]
        for row in rows[1:]:
            conn.execute(
                incidents.update()
                .where(incidents.c.id == row.id)
                .values(state="closed", closed_at=now, updated_at=now, version=row.version + 1)
            )
            conn.execute(
                events.insert().values(
                    incident_id=row.id,
                    ts=now,
                    actor="upkeep",
                    type="closed",
                    data={"note": f"duplicate of {keep.key} (migration 0010)"},
                )
            )


def upgrade() -> None:
    _close_duplicates(op.get_bind())
    where = sa.text(
        "fingerprint IS NOT NULL AND state IN (" + ", ".join(f"'{s}'" for s in ACTIVE) + ")"
    )
    op.create_index(
        INDEX,
        "incidents",
        ["fingerprint"],
        unique=True,
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_table(
        "artefacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artefacts")),
    )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("artefact_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_reports_artefact_id_artefacts"), "artefacts", ["artefact_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint(op.f("fk_reports_artefact_id_artefacts"), type_="foreignkey")
        batch.drop_column("artefact_id")
    op.drop_table("artefacts")
    op.drop_index(INDEX, table_name="incidents")
