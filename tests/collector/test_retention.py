"""Retention: raw samples, rollups, events and batch records past their age are deleted."""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from agent.wire import Batch
from collector import retention, rollups
from collector.ingest import IngestLimits, Ingestor
from collector.schema import batches, events, latest, rollups_hourly, samples
from collector.settings import Settings


def _count(store, table):
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_purge_deletes_only_what_is_past_its_retention(store, acme, kit, tmp_path):
    now = time.time()
    hour = 3600
    # The first batch pretends to arrive 15 days ago with today's samples: skew allowed here.
    ing = Ingestor(store, limits=IngestLimits(max_clock_skew=30 * 86400))
    agent = str(uuid.uuid4())
    old, recent = now - 50 * hour, now - 1 * hour  # raw retention is 48 h
    ing.ingest(
        acme.principal,
        Batch.model_validate(
            kit.make_batch(
                [
                    kit.sample("srv1", "m", 1.0, old),
                    kit.sample("srv1", "m", 2.0, recent),
                    kit.sample("srv1", "n", 3.0, old),
                ],
                events=[{"asset": "srv1", "type": "reboot", "ts": old}],
                agent_id=agent,
            )
        ),
        received_at=now - 15 * 86400,
    )
    ing.ingest(
        acme.principal,
        Batch.model_validate(
            kit.make_batch([kit.sample("srv1", "m", 4.0, now)], agent_id=agent, seq=2)
        ),
        received_at=now,
    )
    assert (_count(store, samples), _count(store, batches)) == (4, 2)
    # The current hour's rollup: built by the rollups job once the hour is closed.
    rollups.build(store, now=now + hour + rollups.CLOSE_AFTER)

    settings = Settings.for_data_dir(tmp_path)
    if not store.is_sqlite:
        # PostgreSQL drops whole day partitions (tests/collector/test_partitions.py): what is
        # gone is what lies in a partition wholly past the cutoff, or in the default one.
        _check_partitioned_purge(store, settings, now)
        return
    purged = retention.purge(store, settings, now=now)
    assert (purged.samples, purged.batches, purged.events, purged.rollups) == (2, 1, 0, 0)
    with store.read() as conn:
        assert sorted(conn.execute(sa.select(samples.c.value)).scalars()) == [2.0, 4.0]
    # Latest values and rollups are history: raw retention leaves them alone.
    assert _count(store, latest) == 2 and _count(store, rollups_hourly) == 4

    short = Settings.for_data_dir(
        tmp_path, rollup_retention="10h", event_retention="1d", raw_retention="1m"
    )
    purged = retention.purge(store, short, now=now)
    assert (purged.samples, purged.rollups, purged.events) == (1, 2, 1)
    assert _count(store, samples) == 1 and _count(store, events) == 0
    assert retention.purge(store, short, now=now) == retention.Purged()


def _check_partitioned_purge(store, settings, now):
    from collector import partitions

    cutoff = now - settings.raw_retention
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT value, ts, tableoid::regclass::text FROM samples").all()
        bounds = {p.name: p.hi for p in partitions.partitions(conn, partitions.SAMPLES)}
    gone = {
        v
        for v, ts, where in rows
        if (bounds[where] is None and ts < cutoff) or (bounds[where] or 1e18) <= cutoff
    }
    purged = retention.purge(store, settings, now=now)
    assert purged.batches == 1 and purged.events == 0 and purged.rollups == 0
    with store.read() as conn:
        left = set(conn.execute(sa.select(samples.c.value)).scalars())
    assert left == {1.0, 2.0, 3.0, 4.0} - gone and {2.0, 4.0} <= left
    # Latest values and rollups are history: raw retention leaves them alone.
    assert _count(store, latest) == 2 and _count(store, rollups_hourly) == 4


def test_old_batch_record_gone_means_a_very_late_retry_is_stored_again(store, acme, kit, tmp_path):
    """Documents why batch retention must exceed the agent's spool age (14 d > 7 d)."""
    now = time.time()
    ing = Ingestor(store)
    batch = Batch.model_validate(kit.make_batch([kit.sample("srv1", "m", 1.0, now - 3600)]))
    ing.ingest(acme.principal, batch, received_at=now - 13 * 86400)
    retention.purge(store, Settings.for_data_dir(tmp_path), now=now)
    assert ing.ingest(acme.principal, batch).accepted.duplicate  # 13 d: still known


def test_server_runs_retention_when_it_starts(store, settings, acme, kit):
    from fastapi.testclient import TestClient

    from collector.api import create_app

    ing = Ingestor(store)
    ing.ingest(
        acme.principal,
        Batch.model_validate(
            kit.make_batch([kit.sample("srv1", "m", 1.0, time.time() - 72 * 3600)])
        ),
    )
    assert _count(store, samples) == 1
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=True)):
        deadline = time.monotonic() + 10
        while _count(store, samples) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _count(store, samples) == 0
