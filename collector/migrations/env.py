"""Alembic environment: run by ``collector.store.upgrade`` with a live connection.

There is no alembic.ini: ``collector.store`` builds the Config in code, so the migrations
travel inside the package and need no working directory.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from collector.migrations.env_filters import include_name
from collector.schema import metadata

# A fixed key so two collectors starting together on one PostgreSQL migrate one at a time.
_PG_MIGRATION_LOCK = 0x75706B70


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no connection and no sqlalchemy.url to connect to")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
