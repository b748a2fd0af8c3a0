"""Contracts, SLA clocks, points ledger, service requests, preventive work, client
notifications (issue 6); users, web sessions and the report archive (issue 7). Time entries
may belong to a service request and may be mirrored from a ticket system.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:09:22.519129
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_contracts_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_contracts")),
    )
    op.create_table(
        "ledger_notices",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("threshold", sa.String(length=20), nullable=False),
        sa.Column("balance_centipoints", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_ledger_notices_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", "period", "threshold", name=op.f("pk_ledger_notices")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("sent_at", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notifications_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index(
        op.f("ix_notifications_state_next_attempt_at"),
        "notifications",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("generated_at", sa.Float(precision=53), nullable=False),
        sa.Column("emailed_at", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_reports_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index(
        op.f("ix_reports_client_id_period"), "reports", ["client_id", "period"], unique=False
    )
    op.create_table(
        "request_counters",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_request_counters_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_request_counters")),
    )
    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("work_type", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("estimate_minutes", sa.Integer(), nullable=True),
        sa.Column("estimate_centipoints", sa.BigInteger(), nullable=True),
        sa.Column("approved_centipoints", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_via", sa.String(length=20), nullable=True),
        sa.Column("decided_at", sa.Float(precision=53), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("started_at", sa.Float(precision=53), nullable=True),
        sa.Column("completed_at", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_service_requests_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_requests")),
        sa.UniqueConstraint(
            "client_id", "number", name=op.f("uq_service_requests_client_id_number")
        ),
        sa.UniqueConstraint("key", name=op.f("uq_service_requests_key")),
    )
    op.create_index(
        op.f("ix_service_requests_client_id_state"),
        "service_requests",
        ["client_id", "state"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("display_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("email", sa.String(length=300), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_login_at", sa.Float(precision=53), nullable=True),
        sa.CheckConstraint(
            "(role = 'client_viewer') = (client_id IS NOT NULL)",
            name=op.f("ck_users_client_for_viewer"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'technician', 'client_viewer')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_users_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "incident_sla",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("response_target", sa.Float(precision=53), nullable=True),
        sa.Column("response_due_at", sa.Float(precision=53), nullable=True),
        sa.Column("responded_at", sa.Float(precision=53), nullable=True),
        sa.Column("response_elapsed", sa.Float(precision=53), nullable=False),
        sa.Column("response_breached", sa.Boolean(), nullable=False),
        sa.Column("resolution_target", sa.Float(precision=53), nullable=True),
        sa.Column("resolution_due_at", sa.Float(precision=53), nullable=True),
        sa.Column("resolved_at", sa.Float(precision=53), nullable=True),
        sa.Column("resolution_elapsed", sa.Float(precision=53), nullable=False),
        sa.Column("resolution_breached", sa.Boolean(), nullable=False),
        sa.Column("paused_seconds", sa.Float(precision=53), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_incident_sla_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_sla_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_sla")),
    )
    op.create_index(
        op.f("ix_incident_sla_client_id_state"),
        "incident_sla",
        ["client_id", "state"],
        unique=False,
    )
    op.create_index(
        op.f("ix_incident_sla_state_resolution_due_at"),
        "incident_sla",
        ["state", "resolution_due_at"],
        unique=False,
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("centipoints", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "kind IN ('allotment', 'rollover', 'charge', 'topup', 'adjustment', 'expiry')",
            name=op.f("ck_ledger_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_ledger_entries_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_ledger_entries_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_ledger_entries_request_id_service_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_ledger_entries_dedupe_key")),
    )
    op.create_index(
        op.f("ix_ledger_entries_client_id_period"),
        "ledger_entries",
        ["client_id", "period"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ledger_entries_client_id_ts"), "ledger_entries", ["client_id", "ts"], unique=False
    )
    op.create_table(
        "preventive_work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(length=100), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("asset", sa.String(length=253), nullable=True),
        sa.Column("done_at", sa.Float(precision=53), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_preventive_work_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_preventive_work_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preventive_work")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_preventive_work_incident_id")),
    )
    op.create_index(
        op.f("ix_preventive_work_client_id_done_at"),
        "preventive_work",
        ["client_id", "done_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_preventive_work_client_id_task_id_done_at"),
        "preventive_work",
        ["client_id", "task_id", "done_at"],
        unique=False,
    )
    op.create_table(
        "request_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_request_events_request_id_service_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    op.create_index(
        op.f("ix_request_events_request_id_id"),
        "request_events",
        ["request_id", "id"],
        unique=False,
    )
    op.create_table(
        "sla_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("ended_at", sa.Float(precision=53), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_sla_pauses_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_pauses")),
    )
    op.create_index(op.f("ix_sla_pauses_incident_id"), "sla_pauses", ["incident_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_seen_at", sa.Float(precision=53), nullable=False),
        sa.Column("expires_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(
        op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    with op.batch_alter_table("time_entries") as batch:
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("source", sa.String(length=100), server_default="upkeep", nullable=False)
        )
        batch.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("spent_at", sa.Float(precision=53), nullable=True))
        batch.alter_column("incident_id", existing_type=sa.INTEGER(), nullable=True)
        batch.create_index(op.f("ix_time_entries_request_id"), ["request_id"], unique=False)
        batch.create_unique_constraint(
            op.f("uq_time_entries_source_external_id"), ["source", "external_id"]
        )
        batch.create_foreign_key(
            op.f("fk_time_entries_request_id_service_requests"),
            "service_requests",
            ["request_id"],
            ["id"],
        )
        batch.create_check_constraint(
            "one_subject", "(incident_id IS NULL) <> (request_id IS NULL)"
        )


def downgrade() -> None:
    with op.batch_alter_table("time_entries") as batch:
        batch.drop_constraint(op.f("ck_time_entries_one_subject"), type_="check")
        batch.drop_constraint(
            op.f("fk_time_entries_request_id_service_requests"), type_="foreignkey"
        )
        batch.drop_constraint(op.f("uq_time_entries_source_external_id"), type_="unique")
        batch.drop_index(op.f("ix_time_entries_request_id"))
        batch.alter_column("incident_id", existing_type=sa.INTEGER(), nullable=False)
        batch.drop_column("spent_at")
        batch.drop_column("external_id")
        batch.drop_column("source")
        batch.drop_column("request_id")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_sla_pauses_incident_id"), table_name="sla_pauses")
    op.drop_table("sla_pauses")
    op.drop_index(op.f("ix_request_events_request_id_id"), table_name="request_events")
    op.drop_table("request_events")
    op.drop_index(
        op.f("ix_preventive_work_client_id_task_id_done_at"), table_name="preventive_work"
    )
    op.drop_index(op.f("ix_preventive_work_client_id_done_at"), table_name="preventive_work")
    op.drop_table("preventive_work")
    op.drop_index(op.f("ix_ledger_entries_client_id_ts"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_client_id_period"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(op.f("ix_incident_sla_state_resolution_due_at"), table_name="incident_sla")
    op.drop_index(op.f("ix_incident_sla_client_id_state"), table_name="incident_sla")
    op.drop_table("incident_sla")
    op.drop_table("users")
    op.drop_index(op.f("ix_service_requests_client_id_state"), table_name="service_requests")
    op.drop_table("service_requests")
    op.drop_table("request_counters")
    op.drop_index(op.f("ix_reports_client_id_period"), table_name="reports")
    op.drop_table("reports")
    op.drop_index(op.f("ix_notifications_state_next_attempt_at"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("ledger_notices")
    op.drop_table("contracts")
