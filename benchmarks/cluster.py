"""Collector cluster on one PostgreSQL: throughput with 1..N replicas, and failover time.

* ``throughput``: start N real ``upkeep serve`` replicas on one (fresh) schema, provision a
  fleet (:mod:`benchmarks.fleet`), and post its realistic batches round-robin as fast as the
  replicas take them (``speed`` compresses the 30 s interval) for ``--seconds``; report
  accepted samples/s and batch latency.
* ``failover``: three replicas with the default lease TTL (15 s), a firing alert on a shard;
  ``kill -9`` that shard's owner, then post one batch for the shard every 0.5 s and measure
  the time from the kill to the first evaluation by the new owner (the batch's alert
  transition stored with the new lease generation), and whether any alert state was lost.

    python benchmarks/cluster.py throughput --replicas 1 2 3 --seconds 30
    python benchmarks/cluster.py failover --runs 3

Needs PostgreSQL at ``$UPKEEP_TEST_POSTGRES_URL`` (default the test database).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, provision  # noqa: E402
from collector.cluster import shard_of  # noqa: E402
from collector.schema import clients, rule_alerts, shard_leases  # noqa: E402
from collector.store import Store  # noqa: E402
from tests.servers.collector import CollectorProcess, free_port  # noqa: E402

POSTGRES_URL = os.environ.get(
    "UPKEEP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The PostgreSQL application_name of the benchmark's connections (to count their backends).
APPLICATION_NAME = f"upkeep-bench-{os.getpid()}"
RULES = """
rules:
  - id: hot
    metric: temperature_celsius
    warning: "> 80"
    clear: "< 70"
"""


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    url = make_url(POSTGRES_URL)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict(
            {"options": f"-csearch_path={schema}", "application_name": APPLICATION_NAME}
        ).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def replicas(folder: Path, url: str, n: int, rules: str | None = None) -> list[CollectorProcess]:
    env = {"UPKEEP_RULES_WATCH_INTERVAL": "0s"}
    if rules:
        (folder / "rules").mkdir(parents=True, exist_ok=True)
        (folder / "rules" / "r.yaml").write_text(rules)
        env["UPKEEP_RULES_PATHS"] = str(folder / "rules")
    return [
        CollectorProcess(
            folder / f"r{i}",
            database_url=url,
            port=free_port(),
            env=env,
            log_level="warning",
            startup_timeout=90,
        )
        for i in range(n)
    ]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def postgres_cpu_seconds(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving this benchmark's replicas (found by the
    ``application_name`` of their connections, :func:`fresh_schema`): the server is shared
    with other work on this machine, so only these backends count. The server's own
    background processes (WAL writer, checkpointer) are shared and left out."""
    engine = sa.create_engine(url.replace("postgresql+psycopg", "postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            pids = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                    "AND pid <> pg_backend_pid()"
                ),
                {"name": APPLICATION_NAME},
            ).scalars()
            return {pid: cpu_seconds(pid) for pid in pids}
    finally:
        engine.dispose()


def throughput(counts: list[int], seconds: float, agents: int, sites: int) -> None:
    """Accepted samples/s per replica count, and where the CPU went: collector replicas,
    PostgreSQL and the fleet simulator (this process), in CPU seconds per million samples.
    Their sum over the wall time against the machine's cores says what saturates."""
    cores = os.cpu_count() or 1
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp, fresh_schema() as url:
            procs = replicas(Path(tmp), url, n)
            try:
                for p in procs:
                    p.start()
                fleet_agents = provision(url, clients=20, agents=agents, sites=sites)
                # speed 30: each agent sends every second; 12 senders keep the replicas busy.
                fleet = Fleet([p.url for p in procs], fleet_agents, speed=30, workers=12)
                pids = [p.process.pid for p in procs if p.process is not None]
                load = os.getloadavg()[0]
                before = ([cpu_seconds(pid) for pid in pids], postgres_cpu_seconds(url), os.times())
                report = fleet.run(seconds)
                after = ([cpu_seconds(pid) for pid in pids], postgres_cpu_seconds(url), os.times())
                collector = sum(after[0]) - sum(before[0])
                # A backend that started during the run counts from 0; one that ended is lost
                # (the replicas keep pooled connections, so few do).
                postgres = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
                simulator = (after[2].user + after[2].system) - (before[2].user + before[2].system)
                per_million = 1e6 / max(report.samples, 1)
                busy = (collector + postgres + simulator) / max(report.seconds, 1e-9)
                print(f"{n} replica(s): {report.summary()}")
                print(
                    f"  CPU s per million samples: collector {collector * per_million:.1f} "
                    f"(replicas: {', '.join(f'{b - a:.1f}s' for a, b in zip(before[0], after[0], strict=True))}), "
                    f"PostgreSQL {postgres * per_million:.1f}, simulator {simulator * per_million:.1f}; "
                    f"CPU busy {busy:.2f} of {cores} cores; load before {load:.2f}, "
                    f"after {os.getloadavg()[0]:.2f}"
                )
            finally:
                for p in procs:
                    p.stop()


