"""Closing communication (incident_closings) and true report states (issue 16).

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02 01:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"  # chained at merge after h15-store's 0014
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_EPOCH = sa.Float(precision=53)


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("notification_id", _BIG, nullable=True))
        batch.add_column(sa.Column("period_end", _EPOCH, nullable=True))
        batch.add_column(sa.Column("published_at", _EPOCH, nullable=True))
        batch.add_column(sa.Column("published_by", sa.String(length=100), nullable=True))
    op.create_table(
        "incident_closings",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("resolved_at", _EPOCH, nullable=False),
        sa.Column("due_at", _EPOCH, nullable=False),
        sa.Column("sent_at", _EPOCH, nullable=True),
        sa.Column("expires_at", _EPOCH, nullable=True),
        sa.Column("notification_id", _BIG, nullable=True),
        sa.Column("answered_at", _EPOCH, nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answered_via", sa.String(length=12), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", _EPOCH, nullable=False),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)",
            name=op.f("ck_incident_closings_rating_range"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_incident_closings_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_closings_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_closings")),
        sa.UniqueConstraint("token_id", name=op.f("uq_incident_closings_token_id")),
    )
    op.create_index(
        op.f("ix_incident_closings_state_due_at"), "incident_closings", ["state", "due_at"]
    )
    op.create_index(op.f("ix_incident_closings_incident_id"), "incident_closings", ["incident_id"])
    op.create_index(
        op.f("ix_incident_closings_client_id_answered_at"),
        "incident_closings",
        ["client_id", "answered_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_closings_client_id_answered_at"), "incident_closings")
    op.drop_index(op.f("ix_incident_closings_incident_id"), "incident_closings")
    op.drop_index(op.f("ix_incident_closings_state_due_at"), "incident_closings")
    op.drop_table("incident_closings")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("published_by")
        batch.drop_column("published_at")
        batch.drop_column("period_end")
        batch.drop_column("notification_id")
