"""Collector memory as a fleet grows: RSS after N simulated hosts (issue 15: < 1 GiB at 30,000).

The collector's own ingest path in one process, without HTTP: a real SQLite store, the
runtime ``upkeep serve`` builds (:func:`collector.api.build_runtime`: ingest caches, the rule
service with the default packs, remote write off), and each host's batches as the fleet
simulator makes them (:class:`benchmarks.fleet.Fleet`, the agent's real host shape), decoded
by the collector's decoder and stored by ``Ingestor.ingest`` with the rules evaluated after
each commit, as in the ingest request. Hosts are added in steps; after each step the
process RSS (``/proc/self/status`` VmRSS) is printed. What grows per series is what the
collector keeps in memory per series: the series cache and the rule engine's state.

    .venv/bin/python benchmarks/fleet_memory.py --hosts 2000,5000,10000,30000
    .venv/bin/python benchmarks/fleet_memory.py --hosts 2000 --tracemalloc 15   # top allocations
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, FleetAgent, load  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="2000,5000,10000,30000", help="steps, comma-separated")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="default: enough that no client reaches max_series_per_client (50,000 series)",
    )
    parser.add_argument("--batches", type=int, default=2, help="batches per host (30 s apart)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N", help="top N sites")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    steps = [int(x) for x in args.hosts.split(",")]
    if args.clients <= 0:  # 78 series a host; 40,000 series a client leaves headroom
        args.clients = max(20, -(-max(steps) * 78 // 40_000))

    from collector import admin, wirecodec
    from collector.api import build_runtime
    from collector.server import tune_gc
    from collector.settings import Settings
    from collector.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="upkeep-mem-"))
    url = args.database_url or f"sqlite:///{tmp / 'upkeep.db'}"
    settings = Settings.for_data_dir(tmp / "data", database_url=url)
    store = Store.from_settings(settings)
    store.upgrade()
    runtime = build_runtime(settings, store, run_retention=False, run_reports=False)
    runtime.rules.start()
    principals = []
    for c in range(args.clients):
        admin.create_client(store, f"mem-c{c:03d}")
        _, token = admin.create_token(store, client=f"mem-c{c:03d}", name="agents")
        with store.read() as conn:
            principals.append(admin.authenticate(conn, token, need="agent"))
    fleet = Fleet(["http://unused"], [], host_source="catalog")
    tune_gc()
    if args.tracemalloc:
        tracemalloc.start(3)
    base = rss_mib()
    print(f"baseline RSS {base:.0f} MiB (runtime built, rules loaded); {load()}", flush=True)
    hosts = 0
    started = time.process_time()
    t0 = time.time() - 3600
    for target in steps:
        while hosts < target:
            c = hosts % args.clients
            agent = FleetAgent(f"mem-c{c:03d}", "", f"mem-c{c:03d}-h{hosts:05d}", "default")
            for b in range(args.batches):
                body = json.dumps(fleet.batch(agent, t0 + 30 * b + hosts * 0.001)).encode()
                runtime.ingestor.ingest(principals[c], wirecodec.decode_batch(body))
            hosts += 1
        gc.collect()
        rss = rss_mib()
        series = sum(len(v) for v in runtime.ingestor._series.values())
        engine = runtime.rules.engine
        print(
            f"{hosts:>6} hosts, {series:>8} series: RSS {rss:7.0f} MiB "
            f"(+{rss - base:.0f} MiB over baseline, {1024 * (rss - base) / max(1, hosts):.1f} KiB "
            f"per host, {1024 * 1024 * (rss - base) / max(1, series):.0f} B per series); "
            f"rule engine: {len(engine.alerts)} alerts, {len(engine._series)} tracked series; "
            f"CPU {time.process_time() - started:.0f} s; {load()}",
            flush=True,
        )
    if args.tracemalloc:
        snapshot = tracemalloc.take_snapshot()
        print(f"top {args.tracemalloc} allocation sites (tracemalloc, by line):")
        for stat in snapshot.statistics("lineno")[: args.tracemalloc]:
            print(f"  {stat.size / 2**20:8.1f} MiB {stat.count:>9} blocks  {stat.traceback[0]}")
    runtime.rules.stop() if hasattr(runtime.rules, "stop") else None
    store.dispose()
    if args.database_url is None:
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()
    os._exit(0)  # the rule service's threads need no orderly goodbye


if __name__ == "__main__":
    raise SystemExit(main())
