"""Incidents: incidents (+ per-client counters), incident_events (append-only), comments,
time_entries, tickets (incident x connector) and the transactional outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_counters",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_incident_counters_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_incident_counters")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("site", sa.String(length=100), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("asset", sa.String(length=253), nullable=True),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("first_value", sa.Float(precision=53), nullable=True),
        sa.Column("last_value", sa.Float(precision=53), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("cause", sa.String(length=20), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.Float(precision=53), nullable=False),
        sa.Column("acknowledged_at", sa.Float(precision=53), nullable=True),
        sa.Column("resolved_at", sa.Float(precision=53), nullable=True),
        sa.Column("closed_at", sa.Float(precision=53), nullable=True),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_incidents_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("client_id", "number", name=op.f("uq_incidents_client_id_number")),
        sa.UniqueConstraint("key", name=op.f("uq_incidents_key")),
    )
    op.create_index(
        op.f("ix_incidents_fingerprint_state"), "incidents", ["fingerprint", "state"], unique=False
    )
    op.create_index(
        op.f("ix_incidents_state_opened_at"), "incidents", ["state", "opened_at"], unique=False
    )
    op.create_table(
        "incident_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_comments_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_comments")),
    )
    op.create_index(
        op.f("ix_incident_comments_incident_id"), "incident_comments", ["incident_id"], unique=False
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        op.f("ix_incident_events_incident_id_id"),
        "incident_events",
        ["incident_id", "id"],
        unique=False,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("delivered_at", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_outbox_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        op.f("ix_outbox_incident_id_connector_id"),
        "outbox",
        ["incident_id", "connector", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_outbox_state_next_attempt_at"),
        "outbox",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "tickets",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("closed_remotely_at", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_tickets_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "connector", name=op.f("pk_tickets")),
    )
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("work_type", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_time_entries_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
    )
    op.create_index(
        op.f("ix_time_entries_incident_id"), "time_entries", ["incident_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_time_entries_incident_id"), table_name="time_entries")
    op.drop_table("time_entries")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_outbox_state_next_attempt_at"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_incident_id_connector_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_incident_events_incident_id_id"), table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index(op.f("ix_incident_comments_incident_id"), table_name="incident_comments")
    op.drop_table("incident_comments")
    op.drop_index(op.f("ix_incidents_state_opened_at"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_fingerprint_state"), table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("incident_counters")
