"""Fleet end to end on PostgreSQL: three real ``upkeep serve`` replicas, the fleet simulator
posting every agent's batches round-robin across them, a webhook sink recording every
delivery, scripted faults — and during the run a rolling restart of every replica and a
``kill -9`` of the replica that owns a shard with a pending and a firing alert.

Time is compressed through the rules (``for: 10s`` / ``60s``, ``absent: 30s``) and the
simulator (a batch every 5 s); the lease TTL is the default 15 s. What must hold:

* every fault gives exactly one incident, one ``open`` and one ``resolve`` delivered;
* no incident without a fault (no false ``agent-silent``, no ``site-unreachable``);
* every incident of the killed owner resolves (the new owner carries on);
* alert state survives the hand-over: a ``for: 60s`` alert pending 40 s when its owner is
  killed fires 60 s after the fault began (not 60 s after the new owner took over).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from servers.collector import CollectorProcess, free_port
from servers.fake_http import FakeHttpServer, RecordedRequest, Reply

from benchmarks.fleet import Fault, Fleet, provision
from collector.cluster import shard_of
from collector.connectors.webhook import signature
from collector.schema import alert_transitions, clients, incidents, shard_leases
from collector.store import Store
from tests.conftest import _postgres_schema_url, postgres_unavailable

# About 4 minutes of compressed fleet time plus starting 3 replicas 5 times on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

SECRET = "fleet-secret"
RULES = """
rules:
  - id: agent-silent
    metric: any
    absent: {for: 30s}
    severity: critical
    priority: major
    kind: outage
    summary: "{asset} has not reported for 30 seconds"
  - id: cpu-high
    metric: cpu_usage_percent
    warning: "> 90"
    clear: "< 80"
    for: 10s
    summary: "{asset}: cpu {value:.0f}%"
  - id: memory-high
    metric: memory_used_percent
    warning: "> 90"
    clear: "< 85"
    for: 60s
    summary: "{asset}: memory {value:.0f}%"
