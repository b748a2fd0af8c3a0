"""Shard leases, hand-off and fencing on a real PostgreSQL, with two in-process replicas.

Each "replica" is what ``create_app`` builds on PostgreSQL: a :class:`Cluster`, a
:class:`RuleService` over it and an :class:`Ingestor` whose transaction hook queues the
batch for its shard. Lease ticks are driven by hand (``start()`` and ``tick()``; no job
runner), so every step is deterministic; expiry is forced by moving ``expires_at``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.wire import Batch
from collector import admin
from collector.cluster import Cluster, LeaseLost, shard_of, status
from collector.ingest import Ingestor
from collector.rules.service import RuleService
from collector.schema import rule_alerts, shard_leases, shard_queue
from collector.settings import Settings
from collector.store import Store
from tests.conftest import _postgres_schema_url, postgres_unavailable

pytestmark = pytest.mark.postgres

RULES = """
rules:
  - id: svc
    metric: service_up
    state: {in: [0]}
    for: 2m
    summary: "{asset}: {service} down"
  - id: hot
    metric: temperature_celsius
    warning: "> 80"
    clear: "< 70"
"""


@pytest.fixture
def pg_store() -> Iterator[Store]:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    for url in _postgres_schema_url():
        store = Store.from_url(url)
        store.upgrade()
        yield store
        store.dispose()


@dataclass
class Replica:
    cluster: Cluster
    rules: RuleService
    ingestor: Ingestor

    def stop(self) -> None:
        self.rules.stop()


def replica(
    store: Store, tmp_path: Path, name: str, shards: int = 8, rules_text: str = RULES
) -> Replica:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(rules_text)
    settings = Settings.for_data_dir(
        tmp_path, rules_paths=[rules], cluster_shards=shards, cluster_lease_ttl=15
    )
    cluster = Cluster(store, settings, replica_id=name)
    service = RuleService(store, settings, cluster=cluster)
    service.reload(initial=True)
    cluster.start()
    ingestor = Ingestor(store, listeners=[service.on_ingest], in_transaction=[cluster.enqueue])
    return Replica(cluster, service, ingestor)


def principal_for(store: Store, client: str) -> admin.Principal:
    admin.create_client(store, client)
    _, token = admin.create_token(store, client=client)
    with store.read() as conn:
        return admin.authenticate(conn, token, need="agent")


def batch(samples: list[tuple[str, dict, float, float]], asset: str = "srv1") -> Batch:
    return Batch.model_validate(
        {
            "agent": {"id": str(uuid.uuid4()), "hostname": asset, "version": "1", "site": "hq"},
            "batch_id": str(uuid.uuid4()),
            "seq": 1,
            "sent_at": time.time(),
            "assets": [{"name": asset, "kind": "host"}],
            "samples": [
                {"asset": asset, "metric": m, "labels": labels, "value": v, "ts": ts}
                for m, labels, v, ts in samples
            ],
        }
    )


def alerts(store: Store) -> dict[str, str]:
    with store.read() as conn:
        return {r.rule_id: r.status for r in conn.execute(sa.select(rule_alerts))}


def expire(store: Store, owner: str) -> None:
    """As if ``owner`` had stopped renewing a TTL ago (a pause, a crash)."""
    with store.write() as conn:
        conn.execute(
            shard_leases.update().where(shard_leases.c.owner == owner).values(expires_at=0)
        )
        conn.execute(sa.text("UPDATE replicas SET heartbeat_at = 0 WHERE id = :id"), {"id": owner})


def test_shard_of_is_stable_and_spreads_clients() -> None:
    # Fixed values: every replica (and every Python process, whatever PYTHONHASHSEED) agrees.
    assert [shard_of(c, 64) for c in (1, 2, 3, 1000)] == [shard_of(c, 64) for c in (1, 2, 3, 1000)]
    assert (
        shard_of(1, 64)
        == int.from_bytes(__import__("hashlib").blake2b(b"1", digest_size=8).digest(), "big") % 64
    )
    counts = [0] * 16
    for client_id in range(1, 1601):
        counts[shard_of(client_id, 16)] += 1
    assert min(counts) > 60 and max(counts) < 140  # 100 each on average


def test_shards_spread_evenly_and_move_when_a_replica_dies(pg_store: Store, tmp_path) -> None:
    a = replica(pg_store, tmp_path, "a")
    assert a.cluster.owned() == list(range(8))  # alone: every shard
    b = replica(pg_store, tmp_path, "b")
    assert b.cluster.owned() == []  # nothing free yet
    a.cluster.tick()  # two live replicas: a keeps ceil(8/2) and gives the rest back
    b.cluster.tick()
    assert len(a.cluster.owned()) == 4 and len(b.cluster.owned()) == 4
    assert set(a.cluster.owned()).isdisjoint(b.cluster.owned())
    c = replica(pg_store, tmp_path, "c")
    for r in (a, b, c, a, b, c):
        r.cluster.tick()
    owned = [r.cluster.owned() for r in (a, b, c)]
    assert sorted(s for o in owned for s in o) == list(range(8))
    assert all(len(o) <= math.ceil(8 / 3) for o in owned)

    expire(pg_store, "c")  # c dies: its leases and heartbeat run out
    for r in (a, b, a, b):
        r.cluster.tick()
    assert sorted(a.cluster.owned() + b.cluster.owned()) == list(range(8))
    assert len(a.cluster.owned()) == 4 and len(b.cluster.owned()) == 4
    assert c.cluster.owned()  # c still thinks it owns shards (it was paused) ...
    c.cluster.tick()  # ... until its next renewal fails
    assert c.cluster.owned() == [] and c.cluster.metrics.losses._value.get() >= 1

    c.stop()
    b.stop()  # a clean stop gives the leases back at once, no TTL wait
    a.cluster.tick()
    assert a.cluster.owned() == list(range(8))
    info = status(pg_store)
    assert {r["id"] for r in info["replicas"]} >= {"a"} and "b" not in {
        r["id"] for r in info["replicas"]
    }
    assert {lease["owner"] for lease in info["leases"]} == {"a"}


def test_a_batch_stored_by_any_replica_is_evaluated_by_the_shard_owner(
    pg_store: Store, tmp_path
) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1)
    b = replica(pg_store, tmp_path, "b", shards=1)  # owns nothing: the one shard is a's
    principal = principal_for(pg_store, "acme")
    now = time.time()
    b.ingestor.ingest(principal, batch([("temperature_celsius", {"sensor": "cpu"}, 91.0, now)]))
    # b stored it and queued it; b's memory holds nothing, the alert is not evaluated yet.
    assert alerts(pg_store) == {} and b.rules.active_alerts() == []
    with pg_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(shard_queue)).scalar() == 1
    assert a.rules.drain(0) == 1  # the owner (woken by NOTIFY in a running replica)
    assert alerts(pg_store) == {"hot": "firing"}
    with pg_store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(shard_queue)).scalar() == 0
    # A batch stored by the owner itself is evaluated within its own request.
    a.ingestor.ingest(
        principal, batch([("temperature_celsius", {"sensor": "cpu"}, 60.0, now + 30)])
    )
    assert alerts(pg_store) == {"hot": "inactive"} or alerts(pg_store) == {}


def test_a_new_owner_continues_the_for_clock_of_the_old_one(pg_store: Store, tmp_path) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1)
    principal = principal_for(pg_store, "acme")
    t0 = time.time() - 90
    a.ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 0.0, t0)]))
    assert alerts(pg_store) == {"svc": "pending"}  # pending for 90 s of its 2 minutes

    expire(pg_store, "a")  # a is killed
    b = replica(pg_store, tmp_path, "b", shards=1)  # takes the shard, restores from the store
    assert b.cluster.owned() == [0] and b.cluster.generation(0) == 2
    b.ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 0.0, t0 + 90)]))
    assert alerts(pg_store) == {"svc": "pending"}
    assert b.rules.sweep(t0 + 119) == []
    [fired] = b.rules.sweep(t0 + 121)  # 30 s after the hand-over, not 2 minutes
    assert fired.event == "firing" and alerts(pg_store) == {"svc": "firing"}


def test_a_stale_owner_with_an_old_fencing_token_cannot_write_alert_state(
    pg_store: Store, tmp_path
) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1)
    principal = principal_for(pg_store, "acme")
    now = time.time()
    a.ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 0.0, now - 100)]))
    assert alerts(pg_store) == {"svc": "pending"}

    expire(pg_store, "a")  # a pauses (GC, VM freeze) longer than the TTL ...
    b = replica(pg_store, tmp_path, "b", shards=1)  # ... and b takes the shard over
    assert b.cluster.generation(0) == a.cluster.generation(0) + 1
    b.ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 1.0, now)]))
    assert alerts(pg_store) == {}  # back up: the new owner cleared it (idle alerts are not kept)

    # a wakes up, still holding its old engine and generation: its sweep would fire the
    # alert it remembers as pending since 130 s. The fencing token refuses the write.
    assert a.cluster.owned() == [0] and a.rules.active_alerts()
    with pg_store.write() as conn, pytest.raises(LeaseLost):
        a.cluster.fence(conn, 0)
    assert a.rules.sweep(now + 30) == []
    assert alerts(pg_store) == {}
    with pg_store.read() as conn:
        events = list(conn.execute(sa.text("SELECT event FROM alert_transitions")).scalars())
    assert "firing" not in events
    assert a.cluster.metrics.fenced._value.get() >= 2
    # A batch a stores now goes to the queue; a claims nothing, b evaluates it.
    a.ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 0.0, now + 40)]))
    assert a.rules.drain(0) == 0
    assert b.rules.drain(0) == 1 and alerts(pg_store) == {"svc": "pending"}
    a.cluster.tick()  # its renewal fails: a lets go of the shard
    assert a.cluster.owned() == []


SILENT_RULES = """
rules:
  - id: agent-silent
    metric: any
    absent: {for: 60s}
    severity: critical
