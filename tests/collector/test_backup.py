"""``upkeep db backup``: a consistent SQLite copy while writers run; rotation; PostgreSQL refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime

from collector import admin
from collector.backup import backup_sqlite
from collector.settings import Settings
from collector.store import Store


def _env(data_dir) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env["UPKEEP_DATA_DIR"] = str(data_dir)
    return env


def test_backup_is_consistent_while_the_store_is_written(tmp_path):
    settings = Settings.for_data_dir(tmp_path / "data")
    settings.data_dir.mkdir()
    store = Store.from_settings(settings)
    store.upgrade()
    for i in range(200):
        admin.create_client(store, f"client-{i:03d}")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            admin.create_client(store, f"late-{i}")
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = backup_sqlite(settings, tmp_path / "backup.db")
    finally:
        stop.set()
        thread.join()
        store.dispose()
    with sqlite3.connect(result.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = [r[0] for r in conn.execute("SELECT name FROM clients WHERE name LIKE 'client-%'")]
        assert len(names) == 200
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert not (tmp_path / "backup.db-wal").exists()
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"


def test_cli_backup_into_a_directory_keeps_the_newest(tmp_path):
    env = _env(tmp_path / "data")
    subprocess.run(
        [sys.executable, "-m", "collector.cli", "client", "add", "acme"],
        env=env,
        check=True,
        capture_output=True,
    )
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in (1, 2, 3):  # earlier backups, by name
        (backups / f"upkeep-2026010{day}T000000Z.db").write_bytes(b"old")
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", "db", "backup", str(backups), "--keep", "2"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = sorted(p.name for p in backups.iterdir())
    assert len(left) == 2 and left[0] == "upkeep-20260103T000000Z.db"
    with sqlite3.connect(backups / left[1]) as conn:
        assert conn.execute("SELECT name FROM clients").fetchall() == [("acme",)]


def test_backup_names_are_utc_timestamps(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    Store.from_settings(settings).upgrade()
    result = backup_sqlite(settings, tmp_path, now=datetime(2026, 3, 1, 2, 3, 4, tzinfo=UTC))
    assert result.path.name == "upkeep-20260301T020304Z.db"


def test_postgresql_store_is_pointed_to_pg_dump(tmp_path):
    env = {**_env(tmp_path), "UPKEEP_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/x"}
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", "db", "backup", str(tmp_path / "b.db")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "pg_dump" in proc.stderr
