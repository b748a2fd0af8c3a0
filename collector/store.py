"""The database: engine setup, transactions, migrations.

SQLite (WAL) is the embedded default and PostgreSQL the scale-out store; the code above
this module sees one :class:`Store` either way. On SQLite every write transaction takes
the in-process write lock and ``BEGIN IMMEDIATE``: one writer at a time is all SQLite
allows, and queuing in Python is cheaper than retrying on ``SQLITE_BUSY``. Readers never
wait for writers (WAL).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from collector.errors import StoreUnavailable
from collector.settings import Settings

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Each pooled SQLite connection's page cache (KiB). 16 MiB keeps the series/latest indexes'
#: hot pages; the OS page cache holds the rest of the file. It is per connection and the pool
#: can hold up to 15 (SQLAlchemy's 5 + 10 overflow): 64 MiB each was up to 960 MiB of RSS, and
#: fleet ingest was as fast with 16 (benchmarks/README.md, "Collector RSS as hosts are added").
SQLITE_CACHE_KIB = 16 * 1024
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so we can say BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute(
        "PRAGMA synchronous = NORMAL"
    )  # durable across app crashes; WAL keeps it consistent
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    cur.execute("PRAGMA temp_store = MEMORY")
    # Checkpoints normally run in the background (the sqlite-checkpoint job), off the ingest
    # path; this only bounds the WAL (~40 MiB) when nothing else checkpoints.
    cur.execute("PRAGMA wal_autocheckpoint = 10000")
    cur.close()


def private_sqlite_file(path: Path) -> None:
    """Make the store file (and its directory) private before SQLite opens it.

    The store holds token hashes, client data and contact details: 0600 for the file, 0700
    for a directory created here. SQLite gives the ``-wal`` and ``-shm`` files the database
    file's permissions, so they follow. A store created world-readable by an older version is
    tightened (when this user owns it).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(OSError):  # not ours, or gone: leave it to the admin
                if name.stat().st_mode & 0o077:
                    os.chmod(name, 0o600)


def _sqlite_on_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("upkeep_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def dialect_insert(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """``insert`` of the store's dialect, for ``ON CONFLICT`` (spelt alike by both)."""
    if dialect == "postgresql":
        return postgresql.insert
    return sqlite.insert


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an ``INSERT … VALUES`` just wrote.

    SQLAlchemy types ``inserted_primary_key`` as optional: it is None only for an
    executemany or a table without a primary key, which would be a bug here.
    """
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])


class DriverSQL:
    """The driver's own SQL on a connection inside a transaction, for the few statements a
    batch runs: ``first`` (one row as a tuple, or None), ``run`` and ``many`` (rowcount).

    On SQLite it calls the ``sqlite3`` connection under the SQLAlchemy connection directly
    (its statement cache keeps the statements prepared): SQLAlchemy's per-execution
    bookkeeping (execution context, cursor result, events) cost more than these statements.
    Driver errors are raised as SQLAlchemy raises them (``sa.exc.IntegrityError``, …), so
    callers handle one family of exceptions. Elsewhere (PostgreSQL) it is
    ``Connection.exec_driver_sql``, with SQLAlchemy's disconnect handling.
    """

    __slots__ = ("_conn", "_raw")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._raw: sqlite3.Connection | None = None
        if conn.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                self._raw = raw

    def first(self, sql: str, params: Any) -> tuple[Any, ...] | None:
        raw = self._raw
        if raw is None:
            row = self._conn.exec_driver_sql(sql, params).first()
            return None if row is None else tuple(row)
        try:
            return raw.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise _wrapped(sql, params, exc) from exc

    def run(self, sql: str, params: Any) -> int:
        raw = self._raw
        if raw is None:
            return self._conn.exec_driver_sql(sql, params).rowcount
        try:
            return raw.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise _wrapped(sql, params, exc) from exc

    def many(self, sql: str, rows: list[Any]) -> int:
        raw = self._raw
        if raw is None:
            return self._conn.exec_driver_sql(sql, rows).rowcount
        try:
            return raw.executemany(sql, rows).rowcount
        except sqlite3.Error as exc:
            raise _wrapped(sql, rows, exc) from exc


def _wrapped(sql: str, params: Any, exc: sqlite3.Error) -> BaseException:
    return sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True)


#: JSON columns hold standard JSON only: a NaN or Infinity raises instead of being written
#: (PostgreSQL would refuse it; SQLite would keep text no other reader can parse).
json_serializer = functools.partial(json.dumps, allow_nan=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the SQLite pragmas / PostgreSQL pool settings Upkeep needs."""
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_serializer)
    if parsed.get_backend_name() == "sqlite":
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            private_sqlite_file(Path(parsed.database).expanduser())
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    explicit_ping = "pool_pre_ping" in kwargs
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_size", 8)
    engine = sa.create_engine(url, **kwargs)
    if not explicit_ping:
        _ping_when_idle(engine)
    return engine


