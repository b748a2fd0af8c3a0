"""The agent's durable spool: every sample is written here before anything is sent.

Two stages, both in one SQLite file (WAL):

* ``items`` — samples and events as collected, oldest first;
* ``outgoing`` — batches cut from the oldest items, each with its ``batch_id`` and ``seq``
  fixed *before* the first attempt, so a retry after a crash or a lost answer resends the
  very same batch and the collector can recognise it.

A batch leaves the spool only when the collector acknowledged it (``ack``) or rejected it
as permanently invalid (``reject``, counted). The spool is bounded by size and age; when
it must drop, it drops the oldest data first and counts every dropped sample.

**The size bound is on disk**: the database file plus its WAL. The file is created with
``auto_vacuum=INCREMENTAL`` (an older file is converted once with ``VACUUM``), freed pages
are given back with ``incremental_vacuum`` and the WAL is checkpointed (``TRUNCATE``) and
capped (``wal_autocheckpoint``, ``journal_size_limit``) in proportion to the bound, so a
long outage with ``max_mb: 1`` leaves about 1 MB on disk, not 9.

**A corrupt spool is moved aside, never fatal.** At open (a file that is not SQLite, a
truncated one, a page ``PRAGMA quick_check`` finds broken, a schema that is not the
spool's) and at any later read or write that SQLite answers with SQLITE_CORRUPT or
SQLITE_NOTADB, the file and its ``-wal``/``-shm`` are renamed to
``<name>.corrupt-<UTC timestamp>`` (the newest few are kept for a post-mortem), a loud
error is logged, the corruption is counted (``upkeep_agent_spool_corruptions_total``,
reported with a ``spool_corrupt`` event by the self-check) and the agent carries on with
a fresh spool. What was in the bad file is not sent.
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
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from agent.checks.base import Event, Sample

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,          -- 's' sample, 'e' event
    asset TEXT NOT NULL,
    ts    REAL NOT NULL,
    body  TEXT NOT NULL           -- the item's wire JSON
);
CREATE TABLE IF NOT EXISTS outgoing (
    seq       INTEGER PRIMARY KEY,
    batch_id  TEXT NOT NULL UNIQUE,
    created   REAL NOT NULL,
    last_ts   REAL NOT NULL,
    n_samples INTEGER NOT NULL,
    n_events  INTEGER NOT NULL,
    content   TEXT NOT NULL       -- '"assets":[…],"samples":[…],"events":[…]'
);
CREATE TABLE IF NOT EXISTS assets (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: The columns of each table the spool owns: a file whose tables differ is not a spool.
_COLUMNS = {
    "items": ("id", "kind", "asset", "ts", "body"),
    "outgoing": ("seq", "batch_id", "created", "last_ts", "n_samples", "n_events", "content"),
    "assets": ("name", "body"),
    "meta": ("key", "value"),
}

#: SQLite's primary result codes for "this is not (or no longer) a sound database".
#: Everything else (locked, disk full, no permission) is not corruption: moving the file
#: aside would lose good data, so those are raised as they are.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

#: Moved-aside corrupt spools kept for a post-mortem; older ones are deleted (size bound).
KEEP_CORRUPT = 3

_T = TypeVar("_T")


class SpoolCorrupt(sqlite3.DatabaseError):
    """The spool file is damaged or is not a spool (raised inside ``open``; never escapes)."""


def _is_corruption(exc: BaseException) -> bool:
    if isinstance(exc, SpoolCorrupt):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.DatabaseError)
        and code is not None
        and (code & 0xFF)
        in (
            _SQLITE_CORRUPT,
            _SQLITE_NOTADB,
        )
    )


def _recovering(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run a spool operation; on corruption, move the file aside and run it once more on a
    fresh spool (an ``add`` then stores its samples in the fresh file: nothing new is lost)."""

    @functools.wraps(method)
    def wrapper(self: Spool, *args: Any, **kwargs: Any) -> _T:
        generation = self._generation
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise
            self._recover(f"{method.__name__}: {exc}", generation)
            return method(self, *args, **kwargs)

    return wrapper


