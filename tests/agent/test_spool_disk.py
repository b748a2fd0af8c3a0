"""The spool on disk: bounded by file + WAL size, and a corrupt file never stops the agent.

Corrupt spools are made the way they happen: random bytes, a file cut short (a full disk,
a copy interrupted), a page overwritten (bad sector, a stray write), another program's
SQLite file at the spool's path. Each is moved aside with a UTC timestamp and the spool
carries on empty; corruption found while running is handled the same way.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from pathlib import Path

import pytest

from agent.checks.base import Sample
from agent.host import Host
from agent.selfcheck import AgentSelfCheck
from agent.spool import _SCHEMA, Spool

NOW = 1_790_000_000.0
MOVED = re.compile(r"^spool\.db\.corrupt-\d{8}T\d{6}Z(-\d+)?$")


def samples(n: int, start: int = 0) -> list[Sample]:
    """Realistic samples: a metric name, two labels, a float value."""
    return [
        Sample(
            "disk_used_percent",
            float(i),
            {"mountpoint": f"/srv/share{i % 7}", "fstype": "ext4"},
            "srv1",
            NOW + i * 0.001,
        )
        for i in range(start, start + n)
    ]


def on_disk(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def filled_spool(path: Path, n: int = 20_000) -> None:
    s = Spool(path)
    s.set_assets([{"name": "srv1", "kind": "host"}])
    s.add(samples(n))
    s.close()


def values(spool: Spool) -> list[float]:
    out: list[float] = []
    while (batch := spool.next_batch(max_samples=20_000)) is not None:
        out += [x["value"] for x in json.loads("{" + batch.content + "}")["samples"]]
        spool.ack(batch)
    return out


# ---------------------------------------------------------------------------- size on disk


def test_file_and_wal_stay_within_max_mb_through_a_long_outage(tmp_path):
    """Item 7: with max_mb 1 and ~12 MB collected while the collector is away, the file
    plus WAL never exceed ~1.1 MB; the oldest samples are dropped and counted, the newest
    kept (on main: 4.8 MB file + 4.1 MB WAL)."""
    path = tmp_path / "spool.db"
    spool = Spool(path, max_bytes=2**20)
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    spool.add(samples(2000))
    in_flight = spool.next_batch()  # the shipper keeps retrying this one
    spool.in_flight = in_flight.seq
    total, biggest, reported = 2000, 0, 0
    for round_ in range(120):
        spool.add(samples(500, start=total))
        total += 500
        if round_ % 10 == 9:  # the self-check's round
            reported += spool.enforce_limits(now=NOW + 60, in_flight=in_flight.seq)
        biggest = max(biggest, on_disk(path))
    assert total * 200 > 10 * 2**20  # well over ten times the bound went through
    assert biggest <= 1.1 * 2**20, f"file + WAL reached {biggest} bytes"
    stats = spool.stats()
    assert stats.used_bytes == on_disk(path) <= 2**20
    kept = stats.pending_samples + stats.outgoing_samples
    assert stats.dropped_samples == total - kept > 0
    # every drop, also those made by add's own size checks, reaches the self-check's report
    assert reported == stats.dropped_samples
    assert spool.next_batch().batch_id == in_flight.batch_id  # still there to be settled
    spool.ack(in_flight)
    spool.in_flight = None
    left = values(spool)
    # the newest data is what is left, contiguous up to the last sample collected
    assert left == [float(v) for v in range(total - len(left), total)]
    # drained: the file gives the space back to the file system
    spool.enforce_limits(now=NOW + 60)
    assert on_disk(path) < 100_000
    spool.close()


def test_an_old_spool_file_is_converted_to_incremental_vacuum(tmp_path):
    path = tmp_path / "spool.db"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute(
        "INSERT INTO items (kind, asset, ts, body) VALUES ('s', 'srv1', 1.0, ?)",
        ('{"asset":"srv1","metric":"m","labels":{},"value":1.0,"ts":1.0}',),
    )
    db.commit()
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()
    spool = Spool(path)
    assert spool._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert spool.stats().pending_samples == 1  # nothing lost by the conversion
    spool.close()


# ---------------------------------------------------------------------------- corruption


def corrupt_random(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def corrupt_truncated(path: Path) -> None:
    filled_spool(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_page(path: Path) -> None:
    filled_spool(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 3 * 4096] = os.urandom(3 * 4096)
    path.write_bytes(bytes(data))


def foreign_schema(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, payload BLOB)")
    db.execute("INSERT INTO items (payload) VALUES (x'00')")
    db.commit()
    db.close()


def with_wal(path: Path) -> None:
    """A spool whose WAL holds committed pages and whose main file is garbage."""
    filled_spool(path, 100)
    keep = sqlite3.connect(path)  # an open reader keeps the -wal and -shm on disk
    keep.execute("PRAGMA wal_autocheckpoint=0")
    keep.execute("INSERT INTO meta (key, value) VALUES ('x', 1)")
    wal = Path(f"{path}-wal").read_bytes()
    keep.close()
    path.write_bytes(os.urandom(32 * 1024))
    Path(f"{path}-wal").write_bytes(wal)


CORRUPTIONS = {
    "random bytes": corrupt_random,
    "truncated": corrupt_truncated,
    "corrupt page": corrupt_page,
    "foreign schema": foreign_schema,
    "garbage with a wal": with_wal,
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_spool_at_open_is_moved_aside_and_the_spool_carries_on(tmp_path, kind, caplog):
    path = tmp_path / "spool.db"
    CORRUPTIONS[kind](path)
    had_wal = Path(f"{path}-wal").exists()
    original = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="agent.spool"):
        spool = Spool(path)
    (moved,) = [
        p
        for p in tmp_path.iterdir()
        if p.name.startswith("spool.db.corrupt-") and not p.name.endswith(("-wal", "-shm"))
    ]
    assert MOVED.match(moved.name), moved.name
    assert moved.read_bytes() == original  # kept as it was, for a post-mortem
    assert Path(f"{moved}-wal").exists() == had_wal
    assert any(
        "SPOOL CORRUPT" in r.getMessage() and str(moved) in r.getMessage() for r in caplog.records
    )
    # a fresh, working spool in its place
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    spool.add(samples(3))
    assert values(spool) == [0.0, 1.0, 2.0]
    assert spool.stats().corruptions == 1
    (notice,) = spool.take_corruption_notices()
    assert notice.moved_to == str(moved) and notice.reason.startswith("open: ")
    spool.close()
    # the count survives a restart of the agent; a sound file is not moved again
    spool = Spool(path)
    assert spool.stats().corruptions == 1 and not spool.take_corruption_notices()
    assert len(list(tmp_path.glob("spool.db.corrupt-*[0-9Z]"))) == 1
    spool.close()


def test_corruption_found_while_running_is_recovered_without_an_exception(tmp_path, caplog):
    path = tmp_path / "spool.db"
    spool = Spool(path)
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    spool.add(samples(20_000))  # several MB: far more than the spool's page cache
    spool._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # A stray write under the running agent (bad sector, another process).
    with open(path, "r+b") as f:
        f.seek(on_disk(path) // 2 // 4096 * 4096)
        f.write(os.urandom(16 * 4096))
    with caplog.at_level(logging.ERROR, logger="agent.spool"):
        batch = spool.next_batch(max_samples=20_000)  # reads the broken pages
    assert batch is None  # a fresh spool: what was in the bad file is not sent
    assert any("SPOOL CORRUPT" in r.getMessage() for r in caplog.records)
    (notice,) = spool.take_corruption_notices()
    assert notice.reason.startswith("next_batch: ") and "malformed" in notice.reason
    assert MOVED.match(Path(notice.moved_to).name)
    spool.add(samples(2, start=7))  # the agent goes on collecting and sending
    # A second thread that failed on the same bad file recovers late: it must not move
    # the fresh spool aside too.
    spool._recover("stats: database disk image is malformed", 0)
    assert values(spool) == [7.0, 8.0]
    assert spool.stats().corruptions == 1
    assert len([p for p in tmp_path.iterdir() if MOVED.match(p.name)]) == 1
    spool.close()


def test_the_self_check_reports_a_corrupt_spool_as_event_and_counter(tmp_path):
    path = tmp_path / "spool.db"
    corrupt_random(path)
    spool = Spool(path)
    result = AgentSelfCheck(spool, None, Host("srv1")).run()
    (event,) = [e for e in result.events if e.type == "spool_corrupt"]
    assert event.asset == "srv1" and event.data["moved_to"].startswith(str(path) + ".corrupt-")
    assert "file is not a database" in event.data["reason"]
    counters = {s.metric: s.value for s in result.samples}
    assert counters["upkeep_agent_spool_corruptions_total"] == 1
    again = AgentSelfCheck(spool, None, Host("srv1")).run()
    assert not [e for e in again.events if e.type == "spool_corrupt"]
    spool.close()


def test_only_the_newest_corrupt_files_are_kept(tmp_path):
    path = tmp_path / "spool.db"
    for _ in range(5):
        corrupt_random(path)
        Spool(path, keep_corrupt=2).close()
        path.unlink()
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
    moved = [p for p in tmp_path.iterdir() if MOVED.match(p.name)]
    assert len(moved) == 2


def test_errors_that_are_not_corruption_are_not_hidden(tmp_path):
    """A locked or unreadable spool is not moved aside (that would lose good data)."""
    path = tmp_path / "spool.db"
    filled_spool(path, 10)
    spool = Spool(path)
    spool._db.execute("PRAGMA busy_timeout=50")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        spool.add(samples(1))
    locker.execute("ROLLBACK")
    locker.close()
    assert not list(tmp_path.glob("spool.db.corrupt-*"))
    assert spool.stats().pending_samples == 10
    spool.close()