def _owner(store: Store, shard: int) -> tuple[str, int]:
    with store.read() as conn:
        row = conn.execute(
            sa.select(shard_leases.c.owner, shard_leases.c.generation).where(
                shard_leases.c.shard == shard
            )
        ).one()
    return row.owner, row.generation


def failover(runs: int) -> None:
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp, fresh_schema() as url:
            procs = replicas(Path(tmp), url, 3, RULES)
            store = Store.from_url(url)
            try:
                for p in procs:
                    p.start()
                [agent] = provision(url, clients=1, agents=1)
                with store.read() as conn:
                    client_id = conn.execute(sa.select(clients.c.id)).scalar_one()
                shard = shard_of(client_id, 64)

                def post(value: float, url: str, agent=agent) -> None:
                    now = time.time()
                    body = {
                        "agent": {
                            "id": agent.agent_id,
                            "hostname": "h",
                            "version": "1",
                            "site": "s",
                        },
                        "batch_id": str(uuid.uuid4()),
                        "seq": 1,
                        "sent_at": now,
                        "assets": [{"name": "h", "kind": "host"}],
                        "samples": [
                            {
                                "asset": "h",
                                "metric": "temperature_celsius",
                                "labels": {"sensor": f"s{i}"},
                                "value": value,
                                "ts": now,
                            }
                            for i in range(5)
                        ],
                    }
                    requests.post(
                        url + "/api/v1/batches",
                        json=body,
                        headers={"Authorization": f"Bearer {agent.token}"},
                        timeout=10,
                    ).raise_for_status()

                time.sleep(5)  # leases settle over the three replicas
                owner, generation = _owner(store, shard)
                victim = next(p for p in procs if p.process and f":{p.process.pid}:" in owner)
                others = [p for p in procs if p is not victim]
                post(91.0, others[0].url)  # five firing alerts owned by the victim
                deadline = time.time() + 10
                while time.time() < deadline:
                    with store.read() as conn:
                        firing = conn.execute(
                            sa.select(sa.func.count())
                            .select_from(rule_alerts)
                            .where(rule_alerts.c.status == "firing")
                        ).scalar()
                    if firing == 5:
                        break
                    time.sleep(0.1)
                killed = time.time()
                victim.kill()
                value = 60.0  # below the clear threshold: the new owner resolves them
                while True:
                    post(value, others[0].url)
                    with store.read() as conn:
                        left = conn.execute(
                            sa.select(sa.func.count())
                            .select_from(rule_alerts)
                            .where(rule_alerts.c.status == "firing")
                        ).scalar()
                    if left == 0:
                        break
                    if time.time() - killed > 60:
                        raise SystemExit("no evaluation by a new owner within 60 s")
                    time.sleep(0.5)
                took = time.time() - killed
                new_owner, new_generation = _owner(store, shard)
                # Lost alerts: the new owner resolved exactly the 5 it restored (a lost
                # state would have left nothing to resolve and no "resolved" transitions).
                with store.read() as conn:
                    resolved = conn.execute(
                        sa.text("SELECT count(*) FROM alert_transitions WHERE event='resolved'")
                    ).scalar_one()
                print(
                    f"run {run + 1}: kill -9 -> first evaluation by the new owner "
                    f"{took:.1f}s (generation {generation} -> {new_generation}); "
                    f"alerts lost {5 - resolved}"
                )
            finally:
                store.dispose()
                for p in procs:
                    p.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    t.add_argument("--seconds", type=float, default=30.0)
    t.add_argument("--agents", type=int, default=100)
    t.add_argument("--sites", type=int, default=10)
    f = sub.add_parser("failover")
    f.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.replicas, args.seconds, args.agents, args.sites)
    else:
        failover(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
