"""Noise control: maintenance_windows (defined through the API) and deferred_signals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_maintenance_windows_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
        sa.UniqueConstraint(
            "client_id", "name", name=op.f("uq_maintenance_windows_client_id_name")
        ),
    )
    op.create_table(
        "deferred_signals",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("until", sa.Float(precision=53), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("signal", sa.JSON(), nullable=False),
        sa.Column("deferred_at", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_deferred_signals")),
    )
    op.create_index(op.f("ix_deferred_signals_until"), "deferred_signals", ["until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deferred_signals_until"), table_name="deferred_signals")
    op.drop_table("deferred_signals")
    op.drop_table("maintenance_windows")
