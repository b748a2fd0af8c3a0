"""Tokens: a third kind, ``alertmanager`` (may only post to the Alertmanager receiver).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table to change a CHECK constraint.
    with op.batch_alter_table("tokens") as batch:
        batch.drop_constraint(op.f("ck_tokens_kind"), type_="check")
        batch.alter_column(
            "kind",
            existing_type=sa.String(length=10),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
        batch.create_check_constraint(
            op.f("ck_tokens_kind"), "kind IN ('agent', 'admin', 'alertmanager')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM tokens WHERE kind = 'alertmanager'")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_constraint(op.f("ck_tokens_kind"), type_="check")
        batch.alter_column(
            "kind",
            existing_type=sa.String(length=20),
            type_=sa.String(length=10),
            existing_nullable=False,
        )
        batch.create_check_constraint(op.f("ck_tokens_kind"), "kind IN ('agent', 'admin')")
