"""Time partitions (PostgreSQL): migration 0014 keeps the data, partitions are created ahead,
strays in the default partition are moved, retention drops whole partitions, the real
queries are pruned to their partitions and use the primary keys. SQLite: nothing changes."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa
from alembic import command

from agent.wire import Batch
from collector import partitions, retention
from collector.ingest import IngestLimits, Ingestor
from collector.schema import rollups_hourly, samples
from collector.settings import Settings
from collector.store import Store, alembic_config
from tests.collector import storage_plans

DAY = 86400


def _where(conn, table: str) -> dict[float, str]:
    """ts (or hour) → the partition its row is stored in."""
    col = "ts" if table == "samples" else "hour"
    return {
        float(k): name
        for k, name in conn.exec_driver_sql(f"SELECT {col}, tableoid::regclass::text FROM {table}")
    }


def _upgrade_to(store: Store, revision: str) -> None:
    with store.engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


def _postgres(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("partitions are PostgreSQL only (SQLite: see the sqlite test)")


def test_migration_0014_keeps_every_row_written_before_it(db_url):
    store = Store.from_url(db_url)
    try:
        _upgrade_to(store, "0011")
        now = time.time()
        # Today, 3 days ago (past raw retention but stored), 20 days ago, and a broken clock's
        # year 2001: every one must still be readable after the upgrade.
        stamps = [now, now - 3 * DAY, now - 20 * DAY, 1_000_000_000.0]
        hours = [int(t // 3600) * 3600 for t in stamps]
        with store.write() as conn:
            conn.execute(
                samples.insert(),
                [{"series_id": 7, "ts": t, "value": i} for i, t in enumerate(stamps)],
            )
            conn.execute(
                rollups_hourly.insert(),
                [
                    {
                        "series_id": 7,
                        "hour": h,
                        "min": i,
                        "max": i,
                        "sum": i,
                        "count": 1,
                        "last": i,
                        "last_ts": h,
                    }
                    for i, h in enumerate(hours)
                ],
            )
        store.upgrade()
        assert store.current_revision() == store.head_revision()
        with store.read() as conn:
            assert sorted(conn.execute(sa.select(samples.c.ts, samples.c.value)).all()) == sorted(
                (t, float(i)) for i, t in enumerate(stamps)
            )
            assert sorted(
                conn.execute(sa.select(rollups_hourly.c.hour, rollups_hourly.c.sum)).all()
            ) == sorted((h, float(i)) for i, h in enumerate(hours))
            if store.is_sqlite:
                return
            assert partitions.is_partitioned(conn, "samples")
            assert partitions.is_partitioned(conn, "rollups_hourly")
            raw = _where(conn, "samples")
            rolled = _where(conn, "rollups_hourly")
        for t in stamps[:3]:
            assert raw[t] == partitions.SAMPLES.name(t)  # each day in a partition of its own
        assert raw[stamps[3]] == "samples_default"  # beyond the span: the default partition
        for h in hours[:3]:
            assert rolled[float(h)] == partitions.ROLLUPS.name(h)
        assert rolled[float(hours[3])] == "rollups_hourly_default"
        # And back: the downgrade restores plain tables with the same rows.
        with store.engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0011")
            conn.commit()
        with store.read() as conn:
            assert not partitions.is_partitioned(conn, "samples")
            assert conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar() == 4
    finally:
        store.dispose()


def test_sqlite_tables_are_unchanged_by_0014(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'u.db'}")
    try:

        def ddl() -> dict[str, str]:
            with store.read() as conn:
                return dict(
                    conn.exec_driver_sql("SELECT name, sql FROM sqlite_master ORDER BY name").all()
                )

        _upgrade_to(store, "0011")
        before = ddl()
        _upgrade_to(store, "0014")
        after = ddl()
        # 0014 adds the remote-write queue; no other table, index or column differs.
        assert set(after) - set(before) == {"remote_write_queue"}
        assert {k: v for k, v in after.items() if k in before} == before
        assert "WITHOUT ROWID" in after["samples"]
        settings = Settings.for_data_dir(tmp_path)
        assert (
            partitions.ensure(store, settings) == []
            and partitions.drop_expired(store, settings) == []
        )
        with store.read() as conn:
            assert not partitions.is_partitioned(conn, "samples")
    finally:
        store.dispose()


def test_ensure_creates_partitions_ahead_and_behind(store, tmp_path):
    _postgres(store)
    settings = Settings.for_data_dir(tmp_path, partition_days_ahead=5)
    now = time.time() + 40 * DAY  # the migration created the days around today only
    created = partitions.ensure(store, settings, now)
    wanted_days = partitions.wanted(partitions.SAMPLES, settings, now)
    with store.read() as conn:
        have = {p.name for p in partitions.partitions(conn, partitions.SAMPLES)}
        months = {p.name for p in partitions.partitions(conn, partitions.ROLLUPS)}
    assert {partitions.SAMPLES.name(lo) for lo, _ in wanted_days} <= have
    assert partitions.SAMPLES.name(now + 5 * DAY) in created  # days ahead
    assert partitions.SAMPLES.name(now - 2 * DAY + 60) in have  # raw retention (48 h) behind
    next_month = partitions.ROLLUPS.bounds(partitions.ROLLUPS.bounds(now)[1])[0]
    assert partitions.ROLLUPS.name(now) in months and partitions.ROLLUPS.name(next_month) in months
    assert partitions.ensure(store, settings, now) == []  # idempotent


def test_a_sample_for_a_day_without_partition_is_kept_and_moved_when_it_comes(
    store, acme, kit, tmp_path
):
    _postgres(store)
    settings = Settings.for_data_dir(tmp_path)
    now = time.time()
    early = now + 6 * DAY  # beyond the partitions the migration made; accepted with a big skew
    name = partitions.SAMPLES.name(early)
    with store.read() as conn:
        assert name not in {p.name for p in partitions.partitions(conn, partitions.SAMPLES)}
    ing = Ingestor(store, limits=IngestLimits(max_clock_skew=10 * DAY))
    ing.ingest(
        acme.principal,
        Batch.model_validate(
            kit.make_batch(
                [kit.sample("srv1", "m", 1.5, early), kit.sample("srv1", "m", 2.5, now)],
                agent_id=str(uuid.uuid4()),
            )
        ),
    )
    with store.read() as conn:
        assert _where(conn, "samples")[early] == "samples_default"
    # The job's turn for a clock that moved on: the day gets its partition, the row moves in.
    created = partitions.ensure(store, settings, early)
    assert name in created
    with store.read() as conn:
        where = _where(conn, "samples")
        assert where[early] == name and where[now] == partitions.SAMPLES.name(now)
        assert sorted(conn.execute(sa.select(samples.c.value)).scalars()) == [1.5, 2.5]
        assert conn.exec_driver_sql("SELECT count(*) FROM samples_default").scalar() == 0


def test_retention_drops_whole_partitions_on_postgresql(store, acme, kit, tmp_path):
    _postgres(store)
    settings = Settings.for_data_dir(tmp_path)  # raw 48 h, rollups 400 d
    now = time.time()
    partitions.ensure(store, settings, now - 6 * DAY)  # the days of 6 and 5 days ago exist
    old_day = partitions.SAMPLES.name(now - 5 * DAY)
    ing = Ingestor(store, limits=IngestLimits(max_clock_skew=30 * DAY))
    batch = [
        kit.sample("srv1", "m", 1.0, now - 5 * DAY),
        kit.sample("srv1", "m", 2.0, now - 60),
        kit.sample("srv1", "m", 3.0, now - 3600),
    ]
    ing.ingest(
        acme.principal, Batch.model_validate(kit.make_batch(batch, agent_id=str(uuid.uuid4())))
    )
    with store.write() as conn:  # a stray past retention in the default partition (a late sample)
        conn.exec_driver_sql("INSERT INTO samples_default VALUES (1, 1000000000.0, 9.0)")
    purged = retention.purge(store, settings, now=now)
    assert old_day in purged.partitions
    assert purged.samples == 1  # only the default partition's stray is deleted row by row
    with store.read() as conn:
        names = {p.name for p in partitions.partitions(conn, partitions.SAMPLES)}
        assert old_day not in names and partitions.SAMPLES.name(now) in names
        assert sorted(conn.execute(sa.select(samples.c.value)).scalars()) == [2.0, 3.0]
        # Rollups are history: their month partition stays.
        assert conn.execute(sa.select(sa.func.count()).select_from(rollups_hourly)).scalar() >= 2
    # A rollup month wholly past rollup retention is dropped too.
    short = Settings.for_data_dir(tmp_path, rollup_retention="1d")
    month = partitions.ROLLUPS.name(now - 5 * DAY)
    later = partitions.ROLLUPS.bounds(now)[1] + 2 * DAY  # all of this month is then > 1 d old
    purged = retention.purge(store, short, now=later)
    assert partitions.ROLLUPS.name(now) in purged.partitions or month in purged.partitions
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rollups_hourly)).scalar() == 0


def test_real_queries_are_pruned_to_their_partitions_and_use_the_primary_keys(store, acme, kit):
    """Small generated tables: ANALYZEd, with seq scans priced out of the planner's reach only
    where an index can serve the query (enable_seqscan off makes a missing index visible as a
    seq scan all the same), so what is checked is pruning and index use, not the table size."""
    _postgres(store)
    now = time.time()
    ing = Ingestor(store)
    ing.ingest(
        acme.principal,
        Batch.model_validate(
            kit.make_batch(
                [kit.sample("srv1", "upkeep_check_up", 1.0, now)], agent_id=str(uuid.uuid4())
            )
        ),
    )
    with store.write() as conn:
        sid, asset_id = conn.exec_driver_sql("SELECT id, asset_id FROM series").one()
        settings = Settings.for_data_dir("/nonexistent")
        partitions.ensure(store, settings, now)
        lo_raw = now - settings.raw_retention
        conn.exec_driver_sql(
            "INSERT INTO samples SELECT s, %(lo)s + g * 60.0, random() FROM generate_series(1, 200) s, "
            "generate_series(0, (%(n)s)::int) g ON CONFLICT DO NOTHING",
            {"lo": lo_raw, "n": int(settings.raw_retention // 60)},
        )
        conn.exec_driver_sql(
            "INSERT INTO rollups_hourly SELECT s, h, 0, 1, 1, 1, 1, h FROM generate_series(1, 200) s, "
            "generate_series(%(h0)s::bigint, %(h1)s::bigint, 3600) h ON CONFLICT DO NOTHING",
            {"h0": int(now // 3600 - 24 * 60) * 3600, "h1": int(now // 3600) * 3600},
        )
        conn.exec_driver_sql("ANALYZE samples; ANALYZE rollups_hourly")
    with store.read() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        queries = storage_plans.real_queries(
            conn,
            client_id=acme.principal.client_id,
            asset_id=asset_id,
            series_id=sid,
            metric="upkeep_check_up",
            now=now,
        )
        names = {q.name for q in queries}
        assert {
            "rule window (raw samples, last hour)",
            "asset page chart (raw samples and rollups, 7 days)",
            "report hour stats (rollups, a month)",
            "report availability hours (rollups, a month)",
        } <= names
        for q in queries:
            if q.name.startswith("rule window"):
                lo, hi = now - 3600 - 60, now + 62 * DAY  # open-ended: the days ahead too
            elif q.name.startswith("ingest retry"):
                lo, hi = now - 30, now
            elif q.name.startswith("asset page"):
                lo, hi = now - 7 * DAY - 3600, now + 62 * DAY
            else:
                lo, hi = now - 30 * DAY - 3600, now
            scans = storage_plans.check_plan(conn, q, lo, hi)
            assert any(t != "Seq Scan" for _, t in scans), (q.name, scans)
