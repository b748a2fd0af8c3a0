"""Remediation: signed agent tasks and their append-only audit log (issue 18).

Revision ID: 0018
Revises: 0011
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0015"  # chained at merge after h16-comm's 0015
branch_labels = None
depends_on = None

Epoch = sa.Float(precision=53)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "remediation_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(length=253), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("expires_at", Epoch, nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("signature", sa.String(length=100), nullable=True),
        sa.Column("delivered_at", Epoch, nullable=True),
        sa.Column("finished_at", Epoch, nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("request_key", sa.String(length=140), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_remediation_tasks_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_remediation_tasks_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_remediation_tasks_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_tasks")),
    )
    op.create_index(
        op.f("ix_remediation_tasks_client_id_asset_id_state"),
        "remediation_tasks",
        ["client_id", "asset_id", "state"],
    )
    op.create_index(
        op.f("ix_remediation_tasks_asset_id_created_at"),
        "remediation_tasks",
        ["asset_id", "created_at"],
    )
    op.create_index(op.f("ix_remediation_tasks_incident_id"), "remediation_tasks", ["incident_id"])
    op.create_table(
        "remediation_audit",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("ts", Epoch, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("asset", sa.String(length=253), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_audit")),
    )
    op.create_index(op.f("ix_remediation_audit_task_id"), "remediation_audit", ["task_id"])
    op.create_index(
        op.f("ix_remediation_audit_client_id_ts"), "remediation_audit", ["client_id", "ts"]
    )


def downgrade() -> None:
    op.drop_table("remediation_audit")
    op.drop_table("remediation_tasks")
