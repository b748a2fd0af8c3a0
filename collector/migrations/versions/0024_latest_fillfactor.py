"""Room for in-page updates of ``latest`` on PostgreSQL (issue 15).

Every batch updates one ``latest`` row per series (its ``ts`` and ``value``, neither indexed).
With the default fill factor (100) a page has no room for the new row version, so only ~41 %
of the updates were HOT (heap-only: no index entry, no new page) in the fleet benchmark; the
others write a new index entry and dirty a second page each. A fill factor of 70 leaves 30 %
of each page free for the new versions. It applies to pages written from now on; the table
reaches it as it is rewritten (``VACUUM FULL latest`` or ``CLUSTER`` in a quiet hour does it
at once). SQLite has no fill factor: nothing changes there.

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None

#: A storage parameter only: code of the previous revision runs unchanged against it.
BACKWARD_COMPATIBLE = True

FILLFACTOR = 70


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE latest SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE latest RESET (fillfactor)")
