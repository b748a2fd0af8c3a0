"""Rule engine state: rule_alerts (current state per alert) and alert_transitions (append-only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_alerts",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.BigInteger(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_rule_alerts")),
    )
    op.create_index(op.f("ix_rule_alerts_status"), "rule_alerts", ["status"], unique=False)
    op.create_table(
        "alert_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("previous_status", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("previous_severity", sa.String(length=10), nullable=True),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("runbook", sa.Text(), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_transitions")),
    )
    op.create_index(
        op.f("ix_alert_transitions_fingerprint_id"),
        "alert_transitions",
        ["fingerprint", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_alert_transitions_recorded_at"), "alert_transitions", ["recorded_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_transitions_recorded_at"), table_name="alert_transitions")
    op.drop_index(op.f("ix_alert_transitions_fingerprint_id"), table_name="alert_transitions")
    op.drop_table("alert_transitions")
    op.drop_index(op.f("ix_rule_alerts_status"), table_name="rule_alerts")
    op.drop_table("rule_alerts")
