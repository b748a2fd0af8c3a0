"""``upkeep db backup``: a consistent copy of the SQLite store while the collector runs.

SQLite's online backup API copies the database page by page under its own locking, so
the copy is consistent even while the collector writes (WAL mode: readers and the
backup never block ingest for long; a write during a step makes SQLite restart that
step). The copy is written next to the destination and renamed into place only after
``PRAGMA quick_check`` passed, so a backup file is either complete or absent.
PostgreSQL stores are backed up with PostgreSQL's tools (``pg_dump``); see
docs/deployment.md.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from collector.errors import InvalidArgument, NotFound
from collector.settings import Settings

BACKUP_PREFIX = "upkeep-"
BACKUP_SUFFIX = ".db"


@dataclass(frozen=True)
class BackupResult:
    """What ``backup_sqlite`` wrote."""

    path: Path
    bytes: int
    seconds: float
    removed: tuple[Path, ...] = ()


def sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite":
        raise InvalidArgument(
            f"db backup copies SQLite stores; {url.get_backend_name()} is backed up with "
            "its own tools (pg_dump -Fc …; see docs/deployment.md)"
        )
    if not url.database or url.database == ":memory:":
        raise InvalidArgument("the store is an in-memory database")
    return Path(url.database)


def backup_sqlite(
    settings: Settings, dest: Path, *, keep: int | None = None, now: datetime | None = None
) -> BackupResult:
    """Copy the store to ``dest`` (a file, or a directory for a timestamped file).

    ``keep``: with a directory, then delete all but the newest ``keep`` backups there.
    """
    source = sqlite_path(settings)
    if not source.exists():
        raise NotFound(f"no store at {source}")
    if dest.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        target = dest / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"
    else:
        if keep is not None:
            raise InvalidArgument("--keep needs a directory as the destination")
        target = dest
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    started = time.monotonic()
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            # Small steps with a pause: the collector's writers get the lock in between.
            src.backup(dst, pages=4096, sleep=0.01)
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"backup failed its integrity check: {check}")
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    removed: tuple[Path, ...] = ()
    if keep is not None:
        backups = sorted(dest.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}"))
        removed = tuple(backups[:-keep]) if keep > 0 else tuple(backups)
        for old in removed:
            if old != target:
                old.unlink()
    return BackupResult(target, target.stat().st_size, time.monotonic() - started, removed)
