"""Files the collector creates are private (issue 12 item 14): the SQLite store and its
``-wal``/``-shm`` files 0600, its directory 0700, report archives 0600, whatever the umask;
a store left world-readable by an older version is tightened on open. A real ``upkeep
serve`` runs with umask 077, so everything it writes is private."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.store import Store
from tests.servers.collector import CollectorProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022, under which files are created world-readable by default."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_sqlite_store_and_its_wal_files_are_private(tmp_path, open_umask):
    db = tmp_path / "data" / "upkeep.db"
    store = Store.from_url(f"sqlite:///{db}")
    try:
        store.upgrade()
        with store.write() as conn:
            conn.execute(
                sa.text("INSERT INTO clients (name, enabled, created_at) VALUES ('a', true, 0)")
            )
        names = {p.name: _mode(p) for p in db.parent.iterdir()}
        assert {"upkeep.db", "upkeep.db-wal", "upkeep.db-shm"} <= names.keys()
        assert {n: m for n, m in names.items() if n.startswith("upkeep.db")} == {
            "upkeep.db": 0o600,
            "upkeep.db-wal": 0o600,
            "upkeep.db-shm": 0o600,
        }
        assert _mode(db.parent) == 0o700
    finally:
        store.dispose()


def test_a_world_readable_store_is_tightened(tmp_path, open_umask):
    db = tmp_path / "upkeep.db"
    first = Store.from_url(f"sqlite:///{db}")
    first.upgrade()
    first.dispose()
    os.chmod(db, 0o644)
    again = Store.from_url(f"sqlite:///{db}")
    try:
        assert again.current_revision() is not None
        assert _mode(db) == 0o600
    finally:
        again.dispose()


@pytest.mark.slow
def test_upkeep_serve_creates_private_files(tmp_path, open_umask):
    data = tmp_path / "fresh"
    with CollectorProcess(data) as collector:
        collector.cli("client", "add", "acme")
    created = {p.name: _mode(p) for p in data.iterdir() if p.name.startswith("upkeep.db")}
    assert created and set(created.values()) == {0o600}, created
