"""On-call: overrides, escalation climbs, pages (issue 19).

Revision ID: 0019
Revises: 0011
Create Date: 2026-12-02 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"  # chained at merge after h18-heal's 0018
branch_labels = None
depends_on = None

Epoch = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rotation", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("replaces", sa.String(length=64), nullable=True),
        sa.Column("starts_at", Epoch, nullable=False),
        sa.Column("ends_at", Epoch, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("deleted_at", Epoch, nullable=True),
        sa.Column("deleted_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index(
        op.f("ix_oncall_overrides_rotation_ends_at"),
        "oncall_overrides",
        ["rotation", "ends_at"],
        unique=False,
    )
    op.create_table(
        "oncall_escalations",
        sa.Column("incident_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("started_at", Epoch, nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("next_at", Epoch, nullable=True),
        sa.Column("sla_pulled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("stopped_at", Epoch, nullable=True),
        sa.Column("stopped_by", sa.String(length=200), nullable=True),
        sa.Column("stop_recorded", sa.Boolean(), nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_oncall_escalations_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_oncall_escalations")),
    )
    op.create_index(
        op.f("ix_oncall_escalations_state_next_at"),
        "oncall_escalations",
        ["state", "next_at"],
        unique=False,
    )
    op.create_table(
        "oncall_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("used_at", Epoch, nullable=True),
        sa.Column("used_for", sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_oncall_pages_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_pages")),
    )
    op.create_index(
        op.f("ix_oncall_pages_incident_id"), "oncall_pages", ["incident_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oncall_pages_incident_id"), table_name="oncall_pages")
    op.drop_table("oncall_pages")
    op.drop_index(op.f("ix_oncall_escalations_state_next_at"), table_name="oncall_escalations")
    op.drop_table("oncall_escalations")
    op.drop_index(op.f("ix_oncall_overrides_rotation_ends_at"), table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