"""


def test_a_replica_taking_over_knows_from_the_store_which_assets_are_silent(
    pg_store: Store, tmp_path
) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1, rules_text=SILENT_RULES)
    principal = principal_for(pg_store, "acme")
    now = time.time()
    a.ingestor.ingest(principal, batch([("cpu_usage_percent", {}, 5.0, now - 100)], "quiet"))
    a.ingestor.ingest(principal, batch([("cpu_usage_percent", {}, 5.0, now - 10)], "busy"))
    c = replica(pg_store, tmp_path, "c", shards=1, rules_text=SILENT_RULES)  # owns nothing
    expire(pg_store, "a")  # the owner dies; c keeps its heartbeat
    c.cluster.tick()
    assert c.cluster.owned() == [0] and c.cluster.joined_running_cluster
    # The new owner never received a batch itself, and it just started: neither "everything
    # is fresh" (a start-up grace) nor "everything is silent" (no memory of any asset).
    fired = c.rules.sweep(now)
    assert [(t.rule_id, t.asset, t.event) for t in fired] == [("agent-silent", "quiet", "firing")]


def test_last_seen_writes_are_throttled_per_agent_and_asset(pg_store: Store, tmp_path) -> None:
    principal = principal_for(pg_store, "acme")
    ingestor = Ingestor(pg_store, seen_interval=30.0)
    b = batch([("cpu_usage_percent", {}, 5.0, time.time())])
    t = time.time()

    def seen() -> tuple[float, float]:
        with pg_store.read() as conn:
            return (
                conn.execute(sa.text("SELECT last_seen FROM agents")).scalar(),
                conn.execute(sa.text("SELECT last_seen FROM assets")).scalar(),
            )

    for offset in (0, 10, 29):
        again = b.model_copy(update={"batch_id": uuid.uuid4(), "samples": []})
        ingestor.ingest(principal, again if offset else b, received_at=t + offset)
    assert seen() == (t, t)  # one write per 30 s, not one per batch
    ingestor.ingest(
        principal,
        b.model_copy(update={"batch_id": uuid.uuid4(), "samples": []}),
        received_at=t + 31,
    )
    assert seen() == (t + 31, t + 31)


def test_cluster_metrics_and_status(pg_store: Store, tmp_path) -> None:
    from rich.console import Console

    from collector.cluster_cli import print_status

    a = replica(pg_store, tmp_path, "a", shards=4)
    b = replica(pg_store, tmp_path, "b", shards=4)
    principal = principal_for(pg_store, "acme")
    b.ingestor.ingest(principal, batch([("temperature_celsius", {}, 50.0, time.time())]))
    shard = a.cluster.shard_of(principal.client_id)
    text = a.cluster.metrics.exposition().decode()
    assert "upkeep_cluster_owned_shards 4.0" in text
    assert f'upkeep_cluster_queue_depth{{shard="{shard}"}} 1.0' in text
    assert "upkeep_cluster_replicas_live 2.0" in text
    a.cluster.tick()
    text = a.cluster.metrics.exposition().decode()
    assert "upkeep_cluster_lease_renewals_total 4.0" in text  # 4 renewed, then 2 given back
    assert "upkeep_cluster_lease_losses_total 0.0" in text
    console = Console(record=True, width=200)
    info = print_status(pg_store, 15.0, console)
    out = console.export_text()
    assert info["owned"] == {"a": 2} and sorted(info["live"]) == ["a", "b"]
    assert (
        "Replicas (2 live, lease TTL 15s)" in out and "hand-off queue: 1 batch(es) waiting" in out
    )
    assert "without a live owner 2" in out  # b has not ticked yet: a gave back 2


def test_losing_a_shard_while_it_is_being_evaluated_does_not_deadlock(
    pg_store: Store, tmp_path
) -> None:
    # Regression: giving a shard back held the cluster's lock while waiting for the shard's
    # evaluation, and the evaluation needed that lock for its fencing token (a rolling
    # restart froze every ingest thread).
    import threading

    a = replica(pg_store, tmp_path, "a", shards=2)
    replica(pg_store, tmp_path, "b", shards=2)  # live: a's share is 1 of the 2 shards now
    state = a.rules._shards[1]
    evaluating, go = threading.Event(), threading.Event()
    seen: list[int | None] = []

    def evaluation() -> None:
        with state.lock:
            evaluating.set()
            go.wait(5)
            seen.append(a.cluster.generation(1))  # what fence() asks first

    t1 = threading.Thread(target=evaluation, daemon=True)
    t1.start()
    evaluating.wait(5)
    t2 = threading.Thread(target=a.cluster.tick, daemon=True)  # gives shard 1 back
    t2.start()
    time.sleep(0.5)  # t2 is now waiting for the evaluation to finish
    go.set()
    t1.join(5)
    t2.join(5)
    assert not t1.is_alive() and not t2.is_alive()
    assert a.cluster.owned() == [0] and 1 not in a.rules._shards


FORECAST_RULES = """
rules:
  - id: fill
    metric: disk_used_percent
    forecast: {reach: 100, within: 1d, using: 1h}
    summary: "{asset}: disk full in {eta}"
