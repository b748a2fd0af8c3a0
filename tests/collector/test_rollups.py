"""Hourly rollups built from raw samples by the ``rollups`` job (collector/rollups.py), on
SQLite and PostgreSQL: the same figures as the per-batch merge they replace, a crash or a stop
mid-hour, late samples, the readers' view of hours not built yet, one run per cluster."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from agent.wire import Batch
from collector import rollups
from collector.ingest import Ingestor
from collector.jobs import JobMetrics, JobRunner, PeriodicJob
from collector.schema import assets, clients, rollups_hourly, series
from collector.store import Store

HOUR = 3600
NOW = time.time()
#: The history: 8 hours up to the hour before the current one.
START = (int(NOW) // HOUR - 9) * HOUR
FAR = 10**10  # a progress past every sample: every batch merges, as ingest did before


def _history(seed: int = 7) -> list[tuple[float, list[dict]]]:
    """(received_at, samples) of batches: 3 hosts × 4 series every 5 min over 8 hours, with
    out-of-order and duplicated samples, a sample re-sent later, and a catch-up batch."""
    rng = random.Random(seed)
    out: list[tuple[float, list[dict]]] = []
    for step in range(8 * 12):
        t = START + step * 300 + 7
        samples = []
        for h in range(3):
            for m in range(4):
                v = round(rng.uniform(0, 100), 3)
                samples.append(_sample(f"host{h}", f"m{m}", v, t + m, disk=str(m % 2)))
        if step % 7 == 3:  # the same (series, ts) twice in a batch: the last one wins
            samples.append(_sample("host0", "m0", 555.5, t + 0, disk="0"))
        if step % 11 == 5:  # out of order within the batch
            samples.insert(0, _sample("host1", "m1", -3.25, t - 200 + 1, disk="1"))
        out.append((t + 20, samples))
    # An agent back from an outage: three hours old samples, sent at the end of the history.
    late = [
        _sample("host2", "m3", float(i), START + 2 * HOUR + 60 * i + 0.5, disk="1")
        for i in range(30)
    ]
    out.append((START + 8 * HOUR + 100, late))
    return out


def _sample(asset: str, metric: str, value: float, ts: float, **labels: str) -> dict:
    return {"asset": asset, "metric": metric, "labels": labels, "value": value, "ts": ts}


def _batch(samples: list[dict]) -> Batch:
    return Batch.model_validate(
        {
            "batch_id": str(uuid.uuid4()),
            "seq": 1,
            "sent_at": NOW,
            "agent": {"id": str(uuid.uuid4()), "version": "0.1.0", "hostname": "host0"},
            "assets": [{"name": n, "kind": "host"} for n in sorted({s["asset"] for s in samples})],
            "samples": samples,
            "events": [],
        }
    )


def _figures(store: Store, client: str, source=None) -> dict[tuple, tuple]:
    """(asset, metric, labels, hour) → (min, max, sum, count, last, last_ts) of a client."""
    r = source if source is not None else rollups_hourly
    query = (
        sa.select(
            assets.c.name,
            series.c.metric,
            series.c.labels,
            r.c.hour,
            r.c.min,
            r.c.max,
            r.c.sum,
            r.c.count,
            r.c.last,
            r.c.last_ts,
        )
        .join(series, series.c.id == r.c.series_id)
        .join(assets, assets.c.id == series.c.asset_id)
        .join(clients, clients.c.id == assets.c.client_id)
        .where(clients.c.name == client)
    )
    with store.read() as conn:
        return {tuple(row[:4]): tuple(row[4:]) for row in conn.execute(query)}


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (mn, mx, sm, n, last, last_ts) in want.items():
        g = got[key]
        assert (g[0], g[1], g[3], g[4], g[5]) == (mn, mx, n, last, last_ts), key
        assert g[2] == pytest.approx(sm, rel=1e-12), key  # the order of float additions


def _set_progress(store: Store, until: int, series_id: int = 0) -> None:
    with store.write() as conn:
        rollups.mark_built(conn, until, series_id)


def _progress(store: Store) -> rollups.Progress:
    with store.read() as conn:
        return rollups.read_progress(conn)


def _old_way(store: Store, tenant_factory, history) -> dict:
    """The rollups ingest wrote before: every sample merged per batch (the progress past all)."""
    old = tenant_factory("old")
    _set_progress(store, FAR)
    ing = Ingestor(store)
    for received, samples in history:
        ing.ingest(old.principal, _batch(samples), received_at=received)
    return _figures(store, "old")


def test_the_job_builds_the_same_rollups_as_the_per_batch_merge(store, tenant_factory):
    history = _history()
    want = _old_way(store, tenant_factory, history)
    assert len(want) == 3 * 4 * 8

    new = tenant_factory("new")
    _set_progress(store, START)
    ing = Ingestor(store)
    for i, (received, samples) in enumerate(history):
        ing.ingest(new.principal, _batch(samples), received_at=received)
        if i % 12 == 11:  # the job's turns as the history goes by (an hour closes, …)
            rollups.build(store, now=received, chunk=5)
    # The catch-up batch came after hour 2 was built: merged into its rollup by ingest.
    assert _progress(store).until > START + 3 * HOUR
    # Before the job's last turn the last hours are not built, and readers compute them.
    assert _figures(store, "new").keys() < want.keys()
    _assert_same(_figures(store, "new", rollups.hourly()), want)

    report = rollups.build(store, now=NOW)
    assert report.behind == 0
    _assert_same(_figures(store, "new"), want)
    _assert_same(_figures(store, "new", rollups.hourly()), want)
    # Idempotent: running the hours again from raw gives the same rows.
    assert rollups.rebuild(store, START, START + 8 * HOUR) > 0
    _assert_same(_figures(store, "new"), want)


def test_a_job_stopped_or_crashed_mid_hour_goes_on_where_it_was(store, acme, monkeypatch):
    history = _history(seed=3)
    _set_progress(store, START)
    ing = Ingestor(store)
    for received, samples in history[:-1]:
        ing.ingest(acme.principal, _batch(samples), received_at=received)
    want = _figures(store, "acme", rollups.hourly())

    # Stopped after two chunks of 5 series: the hour START is half built.
    report = rollups.build(store, now=NOW, chunk=5, stop_after_chunks=2)
    assert report.chunks == 2
    progress = _progress(store)
    assert progress.until == START and progress.series > 0
    _assert_same(_figures(store, "acme", rollups.hourly()), want)

    # A late sample of a built series and one of a series not built yet, in that hour.
    with store.read() as conn:
        ids = dict(
            conn.execute(
                sa.select(series.c.metric + ":" + assets.c.name, series.c.id).join(assets)
            ).all()
        )
    built = [k for k, sid in ids.items() if sid <= progress.series][0]
    todo = [k for k, sid in ids.items() if sid > progress.series][0]
    late = []
    for key, value in ((built, 1000.0), (todo, 2000.0)):
        metric, asset = key.split(":")
        labels = {"disk": str(int(metric[1:]) % 2)}
        late.append(_sample(asset, metric, value, START + 1800.5, **labels))
    Ingestor(store).ingest(acme.principal, _batch(late), received_at=NOW)
    want = _figures(store, "acme", rollups.hourly())
    assert max(v[1] for v in want.values()) == 2000.0

    # A crash inside a chunk: its transaction rolls back, the progress stays.
    def boom(conn, until, series_id):
        raise RuntimeError("killed")

    monkeypatch.setattr(rollups, "_set_progress", boom)
    with pytest.raises(RuntimeError):
        rollups.build(store, now=NOW, chunk=5)
    monkeypatch.undo()
    assert _progress(store) == progress

    rollups.build(store, now=NOW, chunk=5)
    assert _progress(store).until == (int(NOW - rollups.CLOSE_AFTER) // HOUR) * HOUR
    _assert_same(_figures(store, "acme"), want)


def test_late_samples_of_a_built_hour_are_merged_and_recent_ones_wait_for_the_job(store, acme):
    hour = (int(NOW) // HOUR - 3) * HOUR
    _set_progress(store, hour)
    ing = Ingestor(store)
    ing.ingest(
        acme.principal, _batch([_sample("srv", "cpu", 10.0, hour + 60)]), received_at=hour + 90
    )
    assert _figures(store, "acme") == {}  # recent: raw only, the hour is not built yet
    rollups.build(store, now=hour + HOUR + rollups.CLOSE_AFTER)
    key = ("srv", "cpu", "{}", hour)
    assert _figures(store, "acme") == {key: (10.0, 10.0, 10.0, 1, 10.0, hour + 60)}

    # Late: the agent's spool sends more of that hour (and an older ts: last stays).
    ing.ingest(
        acme.principal,
        _batch([_sample("srv", "cpu", 30.0, hour + 120), _sample("srv", "cpu", 2.0, hour + 30)]),
        received_at=hour + 2 * HOUR,
    )
    assert _figures(store, "acme") == {key: (2.0, 30.0, 42.0, 3, 30.0, hour + 120)}
    assert _figures(store, "acme", rollups.hourly())[key] == (2.0, 30.0, 42.0, 3, 30.0, hour + 120)
    rollups.rebuild(store, hour, hour + HOUR)  # the same from raw
    assert _figures(store, "acme") == {key: (2.0, 30.0, 42.0, 3, 30.0, hour + 120)}


def test_readers_see_the_current_hour_from_raw_samples(store, acme):
    # The wall clock, not the module's NOW: under a long parallel run NOW's hour may be over
    # (and its samples then late) by the time this test runs.
    now = time.time()
    Ingestor(store).ingest(
        acme.principal,
        _batch([_sample("srv", "cpu", 5.0, now - 2), _sample("srv", "cpu", 7.0, now - 1)]),
        received_at=now,
    )
    hour = int(now // HOUR) * HOUR
    assert _figures(store, "acme") == {}
    view = _figures(store, "acme", rollups.hourly())
    assert view == {("srv", "cpu", "{}", hour): (5.0, 7.0, 12.0, 2, 7.0, pytest.approx(now - 1))}
    rollups.build(store, now=now)  # the current hour is not closed: nothing built
    assert _figures(store, "acme") == {}


def test_two_runtimes_one_job_run_per_turn_and_concurrent_runs_agree(db_url, kit):
    if not db_url.startswith("postgresql"):
        pytest.skip("leases are PostgreSQL's (on SQLite a singleton simply runs)")
    pg_url = db_url
    stores = [Store.from_url(pg_url) for _ in range(2)]
    stores[0].upgrade()
    try:
        tenant = kit.add_tenant(stores[0], "acme")
        _set_progress(stores[0], START)
        ing = Ingestor(stores[0])
        for received, samples in _history(seed=5)[:-1]:
            ing.ingest(tenant.principal, _batch(samples), received_at=received)
        want = _figures(stores[0], "acme", rollups.hourly())

        runs: list[int] = []

        def run(store: Store) -> None:
            runs.append(rollups.build(store, now=NOW, chunk=4).chunks)

        runners = [
            JobRunner(
                [PeriodicJob("rollups", 60, lambda s=s: run(s), singleton=True)],
                engine=s.engine,
                metrics=JobMetrics(),
                replica=f"r{i}",
            )
            for i, s in enumerate(stores)
        ]
        outcomes = [r.run_turn(r.job("rollups")) for r in runners]
        assert sorted(outcomes) == ["ran", "skipped"]
        assert len(runs) == 1 and runs[0] > 0
        _assert_same(_figures(stores[0], "acme"), want)
        for r in runners:
            r.stop()

        # Even without the lease (two turns at once), the progress row's lock keeps the
        # result the same: each chunk is built once, by one of them.
        _set_progress(stores[0], START)
        threads = [threading.Thread(target=run, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        _assert_same(_figures(stores[0], "acme"), want)
        assert _progress(stores[0]).until == (int(NOW - rollups.CLOSE_AFTER) // HOUR) * HOUR
    finally:
        for s in stores:
            s.dispose()


def test_retention_keeps_the_raw_samples_of_hours_not_built_yet(store, acme, tmp_path):
    """A collector back from an outage longer than raw retention builds those hours first."""
    from collector import retention
    from collector.schema import samples
    from collector.settings import Settings

    _set_progress(store, START)
    ing = Ingestor(store)
    for received, batch in _history(seed=9)[:-1]:
        ing.ingest(acme.principal, _batch(batch), received_at=received)
    with store.read() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar()
    short = Settings.for_data_dir(tmp_path, raw_retention="1h")
    assert retention.purge(store, short, now=NOW).samples == 0
    rollups.build(store, now=NOW)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar() == stored
    _assert_same(_figures(store, "acme"), _figures(store, "acme", rollups.hourly()))
    # Built: raw retention applies again (PostgreSQL drops whole days only).
    after = retention.purge(store, short, now=NOW)
    assert after.samples > 0 if store.is_sqlite else after.samples == 0
