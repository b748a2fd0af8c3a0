"""Incident titles in the client's language (issue 16): ``incidents.title_source``.

A rule's summary is rendered in English when the incident opens (the title technicians and
ticket systems read). ``title_source`` keeps what it was rendered from — the summary template
(the message id of the shipped rules' catalog, ``collector/rules/locale``), the labels and
names it quoted, the raw value with its unit, the forecast — so reports, closing messages and
the client portal can render the same title in the contract's language and locale
(``collector.incidents.titles``). NULL (reported incidents, Alertmanager alerts, incidents
opened before this revision): the stored title is shown.

Backward compatible (expand only, ``BACKWARD_COMPATIBLE``): a replica of the release before
writes incidents without it (their titles stay English), and reads nothing new.

Revision ID: 0021
Revises: 0012
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0023"
branch_labels = None
depends_on = None

#: Replicas of the previous release may run on this schema (collector.store.check).
BACKWARD_COMPATIBLE = True


def upgrade() -> None:
    op.add_column("incidents", sa.Column("title_source", sa.JSON(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place; a batch copy of ``incidents`` would have to
        # drop the table the other tables' foreign keys point to.
        op.execute("ALTER TABLE incidents DROP COLUMN title_source")
    else:
        op.drop_column("incidents", "title_source")
