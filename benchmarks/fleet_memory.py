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
    .venv/bin/python benchmarks/fleet_memory.py --hosts 10000,20000,30000 --steady   # after hours

``--steady``: the rule engine's state as after hours of ingest, without hours of ingest.
Each host's first batch is stored ``--history`` hours ago; the rule engine is then fed (by
the rule service's own ingest listener, ``RuleService.on_ingest``) the samples of that
host's rule-matched series an agent would have sent since — one per hour until the last
``rules_reorder_window`` + 2 minutes, then one every 30 s — so forecasts hold their fit's
buckets (48 for ``disk-full-soon``) and windowed rules their window and reorder history;
the host's remaining ``--batches`` are stored at the end, 30 s apart. The history is not
written to the store (the series cache and the store's page cache do not grow with it).
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, FleetAgent, load  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process_runtime(prefix: str, database_url: str | None) -> tuple[Path, Any, Any, Any]:
    """The runtime ``upkeep serve`` builds (no retention, no reports), migrated, its rule
    service started, on ``database_url`` or SQLite in a new temp dir: (dir, settings, store,
    runtime)."""
    from collector.api import build_runtime
    from collector.settings import Settings
    from collector.store import Store

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    url = database_url or f"sqlite:///{tmp / 'upkeep.db'}"
    settings = Settings.for_data_dir(tmp / "data", database_url=url)
    store = Store.from_settings(settings)
    store.upgrade()
    runtime = build_runtime(settings, store, run_retention=False, run_reports=False)
    runtime.rules.start()
    return tmp, settings, store, runtime


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
    parser.add_argument(
        "--steady",
        action="store_true",
        help="fill the rule engine's windows and forecasts as after --history hours",
    )
    parser.add_argument("--history", type=float, default=49.0, help="hours (with --steady)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N", help="top N sites")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    steps = [int(x) for x in args.hosts.split(",")]
    if args.clients <= 0:  # 78 series a host; 40,000 series a client leaves headroom
        args.clients = max(20, -(-max(steps) * 78 // 40_000))

    from collector import admin, wirecodec
    from collector.ingest import IngestResult
    from collector.server import tune_gc

    tmp, settings, store, runtime = in_process_runtime("upkeep-mem-", args.database_url)
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
    engine = runtime.rules.engine
    if args.steady:  # first batch --history hours ago, the last ones just before now
        t_end = time.time() - 60 - 30 * args.batches
        t_first = t_end - args.history * 3600
        recent = settings.rules_reorder_window + 120
        steps_ts = [t_first + 3600 * k for k in range(1, int((t_end - recent - t_first) // 3600))]
        steps_ts += [t_end - recent + 30 * k for k in range(int(recent // 30))]
    for target in steps:
        while hosts < target:
            c = hosts % args.clients
            agent = FleetAgent(f"mem-c{c:03d}", "", f"mem-c{c:03d}-h{hosts:05d}", "default")
            jitter = hosts * 0.001
            for b in range(args.batches):
                ts = (t0 + 30 * b if not args.steady else t_end + 30 * b) + jitter
                if args.steady and b == 0:
                    ts = t_first + jitter
                body = json.dumps(fleet.batch(agent, ts)).encode()
                result = runtime.ingestor.ingest(principals[c], wirecodec.decode_batch(body))
                if args.steady and b == 0:
                    matched = engine.ruleset.by_metric.keys() | engine.ruleset.sibling_metrics
                    rows = [r for r in result.rows if result.series[r[0]].metric in matched]
                    series = {r[0]: result.series[r[0]] for r in rows}
                    for k, step in enumerate(steps_ts, 1):  # new floats, as decoded samples
                        history = [(sid, step + jitter, v * (1 + 1e-6 * k)) for sid, _, v in rows]
                        runtime.rules.on_ingest(IngestResult(result.accepted, history, series))
            hosts += 1
        gc.collect()
        rss = rss_mib()
        series = sum(len(cache) for cache in runtime.ingestor._series.values())
        print(
            f"{hosts:>6} hosts, {series:>8} series: RSS {rss:7.0f} MiB "
            f"(+{rss - base:.0f} MiB over baseline, {1024 * (rss - base) / max(1, hosts):.1f} KiB "
            f"per host, {1024 * 1024 * (rss - base) / max(1, series):.0f} B per series); "
            f"rule engine: {len(engine.alerts)} alerts, {len(engine._series)} tracked series; "
            f"{'steady state; ' if args.steady else ''}"
            f"CPU {time.process_time() - started:.0f} s; store pool: {store.engine.pool.status()}; "
            f"{load()}",
            flush=True,
        )
    if args.tracemalloc:
        snapshot = tracemalloc.take_snapshot()
        traced = sum(stat.size for stat in snapshot.statistics("filename"))
        print(f"traced: {traced / 2**20:.1f} MiB; top {args.tracemalloc} sites (by line):")
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
