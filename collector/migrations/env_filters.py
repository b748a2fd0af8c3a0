"""What autogenerate and the schema test compare: the tables of ``collector.schema``, not
the time partitions PostgreSQL keeps under ``samples`` and ``rollups_hourly``."""

from __future__ import annotations

from collector.partitions import is_partition


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic ``include_name`` hook: leave the partitions (collector.partitions) out."""
    return not (type_ == "table" and name is not None and is_partition(name))
