"""Migrations and engine setup, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from collector.migrations.env_filters import include_name
from collector.schema import metadata
from collector.store import Store


def test_migrations_upgrade_an_empty_database_to_head(db_url):
    store = Store.from_url(db_url)
    try:
        assert store.current_revision() is None
        store.upgrade()
        assert store.current_revision() == store.head_revision() is not None
        store.upgrade()  # at head: a no-op
        store.check()
        with store.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert {
            "clients",
            "sites",
            "assets",
            "agents",
            "tokens",
            "series",
            "samples",
            "latest",
            "rollups_hourly",
            "batches",
            "events",
        } <= tables
    finally:
        store.dispose()


def test_migrated_database_matches_the_metadata(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            ),
            metadata,
        )
    assert diff == []


def test_check_fails_on_an_unmigrated_database(db_url):

    from collector.errors import StoreUnavailable

    store = Store.from_url(db_url)
    try:
        with pytest.raises(StoreUnavailable, match="schema at None"):
            store.check()
    finally:
        store.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # creates the directory
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        store.dispose()


def test_write_transaction_rolls_back_on_error(store):
    from collector.schema import clients

    try:
        with store.write() as conn:
            conn.execute(clients.insert().values(name="x", enabled=True, created_at=1.0))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(clients)).scalar() == 0


def test_background_checkpointer_starts_and_stops(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    store.upgrade()
    store.start_checkpointer(interval=0.05)
    store.start_checkpointer()  # idempotent
    thread = store._checkpointer
    assert thread is not None and thread.is_alive()
    from collector import admin

    for i in range(20):
        admin.create_client(store, f"c{i}")
    import time

    time.sleep(0.3)
    store.dispose()
    assert not thread.is_alive()
    assert len(admin.list_clients(Store.from_url(f"sqlite:///{tmp_path / 'x.db'}"))) == 20


def test_postgresql_pings_an_idle_pooled_connection_and_replaces_a_dead_one(db_url, monkeypatch):
    """No ping per checkout (a round trip per transaction); a connection idle past
    PING_AFTER_IDLE is pinged, and one the server closed meanwhile is replaced."""
    from collector import store as store_module

    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL pool only")
    store = Store.from_url(db_url, pool_size=1, max_overflow=0)
    try:
        pings: list[object] = []
        real_ping = store.engine.dialect.do_ping
        monkeypatch.setattr(
            store.engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c)
        )
        with store.read() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        for _ in range(3):  # in steady use: never pinged
            with store.read() as conn:
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == pid
        assert pings == []

        other = sa.create_engine(db_url)
        with other.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        other.dispose()
        monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 0.0)
        with store.read() as conn:  # idle: pinged, found dead, replaced by a new connection
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
        assert len(pings) == 1
    finally:
        store.dispose()


def test_upgrade_at_head_only_reads_beside_a_busy_writer(tmp_path):
    """The CLI upgrades the store on every call, beside a running collector. At head that is
    reads only: a writer holding the lock neither delays it nor fails it with "database is
    locked" (a deferred read-then-write fails at once when another process wrote in between)."""
    import sqlite3
    import threading

    path = tmp_path / "x.db"
    first = Store.from_url(f"sqlite:///{path}")
    first.upgrade()
    first.dispose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the collector, mid-write
    writer.execute("INSERT INTO clients (name, enabled, created_at) VALUES ('busy', 1, 1.0)")
    store = Store.from_url(f"sqlite:///{path}")
    statements: list[str] = []
    sa.event.listen(
        store.engine, "before_cursor_execute", lambda *a: statements.append(a[2].lstrip().upper())
    )
    failed: list[BaseException] = []

    def upgrade() -> None:
        try:
            store.upgrade()
        except BaseException as exc:  # reported below
            failed.append(exc)

    thread = threading.Thread(target=upgrade)
    thread.start()
    thread.join(10.0)  # the busy timeout is 30 s: a write would still be waiting
    try:
        assert not thread.is_alive(), "upgrade at head waited for the writer's lock"
        assert failed == []
        writes = [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE", "BEGIN I"))]
        assert writes == [] and statements  # it read the version, and wrote nothing
    finally:
        writer.execute("ROLLBACK")
        thread.join()
        writer.close()
        store.dispose()
