"""Indexes for the dependency stage's site state (issue 15: the incident storm).

To decide whether a silent asset is one of a whole silent site, the incident pipeline reads
the site's assets and their firing rule alerts. Neither ``assets.site_id`` nor
``rule_alerts.asset_id`` was indexed: each read scanned every asset and every firing alert
of every client (30,000 of each after a fleet-wide silence at 30,000 hosts).

Backward compatible (``BACKWARD_COMPATIBLE``): indexes only; code of the previous revision
runs unchanged against it. On a large PostgreSQL table, ``CREATE INDEX`` holds a lock that
blocks writes for its duration (seconds for these tables at 30,000 hosts).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 14:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BACKWARD_COMPATIBLE = True


def upgrade() -> None:
    op.create_index("ix_assets_site_id", "assets", ["site_id"])
    op.create_index("ix_rule_alerts_asset_id", "rule_alerts", ["asset_id"])


def downgrade() -> None:
    op.drop_index("ix_rule_alerts_asset_id", table_name="rule_alerts")
    op.drop_index("ix_assets_site_id", table_name="assets")
