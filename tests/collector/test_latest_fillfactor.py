"""Migration 0024: ``latest`` leaves room in each page for in-page (HOT) updates on
PostgreSQL; SQLite has no fill factor and is left as it was."""

from __future__ import annotations

from alembic import command

from collector.store import Store, alembic_config


def _reloptions(store: Store) -> list[str]:
    with store.read() as conn:
        options = conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE oid = 'latest'::regclass"
        ).scalar()
    return list(options or [])


def test_latest_has_room_for_in_page_updates_on_postgresql(store: Store) -> None:
    if store.is_sqlite:
        with store.read() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'latest'"
            ).scalar()
        assert "WITHOUT ROWID" not in sql.upper() and "fillfactor" not in sql.lower()
        return
    assert _reloptions(store) == ["fillfactor=70"]
    with store.engine.connect() as conn:
        command.downgrade(alembic_config(conn), "0021")
        conn.commit()
    assert _reloptions(store) == []
    store.upgrade()
    assert _reloptions(store) == ["fillfactor=70"]