@dataclass(frozen=True, slots=True)
class CorruptionNotice:
    """One corrupt spool moved aside: when, where to, and what SQLite said."""

    ts: float
    moved_to: str
    reason: str


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return _dumps(text)


def _encode_sample(s: Sample) -> str:
    """A sample's wire JSON. Hand-assembled: it runs for every sample the agent collects,
    and assembling from cached quoted names is about twice as fast as ``json.dumps``."""
    labels = _dumps(s.labels) if s.labels else "{}"
    assert s.ts is not None, "the runner stamps every sample before it is spooled"
    return (
        f'{{"asset":{_quoted(s.asset)},"metric":{_quoted(s.metric)},"labels":{labels},'
        f'"value":{float(s.value)!r},"ts":{float(s.ts)!r}}}'
    )


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """A batch ready to send: identity fixed, content already serialized."""

    seq: int
    batch_id: str
    n_samples: int
    n_events: int
    content: str

    def body(self, agent: dict, sent_at: float) -> bytes:
        """The full request body; only ``sent_at`` differs between attempts."""
        head = json.dumps(
            {"batch_id": self.batch_id, "seq": self.seq, "sent_at": sent_at, "agent": agent},
            separators=(",", ":"),
        )
        return (head[:-1] + "," + self.content + "}").encode()


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending_samples: int
    pending_events: int
    outgoing_batches: int
    outgoing_samples: int
    used_bytes: int  # on disk: the file plus its WAL
    dropped_samples: int
    rejected_samples: int
    next_seq: int
    corruptions: int = 0