"""


def test_a_new_owner_continues_a_forecast_as_if_one_process_had_run_all_along(
    pg_store: Store, tmp_path, monkeypatch
) -> None:
    """The forecast's fit is rebuilt from the raw samples on a hand-over: the firing forecast
    neither resolves (an empty fit has too few points) nor moves; its ETA after the hand-over
    is the one a single process that saw every sample computes."""
    from collector import timeutil
    from collector.rules.engine import ForecastTrack

    clock = [time.time() - 7200]
    monkeypatch.setattr(timeutil, "now", lambda: clock[0])
    a = replica(pg_store, tmp_path, "a", shards=1, rules_text=FORECAST_RULES)
    principal = principal_for(pg_store, "acme")
    reference = ForecastTrack(width=3600 / 48, using=3600)  # what one process would hold
    step, start = 75.0, clock[0]

    def send(owner: Replica, k: int) -> None:
        clock[0] = start + k * step
        value = 50 + 0.2 * k
        reference.add(clock[0], value)
        owner.ingestor.ingest(
            principal, batch([("disk_used_percent", {"mount": "/"}, value, clock[0])])
        )

    for k in range(36):  # 45 minutes of a disk filling up, evaluated by a
        send(a, k)
    assert alerts(pg_store) == {"fill": "firing"}
    [before] = a.rules.active_alerts()
    assert before.core.eta is not None

    expire(pg_store, "a")  # a is killed; b takes the shard
    b = replica(pg_store, tmp_path, "b", shards=1, rules_text=FORECAST_RULES)
    assert b.cluster.owned() == [0]
    for k in range(36, 44):  # 10 more minutes, evaluated by b
        send(b, k)
        [alert] = b.rules.active_alerts()
        expected, _ = reference.eta(100, 6)
        assert alert.core.eta == pytest.approx(expected, rel=1e-9), f"sample {k}"
    assert alerts(pg_store) == {"fill": "firing"}  # never resolved by the hand-over
    with pg_store.read() as conn:
        events = conn.execute(sa.text("SELECT event FROM alert_transitions ORDER BY id")).scalars()
        assert list(events).count("resolved") == 0
    a.stop()
    b.stop()


def queued(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(shard_queue)).scalar()


def test_the_owner_evaluates_its_own_batch_inside_the_ingest_transaction(
    pg_store: Store, tmp_path
) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1)
    principal = principal_for(pg_store, "acme")
    now = time.time()
    a.ingestor.ingest(principal, batch([("temperature_celsius", {"sensor": "cpu"}, 91.0, now)]))
    # Fired and stored with the batch: nothing went through the hand-off queue.
    assert alerts(pg_store) == {"hot": "firing"} and queued(pg_store) == 0
    assert a.cluster.metrics.handed._value.get() == 0

    # The batch's transaction rolls back after the evaluation (a later hook fails): neither
    # the samples nor the alert state are stored, and the engine starts over from the store.
    def failing(conn: sa.engine.Connection, result: object) -> None:
        raise RuntimeError("a later in-transaction hook failed")

    a.ingestor.in_transaction.append(failing)
    cleared = batch([("temperature_celsius", {"sensor": "cpu"}, 60.0, now + 30)])
    with pytest.raises(RuntimeError):
        a.ingestor.ingest(principal, cleared)
    assert alerts(pg_store) == {"hot": "firing"}  # the resolve was not committed ...
    [alert] = a.rules.active_alerts()  # ... and the engine does not remember it either
    assert alert.rule_id == "hot" and alert.core.status == "firing"
    a.ingestor.in_transaction.remove(failing)
    a.ingestor.ingest(principal, cleared)  # the agent's retry
    assert alerts(pg_store) in ({}, {"hot": "inactive"}) and a.rules.active_alerts() == []


def test_an_evaluation_that_fails_in_the_ingest_transaction_queues_the_batch(
    pg_store: Store, tmp_path, monkeypatch
) -> None:
    a = replica(pg_store, tmp_path, "a", shards=1)
    principal = principal_for(pg_store, "acme")
    engine = a.rules._shards[0].engine
    monkeypatch.setattr(engine, "observe", lambda *args: 1 / 0)
    now = time.time()
    # The batch is stored all the same (a rule bug never refuses samples) and queued; the
    # shard was rebuilt from the store (a new engine), which evaluates it from the queue
    # right after the commit, within the request, as for a batch queued by another replica.
    got = a.ingestor.ingest(
        principal, batch([("temperature_celsius", {"sensor": "cpu"}, 91.0, now)])
    )
    assert got.accepted.samples == 1 and a.rules._shards[0].engine is not engine
    assert a.cluster.metrics.handed._value.get() == 1
    assert alerts(pg_store) == {"hot": "firing"} and queued(pg_store) == 0


def test_concurrent_batches_of_one_shard_with_lease_renewals_all_commit_and_are_evaluated(
    pg_store: Store, tmp_path
) -> None:
    # Several ingest threads on one shard (each waits for the shard's lock inside its
    # transaction, holding its row locks), the lease job renewing the lease rows they fence
    # (share-locked) at the same time: no wait cycle, every batch stored and evaluated.
    import threading

    a = replica(pg_store, tmp_path, "a", shards=1)
    principal = principal_for(pg_store, "acme")
    now = time.time()
    errors: list[BaseException] = []
    stop = threading.Event()

    def send(k: int) -> None:
        try:
            for i in range(15):
                value = 91.0 if i == 14 else 60.0
                a.ingestor.ingest(
                    principal,
                    batch([("temperature_celsius", {"sensor": "cpu"}, value, now + i)], f"h{k}"),
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    def renew() -> None:
        while not stop.is_set():
            a.cluster.tick()
            time.sleep(0.01)

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    senders = [threading.Thread(target=send, args=(k,), daemon=True) for k in range(6)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    stop.set()
    renewer.join(10)
    assert not any(t.is_alive() for t in senders) and not errors
    a.rules.drain(0)  # any batch that waited past the bound went through the queue
    assert queued(pg_store) == 0
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM samples")).scalar() == 6 * 15
    # Each host's last sample (i = 14) breaches: six alerts firing, in memory and stored.
    assert len(a.rules.active_alerts()) == 6
    with pg_store.read() as conn:
        stored = conn.execute(sa.select(rule_alerts.c.status)).scalars().all()
    assert stored == ["firing"] * 6
    a.stop()
