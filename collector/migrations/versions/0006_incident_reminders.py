"""Incidents: last_notified_at and reminders_sent (re-notification back-off).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("last_notified_at", sa.Float(precision=53), nullable=True))
        batch.add_column(
            sa.Column("reminders_sent", sa.Integer(), server_default="0", nullable=False)
        )
    # Open incidents from before: their last notification is their last change.
    op.execute("UPDATE incidents SET last_notified_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("reminders_sent")
        batch.drop_column("last_notified_at")
