"""Collector ingest benchmark: samples/s stored end to end over HTTP.

Starts a real collector (``upkeep serve`` under uvicorn, SQLite in a temp dir by default,
``--database-url`` for PostgreSQL), creates a client and agent tokens with the CLI, then
posts realistic gzip-compressed batches from this process: ``--agents`` agents, each with
``--assets`` assets × ``--series`` series (one sample per series per batch, 10 s apart),
``--concurrency`` requests in flight. Bodies are built and compressed before the clock
starts so the client does not compete with the server for the CPU more than an HTTP client
must. The first batch of each agent (series creation) is a warm-up and not timed.

    .venv/bin/python benchmarks/ingest.py                      # SQLite, 5,000-sample batches
    .venv/bin/python benchmarks/ingest.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/ingest.py --py-spy profile.svg # flame graph of the server

Numbers and what limits them: benchmarks/README.md, "Collector ingest".
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.collector import CollectorProcess, create_agent_token, create_client  # noqa: E402

#: With --rule-metrics, the first series of each asset carry the names the default rule packs
#: match (about a quarter of a 100-series asset), so rules evaluate a realistic share.
RULE_SHAPES = (
    [
        ("cpu_usage_percent", {}),
        ("memory_used_percent", {}),
        ("swap_used_percent", {}),
        ("uptime_seconds", {}),
    ]
    + [
        ("disk_used_percent", {"mountpoint": f"/m{i}", "device": f"sd{i}", "fstype": "ext4"})
        for i in range(3)
    ]
    + [("load_average_per_core", {"period": p}) for p in ("1m", "5m", "15m")]
    + [("temperature_celsius", {"chip": "coretemp", "sensor": f"core{i}"}) for i in range(2)]
    + [("service_up", {"service": f"svc{i}"}) for i in range(3)]
    + [("process_up", {"process": f"proc{i}"}) for i in range(2)]
    + [("file_age_seconds", {"path": "/srv/backup"})]
    + [
        ("upkeep_check_up", {"check": c})
        for c in ("cpu", "load", "memory", "disk", "diskio", "netio")
    ]
)


def value(metric: str, k: int) -> float:
    """A healthy value: services and checks up, up for days, load under 1, levels at 0..33."""
    if metric.endswith("_up"):
        return 1.0
    if metric == "uptime_seconds":
        return 864000.0 + k
    if metric == "load_average_per_core":
        return float(k % 100) / 100
    return float(k % 100) / 3


def build_bodies(
    agent_id: str,
    hostname: str,
    assets: int,
    series: int,
    batches: int,
    t0: float,
    rule_metrics: bool = False,
) -> list[bytes]:
    """gzip JSON batches of one agent: its host plus SNMP-like devices, ``series`` metrics each."""
    names = [hostname] + [f"{hostname}-dev{i:02d}" for i in range(assets - 1)]
    asset_list = [{"name": names[0], "kind": "host", "description": "benchmark host"}] + [
        {
            "name": n,
            "kind": "printer",
            "vendor": "ACME",
            "model": "P-100",
            "serial": f"SN{i:06d}",
            "address": f"10.0.0.{i + 2}",
        }
        for i, n in enumerate(names[1:])
    ]
    # A realistic mix: plain series, one-label and two-label series.
    shapes = []
    for m in range(series):
        if m % 3 == 0:
            shapes.append((f"metric_{m}_total", {}))
        elif m % 3 == 1:
            shapes.append((f"metric_{m}_percent", {"device": f"d{m % 7}"}))
        else:
            shapes.append((f"metric_{m}_bytes", {"mount": f"/m{m % 5}", "fstype": "ext4"}))
    if rule_metrics:
        shapes[: len(RULE_SHAPES)] = RULE_SHAPES
    bodies = []
    for b in range(batches):
        ts = t0 + b * 10.0
        # Values stay in 0..33: below every default threshold (rules evaluate, nothing fires).
        samples = [
            {
                "asset": n,
                "metric": metric,
                "labels": labels,
                "value": value(metric, b * 7 + m),
                "ts": ts,
            }
            for n in names
            for m, (metric, labels) in enumerate(shapes)
        ]
        batch = {
            "batch_id": str(uuid.uuid4()),
            "seq": b,
            "sent_at": ts + 1,
            "agent": {"id": agent_id, "version": "bench", "hostname": hostname, "site": "hq"},
            "assets": asset_list,
            "samples": samples,
            "events": [],
        }
        bodies.append(gzip.compress(json.dumps(batch).encode(), compresslevel=6))
    return bodies


def fresh_schema(url: str):
    """A URL whose search_path is a new, empty schema; and a function that drops it."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    params = {
        "host": parsed.host,
        "port": parsed.port or 5432,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        "autocommit": True,
    }
    with psycopg.connect(**params) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(**params) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        False
    ), drop


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="store (default: SQLite in a temp dir)")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--assets", type=int, default=50, help="assets per agent (default 50)")
    parser.add_argument("--series", type=int, default=100, help="series per asset (default 100)")
    parser.add_argument(
        "--batches", type=int, default=40, help="timed batches per agent (default 40)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--py-spy", metavar="FILE", help="record a py-spy profile of the server")
    parser.add_argument(
        "--py-spy-format",
        default="flamegraph",
        choices=["flamegraph", "raw", "speedscope"],
        help="raw = collapsed stacks, for summarize_profile()",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument(
        "--rules",
        default="default",
        help="rule paths for the collector: 'default' (the shipped packs), 'none', or a path",
    )
    parser.add_argument(
        "--rule-metrics",
        action="store_true",
        help="name ~25 series per asset like the default packs' metrics",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="upkeep-bench-"))
    database_url, drop_schema = args.database_url, None
    if database_url and database_url.startswith("postgresql"):
        database_url, drop_schema = fresh_schema(database_url)
    env = {}
    if args.rules != "default":
        rules_dir = work / "no-rules" if args.rules == "none" else Path(args.rules)
        rules_dir.mkdir(parents=True, exist_ok=True)
        env["UPKEEP_RULES_PATHS"] = str(rules_dir)
    collector = CollectorProcess(
        work / "collector", database_url=database_url, log_level="warning", env=env
    )
    try:
        collector.start()
        create_client(collector, "bench")
        tokens = [create_agent_token(collector, "bench", f"agent{i}") for i in range(args.agents)]
        t0 = time.time() - 3600
        per_agent = [
            build_bodies(
                str(uuid.uuid4()),
                f"host{i:03d}",
                args.assets,
                args.series,
                args.batches + 1,
                t0,
                args.rule_metrics,
            )
            for i in range(args.agents)
        ]
        samples_per_batch = args.assets * args.series
        raw = len(gzip.decompress(per_agent[0][1]))
        print(
            f"store: {args.database_url or 'sqlite (default)'}; rules: {args.rules}"
            f"{', rule metrics' if args.rule_metrics else ''}"
        )
        print(
            f"batch: {samples_per_batch} samples, {len(per_agent[0][1]) / 1024:.0f} KiB gzip "
            f"({raw / 1024:.0f} KiB JSON); agents {args.agents}, concurrency {args.concurrency}"
        )

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

        def post(agent: int, body: bytes) -> float:
            start = time.perf_counter()
            resp = clients[agent].post("/api/v1/batches", content=body)
            if resp.status_code != 200 or resp.json()["samples"] != samples_per_batch:
                raise SystemExit(f"unexpected answer {resp.status_code}: {resp.text[:500]}")
            return time.perf_counter() - start

        warm = time.perf_counter()
        for agent in range(args.agents):
            post(agent, per_agent[agent][0])
        print(
            f"warm-up (series creation): {args.agents * samples_per_batch / (time.perf_counter() - warm):,.0f} samples/s"
        )

        # Work queue: batches in agent round-robin, each agent's in seq order.
        queue = [
            (agent, per_agent[agent][b])
            for b in range(1, args.batches + 1)
            for agent in range(args.agents)
        ]
        latencies: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    agent, body = queue.pop(0)
                elapsed = post(agent, body)
                with lock:
                    latencies.append(elapsed)

        server = psutil.Process(collector.process.pid)
        me = psutil.Process()
        spy = None
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(server.pid),
                    "-o",
                    args.py_spy,
                    "-f",
                    args.py_spy_format,
                    "-r",
                    "100",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        cpu_server0, cpu_me0 = server.cpu_times(), me.cpu_times()
        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        cpu_server1, cpu_me1 = server.cpu_times(), me.cpu_times()
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)

        total = len(latencies) * samples_per_batch
        lat = sorted(latencies)
        print(f"timed: {len(latencies)} batches, {total:,} samples in {elapsed:.2f} s")
        print(
            f"  => {total / elapsed:,.0f} samples/s stored end to end ({len(latencies) / elapsed:.1f} batches/s)"
        )
        print(
            f"  latency p50 {statistics.median(lat) * 1000:.0f} ms, p95 {lat[int(len(lat) * 0.95) - 1] * 1000:.0f} ms"
        )
        server_cpu = (cpu_server1.user + cpu_server1.system) - (
            cpu_server0.user + cpu_server0.system
        )
        me_cpu = (cpu_me1.user + cpu_me1.system) - (cpu_me0.user + cpu_me0.system)
        print(
            f"  CPU: server {server_cpu / elapsed * 100:.0f}% of a core, client {me_cpu / elapsed * 100:.0f}%"
            f" ({os.cpu_count()} cores)"
        )
        for c in clients:
            c.close()
    finally:
        collector.stop()
        if drop_schema is not None:
            drop_schema()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