#: PostgreSQL: a pooled connection idle at least this long is pinged before it is used again.
#: SQLAlchemy's ``pool_pre_ping`` pings at every checkout, a round trip per transaction (about
#: 7 % of the collector's CPU under fleet ingest, benchmarks/README.md); a connection in
#: steady use is not pinged, and if the server went away under it the statement fails, the
#: pool is invalidated, and the caller's retry (an agent resends its batch) gets a new one.
PING_AFTER_IDLE = 5.0


def _ping_when_idle(engine: Engine) -> None:
    def checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["upkeep_idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("upkeep_idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool drops this connection and takes a fresh one
            raise sa.exc.DisconnectionError(f"idle connection gone: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic Config pointing at the migrations packaged in ``collector.migrations``."""
    cfg = Config()
    # A path next to this module, not "collector:migrations": works from a wheel, an
    # editable install and a source checkout alike, whatever the working directory.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(
        r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    )


@functools.cache
def _release_compatible() -> tuple[str, ...]:
    """:func:`compatible_revisions` of this release's migrations (read once)."""
    return tuple(compatible_revisions(ScriptDirectory.from_config(alembic_config())))


def compatible_revisions(script: ScriptDirectory) -> list[str]:
    """The revisions whose code may run on a database at ``script``'s head: the head, and
    going back through every migration that declares ``BACKWARD_COMPATIBLE = True`` (expand
    only: new tables, new nullable columns, data copied, nothing dropped or renamed that the
    code before it reads or writes), the revision before it. The first migration without the
    declaration (a contract step) stops the walk."""
    head = script.get_current_head()
    if head is None:
        return []
    out = [head]
    revision = script.get_revision(head)
    while (
        revision is not None
        and revision.down_revision is not None
        and getattr(revision.module, "BACKWARD_COMPATIBLE", False) is True
    ):
        down = revision.down_revision
        assert isinstance(down, str), "the migrations are one line (no merges)"
        out.append(down)
        revision = script.get_revision(down)
    return out


def _write_compat(conn: Connection, script: ScriptDirectory) -> None:
    """Record, next to alembic's version, which releases may still run on this schema."""
    from collector.schema import schema_compat

    head = script.get_current_head()
    values = {"revision": head, "compatible": compatible_revisions(script), "written_at": _now()}
    if conn.execute(sa.select(schema_compat.c.id).where(schema_compat.c.id == 1)).first():
        conn.execute(schema_compat.update().where(schema_compat.c.id == 1).values(**values))
    else:
        conn.execute(schema_compat.insert().values(id=1, **values))


def _now() -> float:
    import time

    return time.time()


_AFTER_COMMIT = "upkeep_after_commit"
_AFTER_ROLLBACK = "upkeep_after_rollback"


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` after :meth:`Store.write`'s transaction on ``conn`` committed (never
    when it rolls back). Outside a ``Store.write`` it never runs."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


def after_rollback(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` after :meth:`Store.write`'s transaction on ``conn`` rolled back (or its
    commit failed), once the connection is back in the pool; never after a commit. For
    in-memory state that ran ahead of the transaction (the cluster's in-transaction rule
    evaluation, collector/cluster.py)."""
    conn.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


class Store:
    """One database: the engine, the SQLite write lock, migrations and health."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        # Write connections carry the option from the start (made once, not per transaction).
        self._write_engine = engine.execution_options(upkeep_write=True)
        # PostgreSQL serializes conflicting writers with row locks; no process-wide lock.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._checkpointer: threading.Thread | None = None
        self._checkpointer_stop = threading.Event()
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **engine_kwargs: Any) -> Store:
        return cls(make_engine(settings.sqlalchemy_url, **engine_kwargs))

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(make_engine(url, **engine_kwargs))

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back on any exception. Callbacks
        given to :func:`after_commit` run once the commit is done (the rows are visible)."""
        lock = self._write_lock or contextlib.nullcontext()
        callbacks: list[Callable[[], None]] = []
        undo: list[Callable[[], None]] = []
        try:
            with lock, self._write_engine.connect() as conn:
                try:
                    with conn.begin():
                        yield conn
                finally:
                    # conn.info lives with the pooled DBAPI connection: never left for the next.
                    callbacks = conn.info.pop(_AFTER_COMMIT, [])
                    undo = conn.info.pop(_AFTER_ROLLBACK, [])
        except BaseException:
            for callback in undo:
                try:
                    callback()
                except Exception:
                    log.exception("an after-rollback callback failed")
            raise
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the transaction is committed; a callback cannot undo it
                log.exception("an after-commit callback failed")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot; never blocks on writers in WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def upgrade(self) -> None:
        """Apply pending migrations (no-op at head).

        A database already migrated past this release (a newer replica upgraded it during a
        rolling upgrade, docs/cluster.md) is left alone when its schema is declared
        compatible with this release; otherwise :class:`StoreUnavailable` says so.
        """
        if self._ahead_compatibly() or self._at_head_and_recorded():
            return
        # The write engine: BEGIN IMMEDIATE on SQLite takes the write lock before the first read.
        # A deferred transaction that reads the version and then writes fails at once with
        # "database is locked" (no busy wait) when another process committed in between: the
        # CLI upgrades on every call, beside a running collector.
        with self._write_engine.connect() as conn:
            config = alembic_config(conn)
            command.upgrade(config, "head")
            _write_compat(conn, ScriptDirectory.from_config(config))
            conn.commit()

    def _at_head_and_recorded(self) -> bool:
        """At head with this release's compatibility recorded: ``upgrade`` has nothing to write."""
        if self.current_revision() != self.head_revision():
            return False
        recorded = self.compatible_with_schema()
        return recorded is not None and tuple(recorded) == _release_compatible()

    def _ahead_compatibly(self) -> bool:
        """True when the database is at a revision this release does not know and that
        revision's release declared it compatible with this one; raises when not compatible."""
        current = self.current_revision()
        if current is None or current in _known_revisions():
            return False
        compatible = self.compatible_with_schema()
        if compatible is None or self.head_revision() not in compatible:
            raise StoreUnavailable(
                f"database schema at {current} is newer than this collector (it knows up to "
                f"{self.head_revision()}) and not compatible with it: upgrade this replica to "
                "the release that migrated the database (docs/cluster.md, rolling upgrade)"
            )
        log.info(
            "database schema at %s is newer than this collector (%s) and compatible with it",
            current,
            self.head_revision(),
        )
        return True

    def compatible_with_schema(self) -> list[str] | None:
        """The revisions the database's schema was declared compatible with (None: unknown)."""
        from collector.schema import schema_compat

        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(schema_compat.c.revision, schema_compat.c.compatible).where(
                        schema_compat.c.id == 1
                    )
                ).first()
        except sa.exc.SQLAlchemyError:
            return None  # no such table: a schema from before compatibility was recorded
        if row is None or row.revision != self.current_revision():
            return None  # written by an older step than the schema's: assume nothing
        return [str(r) for r in row.compatible or []]

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        return _head_revision()

    def check(self) -> None:
        """Raise StoreUnavailable unless the database answers and is migrated to head (or to a
        newer release's revision declared compatible with this one: a rolling upgrade)."""
        try:
            revision = self.current_revision()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(
                # DBAPIError wraps the driver's exception; other SQLAlchemyErrors have no orig.
                f"database not reachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
            ) from None
        if revision == self.head_revision():
            return
        if revision is not None and revision not in _known_revisions():
            self._ahead_compatibly()  # a newer release's schema: fine if declared compatible
            return
        raise StoreUnavailable(f"database schema at {revision}, expected {self.head_revision()}")

    @property
    def checkpoints(self) -> bool:
        """Whether :meth:`checkpoint` has work to do (a SQLite file; not :memory:, not PostgreSQL)."""
        database = self.engine.url.database
        return self.is_sqlite and bool(database) and database != ":memory:"

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database (the ``sqlite-checkpoint`` periodic job).

        A PASSIVE checkpoint neither waits for nor blocks the writer, and it runs in SQLite's C
        code without the GIL, so ingest no longer pays for checkpoints at commit (about a tenth
        of its time). One connection of its own, kept between turns. No-op elsewhere.
        """
        if not self.checkpoints:
            return
        with self._checkpoint_lock:
            if self._checkpoint_conn is None:
                conn = sqlite3.connect(
                    str(self.engine.url.database), check_same_thread=False, isolation_level=None
                )
                conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                self._checkpoint_conn = conn
            try:
                self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the next turn retries; autocheckpoint bounds the WAL
                log.warning("WAL checkpoint failed: %s", exc)

    def start_checkpointer(self, interval: float = 1.0) -> None:
        """:meth:`checkpoint` every ``interval`` s from a thread of its own, for a store used
        without the collector's job runner (the collector runs it as a periodic job)."""
        if not self.checkpoints or self._checkpointer:
            return
        self._checkpointer_stop.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(interval,), name="sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self, interval: float) -> None:
        while not self._checkpointer_stop.wait(interval):
            self.checkpoint()

    def stop_checkpointer(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer_stop.set()
            self._checkpointer.join(10)
            self._checkpointer = None

    def dispose(self) -> None:
        self.stop_checkpointer()
        with self._checkpoint_lock:
            if self._checkpoint_conn is not None:
                self._checkpoint_conn.close()
                self._checkpoint_conn = None
        self.engine.dispose()