"""


class Sink:
    """The webhook receiver: records every delivery (retries included)."""

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.lock = threading.Lock()
        self.server = FakeHttpServer(self.handle)

    def handle(self, request: RecordedRequest) -> Reply:
        assert hmac.compare_digest(
            request.headers["x-upkeep-signature"], signature(SECRET, request.body)
        )
        with self.lock:
            self.deliveries.append(
                {
                    "action": request.json["action"],
                    "key": request.json["key"],
                    "idempotency_key": request.headers["idempotency-key"],
                    "asset": request.json["incident"]["asset"],
                    "rule": request.json["incident"]["rule"],
                    "at": time.time(),
                }
            )
        return Reply(200, {"id": f"WH-{request.json['key']}"})

    def effects(self) -> dict[str, Counter]:
        """Per incident key: how many distinct deliveries of each action (retries count once)."""
        with self.lock:
            seen = {(d["key"], d["action"], d["idempotency_key"]) for d in self.deliveries}
        out: dict[str, Counter] = defaultdict(Counter)
        for key, action, _ in seen:
            out[key][action] += 1
        return out


def settings_file(folder: Path, sink: Sink) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "fleet.yaml").write_text(RULES)
    (folder / "maintenance.yaml").write_text(
        yaml.safe_dump({"dependencies": {"site_unreachable": {"grace": "5s"}}})
    )
    path = folder / "settings.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "rules_paths": [str(folder / "rules")],
                "rules_watch_interval": 0,
                "rules_sweep_interval": 1,
                "maintenance_file": str(folder / "maintenance.yaml"),
                "noise_release_interval": 1,
                "cluster_poll_interval": 1,
                "connectors": {
                    "connectors": {
                        "sink": {"type": "webhook", "url": sink.server.url + "/h", "secret": SECRET}
                    }
                },
                "outbox_retry_base": 0.2,
                "outbox_retry_max": 1.0,
                "outbox_max_age": "1h",
                "outbox_claim_timeout": 3.0,
            }
        )
    )
    return path


@pytest.fixture
def pg_url():
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    yield from _postgres_schema_url()


def owner_of(store: Store, shard: int) -> tuple[str, int]:
    with store.read() as conn:
        row = conn.execute(
            sa.select(shard_leases.c.owner, shard_leases.c.generation).where(
                shard_leases.c.shard == shard
            )
        ).one()
    return row.owner, row.generation


def test_fleet_on_three_replicas_survives_restarts_and_a_kill(tmp_path, pg_url) -> None:
    sink = Sink()
    store = Store.from_url(pg_url)
    store.upgrade()
    # 6 clients, 24 host agents and 2 site agents (switch, printer, UPS): one site per client.
    agents = provision(pg_url, clients=6, agents=26, sites=2)
    for a in agents:
        a.site = "hq"
    with store.read() as conn:
        client_ids = dict(conn.execute(sa.select(clients.c.name, clients.c.id)).all())
    shards = 64
    by_client: dict[str, list] = defaultdict(list)
    for a in agents:
        by_client[a.client].append(a)
    c_cpu, c_silent, c_hand = list(by_client)[:3]
    cpu_host = by_client[c_cpu][0].hostname
    silent_host = by_client[c_silent][1].hostname
    hand_host = by_client[c_hand][2].hostname
    hand_cpu_host = by_client[c_hand][3].hostname
    hand_shard = shard_of(client_ids[c_hand], shards)
    assert shard_of(client_ids[c_cpu], shards) != hand_shard  # distinct owners likely, not needed

    faults = [
        Fault(cpu_host, 20, 60, "cpu_usage_percent", 99.0),
        Fault(silent_host, 30, 90, None),  # its agent sends nothing for 60 s
    ]
    with sink.server:
        conf = settings_file(tmp_path / "conf", sink)
        replicas = [
            CollectorProcess(
                tmp_path / f"r{i}",
                database_url=pg_url,
                config=conf,
                port=free_port(),
                startup_timeout=120,
            )
            for i in range(3)
        ]
        try:
            for r in replicas:
                r.start()
            fleet = Fleet(
                [r.url for r in replicas], agents, interval=30, speed=6, faults=faults, workers=6
            )
            fleet.start()

            def at(t: float) -> None:
                time.sleep(max(0.0, fleet.started + t - time.time()))

            at(35)  # a rolling restart, one replica at a time, while cpu_host's alert fires
            for r in replicas:
                r.restart()
            # The hand-over faults are placed after the restarts (which take longer on a busy
            # machine): a cpu alert firing and a for: 60s alert pending 40 s at the kill.
            h = max(70.0, fleet.elapsed())
            kill_at = h + 45
            fleet.faults.append(Fault(hand_cpu_host, h, h + 50, "cpu_usage_percent", 99.0))
            fleet.faults.append(Fault(hand_host, h + 5, h + 105, "memory_used_percent", 95.0))
            at(kill_at)
            owner, generation = owner_of(store, hand_shard)
            victim = next(r for r in replicas if r.process and f":{r.process.pid}:" in owner)
            killed_at = time.time()
            victim.kill()  # SIGKILL: no clean hand-over, its leases must run out
            while owner_of(store, hand_shard)[1] == generation:
                assert time.time() - killed_at < 30, "no replica took the dead owner's shard"
                time.sleep(0.2)
            taken_after = time.time() - killed_at
            at(kill_at + 40)
            victim.start()  # it comes back and gets its share again
            at(h + 130)
            report = fleet.stop()
            deadline = time.time() + 30
            while time.time() < deadline:
                with store.read() as conn:
                    open_ = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(incidents)
                        .where(incidents.c.state.notin_(("resolved", "closed")))
                    ).scalar()
                effects = sink.effects()
                if not open_ and all(e["resolve"] for e in effects.values()):
                    break
                time.sleep(0.5)
            status = replicas[0].cli("cluster", "status").stdout
        finally:
            logs = {r.log_path: r.log_tail(200) for r in replicas}
            for r in replicas:
                r.stop()

    with store.read() as conn:
        rows = conn.execute(sa.select(incidents).order_by(incidents.c.id)).all()
        hand_fired = conn.execute(
            sa.select(alert_transitions.c.ts).where(
                alert_transitions.c.rule_id == "memory-high", alert_transitions.c.event == "firing"
            )
        ).scalars()
        hand_fired = list(hand_fired)
    store.dispose()
    print(report.summary(), f"; shard taken {taken_after:.1f}s after kill -9")
    print(status)
    got = sorted((r.rule, r.asset, r.state) for r in rows)
    expected = sorted(
        [
            ("cpu-high", cpu_host, "resolved"),
            ("agent-silent", silent_host, "resolved"),
            ("memory-high", hand_host, "resolved"),
            ("cpu-high", hand_cpu_host, "resolved"),
        ]
    )
    assert got == expected, (got, "\n".join(f"{p}:\n{t}" for p, t in logs.items()))
    effects = sink.effects()
    for row in rows:
        assert effects[row.key] == Counter({"open": 1, "resolve": 1}), (row.key, effects[row.key])
    assert set(effects) == {r.key for r in rows}
    # for: 60s pending 40 s at the kill fires 60 s after the fault began (+ batch period and
    # sweep), not 60 s after the takeover (which would be >= kill + TTL + 60 = +115 s).
    [fired] = hand_fired
    began = fleet.started + h + 5
    assert 60 <= fired - began <= 75, fired - began
    assert taken_after <= 20
    assert report.errors.get("http 500", 0) == 0
