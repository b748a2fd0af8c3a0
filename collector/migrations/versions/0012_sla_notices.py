"""SLA notices in the SLA domain's own table (issue 14: listeners only read incidents), and
``schema_compat``: which releases may run on the schema (rolling upgrades, docs/cluster.md).

The warning/breach notices the SLA clocks sent were events in ``incident_events``; they move
to ``sla_notices`` (the incident timeline shows them through ``collector.sla.queries``).

Backward compatible (expand only, ``BACKWARD_COMPATIBLE``): a replica of the release before
keeps working on this schema during a rolling upgrade (docs/cluster.md); a notice it sends
is an ``incident_events`` row again, which the timeline still shows as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0019"  # chained at merge after h19-oncall's 0019 (ids are names, not an order)
branch_labels = None
depends_on = None

#: Replicas of the previous release may run on this schema (collector.store.check).
BACKWARD_COMPATIBLE = True

_KIND = {"sla_warning": "warning", "sla_breached": "breach"}


def upgrade() -> None:
    op.create_table(
        "schema_compat",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("compatible", sa.JSON(), nullable=False),
        sa.Column("written_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_compat")),
    )
    notices = op.create_table(
        "sla_notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_sla_notices_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_sla_notices_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_notices")),
        sa.UniqueConstraint(
            "incident_id", "target", "kind", name=op.f("uq_sla_notices_incident_id_target_kind")
        ),
    )
    op.create_index(
        op.f("ix_sla_notices_client_id_ts"), "sla_notices", ["client_id", "ts"], unique=False
    )
    # The notices already sent move over (nothing sent is lost from the timeline).
    conn = op.get_bind()
    events = sa.table(
        "incident_events",
        sa.column("id", sa.BigInteger()),
        sa.column("incident_id", sa.Integer()),
        sa.column("ts", sa.Float()),
        sa.column("actor", sa.String()),
        sa.column("type", sa.String()),
        sa.column("data", sa.JSON()),
    )
    incidents = sa.table("incidents", sa.column("id", sa.Integer()), sa.column("client_id"))
    rows = conn.execute(
        sa.select(events, incidents.c.client_id)
        .join(incidents, incidents.c.id == events.c.incident_id)
        .where(events.c.type.in_(tuple(_KIND)))
        .order_by(events.c.id)
    ).all()
    seen: set[tuple[int, str, str]] = set()
    for row in rows:
        data = dict(row.data or {})
        target = str(data.get("target", "response"))
        key = (row.incident_id, target, _KIND[row.type])
        if key in seen:
            continue
        seen.add(key)
        conn.execute(
            notices.insert().values(
                incident_id=row.incident_id,
                client_id=row.client_id,
                target=target,
                kind=_KIND[row.type],
                ts=row.ts,
                actor=row.actor,
                data=data,
            )
        )
    if rows:
        conn.execute(events.delete().where(events.c.id.in_([r.id for r in rows])))


def downgrade() -> None:
    conn = op.get_bind()
    notices = sa.table(
        "sla_notices",
        sa.column("incident_id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("ts", sa.Float()),
        sa.column("actor", sa.String()),
        sa.column("data", sa.JSON()),
    )
    events = sa.table(
        "incident_events",
        sa.column("incident_id", sa.Integer()),
        sa.column("ts", sa.Float()),
        sa.column("actor", sa.String()),
        sa.column("type", sa.String()),
        sa.column("data", sa.JSON()),
    )
    back = {v: k for k, v in _KIND.items()}
    for row in conn.execute(sa.select(notices)).all():
        conn.execute(
            events.insert().values(
                incident_id=row.incident_id,
                ts=row.ts,
                actor=row.actor,
                type=back[row.kind],
                data=row.data,
            )
        )
    op.drop_index(op.f("ix_sla_notices_client_id_ts"), table_name="sla_notices")
    op.drop_table("sla_notices")
    op.drop_table("schema_compat")
