"""Group commit: several batches stored by Ingestor.ingest_many (one transaction on SQLite,
a savepoint each) end exactly as if each had been ingested on its own; a refused batch fails
alone; nothing is visible to listeners before the commit. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import sqlalchemy as sa

from agent.wire import Batch
from collector import admin
from collector.errors import Forbidden, InvalidBatch, Unauthenticated
from collector.ingest import Ingestor, IngestResult
from collector.ingest_threads import IngestThreads
from collector.schema import samples


def _batches(kit, t):
    agent = str(uuid.uuid4())
    first = kit.make_batch(
        [
            kit.sample("srv1", "cpu_percent", 10.0, t),
            kit.sample("srv1", "disk_used_percent", 50.0, t, mount="/"),
        ],
        agent_id=agent,
        seq=1,
    )
    bad = kit.make_batch([kit.sample("ghost", "cpu_percent", 1.0, t)], assets=[], seq=1)
    second = kit.make_batch(  # same agent, one series new, one known from the first batch
        [
            kit.sample("srv1", "cpu_percent", 11.0, t + 30),
            kit.sample("srv1", "mem_used_percent", 40.0, t + 30),
        ],
        agent_id=agent,
        seq=2,
    )
    again = dict(first)  # the first batch retried: a duplicate, also inside the group
    resent = kit.make_batch(  # new batch id, one sample already stored by `first`
        [
            kit.sample("srv1", "cpu_percent", 10.0, t),
            kit.sample("srv1", "cpu_percent", 12.0, t + 60),
        ],
        agent_id=agent,
        seq=3,
    )
    return [first, bad, second, again, resent]


def _outcomes(results):
    out = []
    for r in results:
        if isinstance(r, Exception):
            out.append(type(r).__name__)
        else:
            a = r.accepted
            out.append((a.samples, a.events, a.assets, a.duplicate, len(r.rows)))
    return out


def test_group_ends_as_one_by_one(store, acme, kit, tmp_path, db_url):
    """The same batches through ingest_many and through ingest one by one (a second store):
    the same answers and the same rows."""
    from collector.store import Store

    t = kit.HOUR0 + 60
    batches = _batches(kit, t)
    committed: list[int] = []

    def listener(result: IngestResult) -> None:  # sees the rows: called after the commit
        with store.read() as conn:
            committed.append(conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar())

    grouped = Ingestor(store, listeners=[listener])
    results = grouped.ingest_many([(acme.principal, Batch.model_validate(b)) for b in batches])
    assert _outcomes(results) == [
        (2, 0, 1, False, 2),
        "InvalidBatch",
        (2, 0, 1, False, 2),
        (2, 0, 1, True, 0),
        (1, 0, 1, False, 1),
    ]
    assert isinstance(results[1], InvalidBatch)
    # Listeners run after the commit (rows visible): on SQLite the group's one commit, on
    # PostgreSQL each batch's own.
    assert committed == ([5, 5, 5, 5] if db_url.startswith("sqlite") else [2, 4, 4, 5])
    if db_url.startswith("sqlite"):
        other = Store.from_url(f"sqlite:///{tmp_path / 'one.db'}")
        other.upgrade()
        try:
            tenant = kit.add_tenant(other, "acme")
            single = Ingestor(other)
            one_by_one = []
            for b in batches:
                try:
                    one_by_one.append(single.ingest(tenant.principal, Batch.model_validate(b)))
                except Exception as exc:
                    one_by_one.append(exc)
            assert _outcomes(one_by_one) == _outcomes(results)
            mine, theirs = kit.row_counts(store), kit.row_counts(other)
            for key in ("agents_rows",):  # ids differ by nothing here; timestamps are not read
                assert mine[key] == theirs[key]
            assert {k: v for k, v in mine.items() if isinstance(v, int)} == {
                k: v for k, v in theirs.items() if isinstance(v, int)
            }
            assert mine["latest_rows"] == theirs["latest_rows"]
        finally:
            other.dispose()
    # The caches learned only what was committed: the next batch needs no series lookup.
    follow = kit.make_batch([kit.sample("srv1", "mem_used_percent", 41.0, t + 90)], seq=4)
    assert grouped.ingest(acme.principal, Batch.model_validate(follow)).accepted.samples == 1


def test_refused_batches_fail_alone(store, acme, kit):
    t = kit.HOUR0 + 60
    globex = kit.add_tenant(store, "globex")
    revoked = kit.add_tenant(store, "initech")
    ing = Ingestor(store)
    ok = kit.make_batch([kit.sample("srv1", "cpu_percent", 1.0, t)])
    taken = kit.make_batch([kit.sample("srv9", "cpu_percent", 1.0, t)], hostname="srv9")
    ing.ingest(globex.principal, Batch.model_validate(taken))
    stolen_agent = kit.make_batch(  # agent id registered to globex
        [kit.sample("srv1", "cpu_percent", 2.0, t)], agent_id=taken["agent"]["id"]
    )
    admin.revoke_token(store, revoked.principal.token_id)
    late_revoked = kit.make_batch([kit.sample("srv1", "cpu_percent", 3.0, t)])
    ok2 = kit.make_batch([kit.sample("srv2", "cpu_percent", 4.0, t)], hostname="srv2")
    results = ing.ingest_many(
        [
            (acme.principal, Batch.model_validate(ok)),
            (acme.principal, Batch.model_validate(stolen_agent)),
            (revoked.principal, Batch.model_validate(late_revoked)),
            (acme.principal, Batch.model_validate(ok2)),
        ]
    )
    assert [type(r) for r in results] == [IngestResult, Forbidden, Unauthenticated, IngestResult]
    with store.read() as conn:
        values = sorted(conn.execute(sa.select(samples.c.value)).scalars())
    assert values == [1.0, 1.0, 4.0]  # globex's own, ok, ok2; nothing of the refused ones


def test_failed_group_is_stored_one_by_one(store, acme, kit, monkeypatch):
    """If the group's transaction fails (here: a savepoint cannot be rolled back), every batch
    is stored again in a transaction of its own; nothing is lost, nothing stored twice."""
    t = kit.HOUR0 + 60
    ing = Ingestor(store)
    batches = [
        kit.make_batch([kit.sample(f"srv{i}", "cpu_percent", float(i), t)], hostname=f"srv{i}")
        for i in range(3)
    ]
    real = Ingestor._in_savepoint
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise sa.exc.OperationalError("ROLLBACK TO", (), Exception("disk I/O error"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ingestor, "_in_savepoint", flaky)
    results = ing.ingest_many([(acme.principal, Batch.model_validate(b)) for b in batches])
    assert [r.accepted.samples for r in results] == [1, 1, 1]
    with store.read() as conn:
        values = sorted(conn.execute(sa.select(samples.c.value)).scalars())
    assert values == [0.0, 1.0, 2.0]


def test_ingest_threads_group_queued_work():
    """Work queued while the thread is busy reaches the grouped function in one call; each
    caller gets its own answer or exception; one loop wake-up per turn."""
    gate = threading.Event()
    calls: list[list[tuple]] = []

    def block() -> str:
        gate.wait(5)
        return "blocked"

    def grouped(works: list[tuple]) -> list:
        calls.append(works)
        return [ValueError(n) if n % 2 else n * 10 for (n,) in works]

    async def main() -> list:
        threads = IngestThreads(1, max_group=16)
        try:
            first = asyncio.ensure_future(threads.run(block))
            await asyncio.sleep(0.05)
            tasks = [asyncio.ensure_future(threads.run_grouped(grouped, n)) for n in range(5)]
            await asyncio.sleep(0.05)
            gate.set()
            out = [await first]
            for task in tasks:
                try:
                    out.append(await task)
                except ValueError as exc:
                    out.append(f"error {exc}")
            return out
        finally:
            threads.stop()

    assert asyncio.run(main()) == ["blocked", 0, "error 1", 20, "error 3", 40]
    assert [len(c) for c in calls] == [5]


@pytest.mark.parametrize("size", [1, 3])
def test_ingest_threads_stop(size):
    async def main() -> None:
        threads = IngestThreads(size, max_group=4)
        assert await threads.run_grouped(lambda works: [w[0] for w in works], 7) == 7
        threads.stop()
        assert not threads._threads

    asyncio.run(main())


def test_concurrent_posts_are_grouped_and_answered_each(store, settings, kit):
    """Through the collector app: batches posted while the ingest thread is busy are stored
    in one group; each gets its own answer (a bad one its 422), all good ones are stored."""
    import json
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from agent.wire import BATCH_PATH
    from collector.api import create_app

    if not store.is_sqlite:
        pytest.skip("group commit is SQLite's")
    admin.create_client(store, "acme")
    _, token = admin.create_token(store, client="acme", name="agent")
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    now = time.time()
    bodies = [
        kit.make_batch([kit.sample(f"h{i}", "cpu_percent", float(i), now)], hostname=f"h{i}")
        for i in range(8)
    ]
    bodies[3] = kit.make_batch([kit.sample("ghost", "cpu_percent", 3.0, now)], assets=[])
    sizes: list[int] = []
    with TestClient(app) as client:
        ingestor = app.state.runtime.ingestor
        real = ingestor.ingest_many

        def slow_first(items):
            sizes.append(len(items))
            if len(sizes) == 1:
                time.sleep(0.5)  # the others queue meanwhile
            return real(items)

        ingestor.ingest_many = slow_first
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def post(body):
            return client.post(BATCH_PATH, content=json.dumps(body), headers=headers)

        client.post(BATCH_PATH, content=json.dumps(bodies[0]), headers=headers)  # token cached
        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(post, kit.make_batch([], assets=["h0"]))
            time.sleep(0.2)
            answers = list(pool.map(post, bodies[1:]))
            first.result()
    assert [r.status_code for r in answers] == [200, 200, 422, 200, 200, 200, 200]
    assert "unknown asset" in answers[2].json()["detail"]
    assert max(sizes) > 1
    with store.read() as conn:
        values = sorted(conn.execute(sa.select(samples.c.value)).scalars())
    assert values == [0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0]
