"""The agent's durable spool: every sample is written here before anything is sent.

Two stages, both in one SQLite file (WAL):

* ``items`` — samples and events as collected, oldest first;
* ``outgoing`` — batches cut from the oldest items, each with its ``batch_id`` and ``seq``
  fixed *before* the first attempt, so a retry after a crash or a lost answer resends the
  very same batch and the collector can recognise it.

A batch leaves the spool only when the collector acknowledged it (``ack``) or rejected it
as permanently invalid (``reject``, counted). The spool is bounded by size and age; when
it must drop, it drops the oldest data first and counts every dropped sample.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
    used_bytes: int
    dropped_samples: int
    rejected_samples: int
    next_seq: int


class Spool:
    """A bounded, crash-safe queue of samples in SQLite. Thread-safe (one connection, one lock)."""

    def __init__(
        self, path: str | Path, max_bytes: int = 200 * 2**20, max_age: float = 7 * 86400.0
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.max_age = float(max_age)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut may lose the last transaction, never corrupt the file.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # The spool is written sequentially and read oldest-first: a small page cache does
        # (SQLite's default 2 MiB would be a tenth of the agent's memory budget).
        self._db.execute("PRAGMA cache_size=-256")
        self._db.executescript(_SCHEMA)
        self._page_size = self._db.execute("PRAGMA page_size").fetchone()[0]

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
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO items (kind, asset, ts, body) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_assets(self, assets: Iterable[dict]) -> None:
        """Remember what the agent knows about its assets (host, SNMP devices)."""
        rows = [(a["name"], json.dumps(a, separators=(",", ":"))) for a in assets]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO assets (name, body) VALUES (?, ?)", rows)

    # -- batching ----------------------------------------------------------------------
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
            self._db.execute("ROLLBACK")
            raise

    def ack(self, batch: OutgoingBatch) -> None:
        """The collector stored the batch (or already had it): forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outgoing WHERE seq = ?", (batch.seq,))

    def reject(self, batch: OutgoingBatch) -> None:
        """The collector refused the batch as invalid: retrying cannot help; count and drop."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.execute("DELETE FROM outgoing WHERE seq = ?", (batch.seq,)).rowcount
            if deleted:
                self._add_meta("rejected_samples", batch.n_samples)
            self._db.execute("COMMIT")

    # -- bounds ------------------------------------------------------------------------
    def enforce_limits(self, now: float | None = None, in_flight: int | None = None) -> int:
        """Drop the oldest data beyond the age and size bounds. Returns samples dropped.

        ``in_flight`` is the seq of a batch being sent right now; it is not dropped by size
        (its answer will settle it), so a send and a drop never race over the same rows.
        """
        now = time.time() if now is None else now
        dropped = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cutoff = now - self.max_age
                dropped += self._drop_outgoing("last_ts < ?", (cutoff,), in_flight)
                dropped += self._db.execute(
                    "SELECT count(*) FROM items WHERE ts < ? AND kind = 's'", (cutoff,)
                ).fetchone()[0]
                self._db.execute("DELETE FROM items WHERE ts < ?", (cutoff,))
                # Size: drop oldest until under 90 % of the bound, so we do not trim every cycle.
                while self._used_bytes() > self.max_bytes:
                    n = self._drop_oldest_for_size(in_flight)
                    if n is None:
                        break
                    dropped += n
                if dropped:
                    self._add_meta("dropped_samples", dropped)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if dropped:
            log.warning("spool over its bounds: dropped the %d oldest samples", dropped)
        return dropped

    def _drop_outgoing(self, where: str, params: tuple, in_flight: int | None) -> int:
        if in_flight is not None:
            where += " AND seq != ?"
            params = (*params, in_flight)
        n = self._db.execute(
            f"SELECT coalesce(sum(n_samples), 0) FROM outgoing WHERE {where}", params
        ).fetchone()[0]
        self._db.execute(f"DELETE FROM outgoing WHERE {where}", params)
        return n

    def _drop_oldest_for_size(self, in_flight: int | None) -> int | None:
        target = int(self.max_bytes * 0.9)
        excess = self._used_bytes() - target
        row = self._db.execute(
            "SELECT seq FROM outgoing WHERE seq != ? ORDER BY seq LIMIT 1", (in_flight or -1,)
        ).fetchone()
        if row:
            n = self._drop_outgoing("seq = ?", (row[0],), None)
            self._checkpoint()
            return n
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
        n = self._db.execute(
            "SELECT count(*) FROM items WHERE id <= ? AND kind = 's'", (last_id,)
        ).fetchone()[0]
        self._db.execute("DELETE FROM items WHERE id <= ?", (last_id,))
        self._checkpoint()
        return n

    def _checkpoint(self) -> None:
        # Freed pages are only counted free once the WAL is folded back into the file.
        self._db.execute("COMMIT")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("BEGIN IMMEDIATE")

    def _used_bytes(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    # -- meta --------------------------------------------------------------------------
    def _meta(self, key: str, default: int = 0) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _add_meta(self, key: str, delta: int) -> None:
        self._set_meta(key, self._meta(key) + delta)

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
                used_bytes=self._used_bytes(),
                dropped_samples=self._meta("dropped_samples"),
                rejected_samples=self._meta("rejected_samples"),
                next_seq=self._meta("next_seq", 1),
            )

    def has_data(self) -> bool:
        with self._lock:
            return bool(
                self._db.execute(
                    "SELECT EXISTS(SELECT 1 FROM outgoing) OR EXISTS(SELECT 1 FROM items)"
                ).fetchone()[0]
            )

    def oldest_item_age(self, now: float | None = None) -> float | None:
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT min(ts) FROM items").fetchone()
        return None if row[0] is None else now - row[0]
