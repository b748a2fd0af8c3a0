"""Dead letters and shared login throttling (issue 12 items 4 and 5, issue 14).

Outbox rows and client notifications get ``first_failed_at`` (when the current run of failures
began: transient failures are retried until ``outbox_max_age`` / ``notify_max_age``, then
dead-lettered) and the terminal failure state is renamed ``failed`` → ``dead``. Failed web
logins are counted in ``login_failures`` so every replica sees the same count.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("outbox", "notifications"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("first_failed_at", sa.Float(precision=53), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET state = 'dead' WHERE state = 'failed'"))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_key_at"), "login_failures", ["key", "at"], unique=False)
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_at"), table_name="login_failures")
    op.drop_index(op.f("ix_login_failures_key_at"), table_name="login_failures")
    op.drop_table("login_failures")
    for table in ("outbox", "notifications"):
        op.execute(sa.text(f"UPDATE {table} SET state = 'failed' WHERE state = 'dead'"))
        with op.batch_alter_table(table) as batch:
            batch.drop_column("first_failed_at")
