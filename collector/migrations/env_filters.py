"""What autogenerate and the schema test compare: the tables of ``collector.schema``, not
the time partitions PostgreSQL keeps under ``samples`` and ``rollups_hourly``, nor the
PostgreSQL-only BRIN index on ``samples.ts`` (migration 0022; SQLite has none)."""

from __future__ import annotations

from collector.partitions import is_partition

#: Indexes a migration creates on PostgreSQL only, outside the shared metadata.
POSTGRES_ONLY_INDEXES = frozenset({"ix_samples_ts_brin"})


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic ``include_name`` hook: leave the partitions (collector.partitions) out."""
    if type_ == "index" and name in POSTGRES_ONLY_INDEXES:
        return False
    return not (type_ == "table" and name is not None and is_partition(name))
