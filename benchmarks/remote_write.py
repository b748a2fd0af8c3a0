"""Side by side in one run: the same samples stored by Upkeep and by Prometheus's remote-write
receiver, in CPU seconds per million samples stored (issue 15).

* **Upkeep**: a real collector (``upkeep serve``, SQLite by default, ``--database-url`` for
  PostgreSQL, default rule packs) receives ``--agents`` agents' gzip JSON batches of one host
  with ``--series`` series each (the shape real host agents send, benchmarks/ingest.py), 4 in
  flight. CPU: the collector process, plus on PostgreSQL the server backends of its
  connections (found by ``application_name``).
* **Prometheus**: Debian's ``prometheus`` with ``--web.enable-remote-write-receiver`` (its own
  TSDB in a temp dir) receives the very same samples, labelled as the exporter would
  (collector/remote_write/labels.py), as snappy WriteRequests of ``--per-request`` samples
  (Prometheus's own ``max_samples_per_send`` default is 2000), 4 in flight. CPU: the
  prometheus process.
* ``--export``: a third run, Upkeep with its remote-write exporter on (to that Prometheus):
  what queueing and sending cost the collector on top of storing.

Bodies are built and compressed before the clock starts. Both stores keep the samples as
durably as they are configured by default: Upkeep commits each batch (SQLite WAL,
synchronous=NORMAL, or PostgreSQL's commit), Prometheus appends each request to its WAL
before answering 2xx (WAL segments fsynced on close, not per request).

    .venv/bin/python benchmarks/remote_write.py
    .venv/bin/python benchmarks/remote_write.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --export

Numbers: benchmarks/README.md, "Remote write side by side".
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import build_bodies, fresh_schema  # noqa: E402
from collector.remote_write import protocol  # noqa: E402
from collector.remote_write.labels import series_labels  # noqa: E402
from tests.servers.collector import (  # noqa: E402
    CollectorProcess,
    create_agent_token,
    create_client,
)
from tests.servers.prometheus import PrometheusServer  # noqa: E402


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _backends(database_url: str, app: str) -> list[psutil.Process]:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(database_url)
    with psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    ) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
            )
        ]
    return [psutil.Process(pid) for pid in pids]


def _parallel(items: list, send, concurrency: int = 4) -> float:
    """Send every item with ``concurrency`` threads; return the wall time."""
    queue = list(reversed(items))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            send(item)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def run_upkeep(
    args: argparse.Namespace, work: Path, per_agent: list[list[bytes]], write_url: str | None
) -> tuple[float, float, int]:
    """(collector CPU s, database CPU s, samples stored) for the timed batches."""
    database_url, drop = args.database_url, None
    app = f"upkeep-bench-{uuid.uuid4().hex[:8]}"
    if database_url:
        database_url, drop = fresh_schema(database_url)
        database_url += f"&application_name={app}"
    config = None
    if write_url:
        config = work / "remote-write.yaml"
        config.write_text(json.dumps({"remote_write": {"url": write_url}}))
    collector = CollectorProcess(
        work / ("collector-export" if write_url else "collector"),
        database_url=database_url,
        log_level="warning",
        config=config,
    )
    try:
        collector.start()
        create_client(collector, "bench")
        tokens = [create_agent_token(collector, "bench", f"agent{i}") for i in range(args.agents)]
        clients = [
            httpx.Client(
                base_url=collector.url,
                timeout=120,
                headers={
                    "Authorization": f"Bearer {tok}",
                    "Content-Encoding": "gzip",
                    "Content-Type": "application/json",
                },
            )
            for tok in tokens
        ]
        stored = 0
        lock = threading.Lock()

        def post(item: tuple[int, bytes]) -> None:
            nonlocal stored
            agent, body = item
            r = clients[agent].post("/api/v1/batches", content=body)
            if r.status_code != 200:
                raise SystemExit(f"collector answered {r.status_code}: {r.text[:300]}")
            with lock:
                stored += r.json()["samples"]

        for agent in range(args.agents):  # warm-up: series creation, not timed
            post((agent, per_agent[agent][0]))
        stored = 0
        server = [psutil.Process(collector.process.pid)]
        db = _backends(args.database_url, app) if database_url else []
        c0, d0 = _cpu(server), _cpu(db)
        items = [
            (a, per_agent[a][b]) for b in range(1, args.batches + 1) for a in range(args.agents)
        ]
        wall = _parallel(items, post)
        if write_url:  # the exporter's sending is part of the cost: wait until it is done
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                text = httpx.get(collector.url + "/metrics").text
                if "upkeep_remote_write_queue_samples 0.0" in text:
                    break
                time.sleep(0.2)
        db_end = _backends(args.database_url, app) if database_url else []
        known = {p.pid for p in db}
        c1 = _cpu(server)
        d1 = _cpu(db) + _cpu([p for p in db_end if p.pid not in known])
        print(f"  upkeep{' + export' if write_url else ''}: {stored:,} samples in {wall:.1f} s")
        return c1 - c0, d1 - d0, stored
    finally:
        collector.stop()
        if drop:
            drop()


def run_prometheus(prom: PrometheusServer, bodies: list[bytes], samples: int) -> float:
    client = httpx.Client(headers=protocol.HEADERS, timeout=60)

    def send(body: bytes) -> None:
        r = client.post(prom.write_url, content=body)
        if r.status_code // 100 != 2:
            raise SystemExit(f"prometheus answered {r.status_code}: {r.text[:300]}")

    proc = [psutil.Process(prom.process.pid)]
    c0 = _cpu(proc)
    wall = _parallel(bodies, send)
    c1 = _cpu(proc)
    print(f"  prometheus: {samples:,} samples in {wall:.1f} s")
    return c1 - c0


def write_requests(
    per_agent: list[list[bytes]], batches: int, per_request: int
) -> tuple[list[bytes], int]:
    """The timed batches' samples as WriteRequest bodies (batch order, per-series ts order)."""
    bodies, pending, count = [], defaultdict(list), 0

    def flush() -> None:
        nonlocal pending
        if pending:
            bodies.append(protocol.encode(pending.items()))
            pending = defaultdict(list)

    n = 0
    for b in range(1, batches + 1):
        for agent in per_agent:
            batch = json.loads(gzip.decompress(agent[b]))
            for s in batch["samples"]:
                key = series_labels(
                    s["metric"], s["labels"], client="bench", site="hq", asset=s["asset"]
                )
                pending[key].append((round(s["ts"] * 1000), s["value"]))
                n += 1
                count += 1
                if n >= per_request:
                    flush()
                    n = 0
    flush()
    return bodies, count


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", help="Upkeep's store (default: SQLite in a temp dir)")
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--series", type=int, default=50, help="series per host batch")
    ap.add_argument("--batches", type=int, default=100, help="timed batches per agent")
    ap.add_argument("--per-request", type=int, default=2000, help="samples per WriteRequest")
    ap.add_argument("--export", action="store_true", help="also run Upkeep with remote write on")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="upkeep-rw-bench-"))
    t0 = time.time() - 1800  # within Prometheus' head window
    per_agent = [
        build_bodies(str(uuid.uuid4()), f"host{i:03d}", 1, args.series, args.batches + 1, t0)
        for i in range(args.agents)
    ]
    bodies, samples = write_requests(per_agent, args.batches, args.per_request)
    print(
        f"load: {os.getloadavg()[0]:.2f}; {samples:,} samples: {args.agents} agents × {args.batches} "
        f"batches × {args.series} series; Upkeep store {args.database_url or 'SQLite'}"
    )
    with PrometheusServer(work / "prom", [], remote_write_receiver=True) as prom:
        results = {}
        cpu, db, stored = run_upkeep(args, work, per_agent, None)
        assert stored == samples, (stored, samples)
        results["upkeep"] = (cpu + db) / samples * 1e6
        print(f"    collector {cpu:.2f} s + database {db:.2f} s CPU")
        prom_cpu = run_prometheus(prom, bodies, samples)
        results["prometheus"] = prom_cpu / samples * 1e6
        print(f"    prometheus {prom_cpu:.2f} s CPU")
        stored_series = prom.api("series", **{"match[]": '{client="bench"}', "start": str(t0 - 60)})
        print(f"    series in prometheus: {len(stored_series)}")
        if args.export:
            with PrometheusServer(work / "prom-export", [], remote_write_receiver=True) as target:
                cpu_x, db_x, _ = run_upkeep(args, work, per_agent, target.write_url)
                results["upkeep + export"] = (cpu_x + db_x) / samples * 1e6
                print(f"    collector {cpu_x:.2f} s + database {db_x:.2f} s CPU (incl. sending)")
    print("\nCPU seconds per million samples stored:")
    for name, value in results.items():
        print(f"  {name:16} {value:8.1f}")
    print(f"  ratio Upkeep / Prometheus: {results['upkeep'] / results['prometheus']:.1f}")
    if "upkeep + export" in results:
        print(f"  exporter overhead: {results['upkeep + export'] / results['upkeep'] - 1:+.0%}")
    print(f"load at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