class Spool:
    """A bounded, crash-safe queue of samples in SQLite. Thread-safe (one connection, one lock)."""

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 200 * 2**20,
        max_age: float = 7 * 86400.0,
        *,
        keep_corrupt: int = KEEP_CORRUPT,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.max_age = float(max_age)
        self.keep_corrupt = keep_corrupt
        self._lock = threading.Lock()
        self._notices: list[CorruptionNotice] = []
        self._corruptions = 0
        self._generation = 0  # bumped each time a corrupt file is replaced while running
        self._dropped_now = 0
        self._dropped_unreported = 0  # by add's size checks, since the last full check
        #: The seq the shipper is sending right now (never dropped by an ``add``'s bound).
        self.in_flight: int | None = None
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise
            self._db = self._replace_corrupt(f"open: {exc}")
        self._corruptions = self._meta("corruptions")

    # -- opening, corruption -----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """Open and check the file; raise SpoolCorrupt (or SQLite's own error) if it is bad."""
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            # Reading the schema is the first real read: a file that is not SQLite fails here.
            tables = {
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite_%'"
                )
            }
            # The spool is written sequentially and read oldest-first: a small page cache does
            # (SQLite's default 2 MiB would be a tenth of the agent's memory budget).
            db.execute("PRAGMA cache_size=-256")
            # Check before changing anything: a file that is not ours is moved aside as it is.
            check = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
            if check != ["ok"]:
                raise SpoolCorrupt(f"quick_check: {'; '.join(check)}")
            for name, columns in _COLUMNS.items():
                if name in tables:
                    found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({name})"))
                    if found != columns:
                        raise SpoolCorrupt(
                            f"not a spool: table {name} has columns {', '.join(found)}"
                        )
            if tables - set(_COLUMNS):
                raise SpoolCorrupt(
                    f"not a spool: unexpected tables {', '.join(sorted(tables - set(_COLUMNS)))}"
                )
            if not tables:
                # Only possible before the first table: freed pages can then be given back.
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power cut may lose the last transaction, never corrupt the file.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                # A spool from before the on-disk bound: convert once (rewrites the file).
                log.info("converting spool %s to incremental auto-vacuum (once)", self.path)
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                db.execute("VACUUM")
            self._page_size = db.execute("PRAGMA page_size").fetchone()[0]
            # Keep the WAL small against the bound: checkpoint every ~1/32 of it, and cut the
            # WAL file back to that size after each checkpoint.
            wal_pages = max(16, min(1000, self.max_bytes // self._page_size // 32))
            db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
            db.execute(f"PRAGMA journal_size_limit={wal_pages * self._page_size}")
        except BaseException:
            db.close()
            raise
        return db

    def _replace_corrupt(self, reason: str) -> sqlite3.Connection:
        """Move the bad file (and its -wal/-shm) aside and open a fresh spool in its place."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        # The WAL and shm follow the file's new name, so `sqlite3 <moved file>` sees them.
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, f"{target}{suffix}")
        self._prune_corrupt()
        log.error(
            "SPOOL CORRUPT: %s (%s); moved it aside to %s and started a fresh spool. "
            "Samples in the bad file were not sent.",
            self.path,
            reason,
            target,
        )
        db = self._connect()
        self._corruptions += 1
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('corruptions', ?)",
            (self._corruptions,),
        )
        self._notices.append(CorruptionNotice(time.time(), str(target), reason))
        return db

    def _prune_corrupt(self) -> None:
        moved = sorted(
            self.path.parent.glob(f"{self.path.name}.corrupt-*"),
            key=lambda p: p.stat().st_mtime_ns,
        )
        bases = [p for p in moved if not p.name.endswith(("-wal", "-shm"))]
        for old in bases[: max(0, len(bases) - self.keep_corrupt)]:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{old}{suffix}").unlink(missing_ok=True)

    def _recover(self, reason: str, generation: int) -> None:
        """Corruption found while running: the same recovery as at open.

        ``generation`` is the file the caller failed on: when two threads hit the same bad
        file, the second finds it already replaced and must not move the fresh one aside.
        """
        with self._lock:
            if generation != self._generation:
                return
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = self._replace_corrupt(reason)
            self._generation += 1

    def take_corruption_notices(self) -> list[CorruptionNotice]:
        """Corrupt spools moved aside since the last call (the self-check reports them)."""
        with self._lock:
            notices, self._notices = self._notices, []
            return notices

    def _rollback(self) -> None:
        # After a corruption error the transaction may already be gone; the original
        # error is the one to raise, not "no transaction is active".
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -----------------------------------------------------------------------
    def add(self, samples: Sequence[Sample], events: Sequence[Event] = ()) -> None:
        """Store collected samples and events; they are durable when this returns."""
        rows = [("s", s.asset, s.ts, _encode_sample(s)) for s in samples]
        rows += [
            ("e", e.asset, e.ts, json.dumps(e.to_wire(), separators=(",", ":"))) for e in events
        ]
        if not rows:
            return
        self._insert(rows)
        # Between the self-check's rounds (30 s) a fast-filling spool would overshoot a small
        # bound; two stat() calls per add keep it within the bound at all times.
        if self._disk_bytes() > self.max_bytes:
            self.enforce_limits(in_flight=self.in_flight, by_age=False)

    @_recovering
    def _insert(self, rows: list[tuple[str, str | None, float | None, str]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO items (kind, asset, ts, body) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    @_recovering
    def set_assets(self, assets: Iterable[dict]) -> None:
        """Remember what the agent knows about its assets (host, SNMP devices)."""
        rows = [(a["name"], json.dumps(a, separators=(",", ":"))) for a in assets]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO assets (name, body) VALUES (?, ?)", rows)

    # -- batching ----------------------------------------------------------------------
    @_recovering
    def next_batch(self, max_samples: int = 5000) -> OutgoingBatch | None:
        """The oldest batch to send: an unacknowledged one, else a new one cut from items."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, batch_id, n_samples, n_events, content FROM outgoing ORDER BY seq LIMIT 1"
            ).fetchone()
            if row:
                return OutgoingBatch(*row)
            return self._cut_batch(max_samples)

    def _cut_batch(self, max_samples: int) -> OutgoingBatch | None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = self._db.execute(
                "SELECT id, kind, asset, ts, body FROM items ORDER BY id LIMIT ?", (max_samples,)
            ).fetchall()
            if not rows:
                self._db.execute("ROLLBACK")
                return None
            samples = [r[4] for r in rows if r[1] == "s"]
            events = [r[4] for r in rows if r[1] == "e"]
            names = sorted({r[2] for r in rows})
            assets = [
                body
                for (body,) in self._db.execute(
                    f"SELECT body FROM assets WHERE name IN ({','.join('?' * len(names))})", names
                )
            ]
            content = f'"assets":[{",".join(assets)}],"samples":[{",".join(samples)}],"events":[{",".join(events)}]'
            seq = self._meta("next_seq", 1)
            batch = OutgoingBatch(seq, str(uuid.uuid4()), len(samples), len(events), content)
            self._db.execute(
                "INSERT INTO outgoing (seq, batch_id, created, last_ts, n_samples, n_events, content)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    batch.batch_id,
                    time.time(),
                    max(r[3] for r in rows),
                    batch.n_samples,
                    batch.n_events,
                    content,
                ),
            )
            self._db.execute("DELETE FROM items WHERE id <= ?", (rows[-1][0],))
            self._set_meta("next_seq", seq + 1)
            self._db.execute("COMMIT")
            return batch
        except BaseException:
            self._rollback()
            raise

    @_recovering
    def ack(self, batch: OutgoingBatch) -> None:
        """The collector stored the batch (or already had it): forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outgoing WHERE seq = ?", (batch.seq,))

    @_recovering
    def reject(self, batch: OutgoingBatch) -> None:
        """The collector refused the batch as invalid: retrying cannot help; count and drop."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                deleted = self._db.execute(
                    "DELETE FROM outgoing WHERE seq = ?", (batch.seq,)
                ).rowcount
                if deleted:
                    self._add_meta("rejected_samples", batch.n_samples)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    # -- bounds ------------------------------------------------------------------------
    @_recovering
    def enforce_limits(
        self, now: float | None = None, in_flight: int | None = None, *, by_age: bool = True
    ) -> int:
        """Drop the oldest data beyond the age and size bounds; give freed space back to the
        file system. Returns the samples dropped since the last full call.

        ``in_flight`` is the seq of a batch being sent right now; it is not dropped by size
        (its answer will settle it), so a send and a drop never race over the same rows.
        ``by_age=False`` is ``add``'s quick size check: what it drops is counted at once
        but reported (returned, logged) by the next full call — the self-check's, every
        30 s — so a spool at its bound logs one line per round, not one per write.
        """
        now = time.time() if now is None else now
        dropped = 0
        with self._lock:
            if by_age:
                cutoff = now - self.max_age
                dropped += self._in_transaction(
                    lambda: (
                        self._drop_outgoing("last_ts < ?", (cutoff,), in_flight)
                        + self._drop_items("ts < ?", (cutoff,))
                    )
                )
            self._reclaim()
            # Size, on disk: drop oldest until under 90 % of the bound, so we do not trim
            # every cycle; each round gives the freed pages back before measuring again.
            while self._disk_bytes() > self.max_bytes:
                n = self._in_transaction(lambda: self._drop_oldest_for_size(in_flight))
                if n is None:
                    break
                dropped += n
                self._reclaim()
            if not by_age:
                self._dropped_unreported += dropped
                return dropped
            dropped += self._dropped_unreported
            self._dropped_unreported = 0
        if dropped:
            log.warning("spool over its bounds: dropped the %d oldest samples", dropped)
        return dropped

    def _in_transaction(self, work: Callable[[], _T]) -> _T:
        """``work`` and the count of what it dropped, in one transaction (a crash loses neither)."""
        self._db.execute("BEGIN IMMEDIATE")
        self._dropped_now = 0  # the _drop_* helpers add to it
        try:
            result = work()
            if self._dropped_now:
                self._add_meta("dropped_samples", self._dropped_now)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            self._dropped_now = 0
        return result

    def _drop_outgoing(self, where: str, params: tuple, in_flight: int | None) -> int:
        if in_flight is not None:
            where += " AND seq != ?"
            params = (*params, in_flight)
        n = self._db.execute(
            f"SELECT coalesce(sum(n_samples), 0) FROM outgoing WHERE {where}", params
        ).fetchone()[0]
        self._db.execute(f"DELETE FROM outgoing WHERE {where}", params)
        self._dropped_now += n
        return n

    def _drop_items(self, where: str, params: tuple) -> int:
        n = self._db.execute(
            f"SELECT count(*) FROM items WHERE {where} AND kind = 's'", params
        ).fetchone()[0]
        self._db.execute(f"DELETE FROM items WHERE {where}", params)
        self._dropped_now += n
        return n

    def _drop_oldest_for_size(self, in_flight: int | None) -> int | None:
        target = int(self.max_bytes * 0.9)
        excess = self._disk_bytes() - target
        row = self._db.execute(
            "SELECT seq FROM outgoing WHERE seq != ? ORDER BY seq LIMIT 1", (in_flight or -1,)
        ).fetchone()
        if row:
            return self._drop_outgoing("seq = ?", (row[0],), None)
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0) FROM items"
        ).fetchone()
        if not count:
            return None
        per_row = max(size / count * 1.3, 1)  # row overhead and index beside the body
        limit = max(int(excess / per_row), min(count, 100))
        ids = self._db.execute(
            "SELECT id FROM items ORDER BY id LIMIT 1 OFFSET ?", (limit - 1,)
        ).fetchone()
        last_id = ids[0] if ids else self._db.execute("SELECT max(id) FROM items").fetchone()[0]
        return self._drop_items("id <= ?", (last_id,))

    def _reclaim(self) -> None:
        """Give free pages back: move them to the end and cut the file (incremental vacuum),
        then fold the WAL into the file and truncate it. Outside any transaction."""
        # executescript steps the pragma to the end; execute() would free one page only.
        self._db.executescript("PRAGMA incremental_vacuum;")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _disk_bytes(self) -> int:
        """What the spool occupies on disk: the file and its WAL (the -shm is a fixed 32 KiB)."""
        total = 0
        for path in (self.path, Path(f"{self.path}-wal")):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    # -- meta --------------------------------------------------------------------------
    def _meta(self, key: str, default: int = 0) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _add_meta(self, key: str, delta: int) -> None:
        self._set_meta(key, self._meta(key) + delta)

    @_recovering
    def stats(self) -> SpoolStats:
        with self._lock:
            items = dict(
                self._db.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall()
            )
            out_batches, out_samples = self._db.execute(
                "SELECT count(*), coalesce(sum(n_samples), 0) FROM outgoing"
            ).fetchone()
            return SpoolStats(
                pending_samples=items.get("s", 0),
                pending_events=items.get("e", 0),
                outgoing_batches=out_batches,
                outgoing_samples=out_samples,
                used_bytes=self._disk_bytes(),
                dropped_samples=self._meta("dropped_samples"),
                rejected_samples=self._meta("rejected_samples"),
                next_seq=self._meta("next_seq", 1),
                corruptions=self._corruptions,
            )

    @_recovering
    def has_data(self) -> bool:
        with self._lock:
            return bool(
                self._db.execute(
                    "SELECT EXISTS(SELECT 1 FROM outgoing) OR EXISTS(SELECT 1 FROM items)"
                ).fetchone()[0]
            )

    @_recovering
    def oldest_item_age(self, now: float | None = None) -> float | None:
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT min(ts) FROM items").fetchone()
        return None if row[0] is None else now - row[0]
