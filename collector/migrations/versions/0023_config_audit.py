"""Audit of configuration saved from the web UI (connectors; issue 17).

Revision ID: 0023
Revises: 0012
Create Date: 2026-12-02 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

#: Adds a table only: code of the previous revision runs unchanged against it.
BACKWARD_COMPATIBLE = True

Epoch = sa.Float(precision=53)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "config_audit",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ts", Epoch, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_audit")),
    )
    op.create_index(
        op.f("ix_config_audit_subject_id"), "config_audit", ["subject", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_config_audit_subject_id"), table_name="config_audit")
    op.drop_table("config_audit")
