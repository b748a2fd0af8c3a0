"""PostgreSQL storage at scale: ≥ 10 M raw samples in day partitions, and the plans and
timings of the real queries over them (issue 15).

Creates a private schema, migrates it, registers ``--series`` series of one client (one asset
per 50 series), fills ``samples`` with one sample per series every ``--step`` seconds over
the raw retention (48 h) and ``rollups_hourly`` with one row per series and hour over
``--rollup-days`` days, all with ``generate_series`` in SQL, ANALYZEs, then captures the
statements the rule engine, web UI, reports and ingest really send
(tests/collector/storage_plans.py), asserts their plans (only the partitions of the time range
plus the default, no sequential scan of a partition) with the planner's normal settings, and
times each (median of 5 runs, warm cache). Sizes: table + indexes per table. Then times
retention (drop of a day partition) and the partitions job.

    .venv/bin/python benchmarks/partitions.py                  # 10.1 M samples, 10 M rollups
    .venv/bin/python benchmarks/partitions.py --series 2000    # quicker

Numbers: benchmarks/README.md, "PostgreSQL storage at scale".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector import partitions, retention  # noqa: E402
from collector.settings import Settings  # noqa: E402
from collector.store import Store  # noqa: E402
from tests.collector import storage_plans  # noqa: E402

DAY = 86400


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--series", type=int, default=7000)
    ap.add_argument("--step", type=float, default=120.0, help="seconds between samples of a series")
    ap.add_argument("--rollup-days", type=int, default=60)
    ap.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = ap.parse_args()

    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = args.url + ("&" if "?" in args.url else "?") + f"options=-csearch_path%3D{schema}"
    store = Store.from_url(url)
    settings = Settings.for_data_dir("/nonexistent")
    try:
        store.upgrade()
        now = time.time()
        partitions.ensure(store, settings, now)
        t0 = time.perf_counter()
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO clients (id, name, enabled, created_at) VALUES (1, 'bench', true, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO assets (id, client_id, name, kind, tags, attributes, first_seen, last_seen) "
                "SELECT a, 1, 'host' || a, 'host', '[]', '{}', 0, 0 FROM generate_series(1, %(n)s) a",
                {"n": (args.series + 49) // 50},
            )
            conn.exec_driver_sql(
                "INSERT INTO series (id, asset_id, metric, labels, labels_hash) "
                "SELECT s, (s - 1) / 50 + 1, CASE WHEN s %% 50 = 0 THEN 'upkeep_check_up' "
                "ELSE 'metric_' || (s %% 50) END, '{}', md5(s::text) FROM generate_series(1, %(n)s) s",
                {"n": args.series},
            )
            conn.exec_driver_sql(
                "INSERT INTO latest SELECT s, %(now)s, 1 FROM generate_series(1, %(n)s) s",
                {"n": args.series, "now": now},
            )
        lo = now - settings.raw_retention
        steps = int(settings.raw_retention // args.step)
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO samples SELECT s, %(lo)s + g * %(step)s, random() * 100 "
                "FROM generate_series(0, %(steps)s) g, generate_series(1, %(n)s) s",
                {"lo": lo, "step": args.step, "steps": steps, "n": args.series},
            )
        fill_raw = time.perf_counter() - t0
        h1 = int(now // 3600) * 3600
        h0 = h1 - args.rollup_days * DAY
        t1 = time.perf_counter()
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO rollups_hourly SELECT s, h, 0, 100, 50 * 120, 120, 1, h + 3599 "
                "FROM generate_series(%(h0)s::bigint, %(h1)s::bigint, 3600) h, generate_series(1, %(n)s) s",
                {"h0": h0, "h1": h1, "n": args.series},
            )
        fill_rollups = time.perf_counter() - t1
        with admin.connect() as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {schema}.samples")
            conn.exec_driver_sql(f"VACUUM ANALYZE {schema}.rollups_hourly")
        with store.read() as conn:
            counts = {
                t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                for t in ("samples", "rollups_hourly")
            }
            sizes = {}
            for t in ("samples", "rollups_hourly"):
                table, index = conn.exec_driver_sql(
                    "SELECT sum(pg_table_size(inhrelid)), sum(pg_indexes_size(inhrelid)) "
                    "FROM pg_inherits WHERE inhparent = to_regclass(%(t)s)",
                    {"t": t},
                ).one()
                sizes[t] = (int(table), int(index))
            nparts = {s.table: len(partitions.partitions(conn, s)) for s in partitions.SCHEMES}
        print(f"filled in {fill_raw:.0f} s (samples) + {fill_rollups:.0f} s (rollups)")
        for t in counts:
            table, index = sizes[t]
            print(
                f"{t}: {counts[t]:,} rows in {nparts[t]} partitions; table {_mib(table)}, "
                f"indexes {_mib(index)}; {(table + index) / counts[t]:.0f} bytes/row"
            )

        sid = args.series // 2 * 1 or 1
        asset_id = (sid - 1) // 50 + 1
        with store.read() as conn:
            queries = storage_plans.real_queries(
                conn,
                client_id=1,
                asset_id=asset_id,
                series_id=sid,
                metric="upkeep_check_up",
                now=now,
            )
            print(f"\n{'query':48} {'median':>10}  plan")
            for q in queries:
                if q.name.startswith("rule window"):
                    lo_q, hi_q = now - 3600 - 60, now + 62 * DAY
                elif q.name.startswith("ingest retry"):
                    lo_q, hi_q = now - 30, now
                elif q.name.startswith("asset page"):
                    lo_q, hi_q = now - 7 * DAY - 3600, now + 62 * DAY
                else:
                    lo_q, hi_q = now - 30 * DAY - 3600, now
                scans = storage_plans.check_plan(conn, q, lo_q, hi_q)
                times = []
                for _ in range(5):
                    t = time.perf_counter()
                    conn.exec_driver_sql(q.sql, q.params).all()
                    times.append(time.perf_counter() - t)
                kinds = sorted({f"{n}" for _, n in scans})
                parts = sorted({r for r, _ in scans if not r.endswith("_default")})
                print(
                    f"{q.name:48} {statistics.median(times) * 1000:8.2f} ms  "
                    f"{', '.join(kinds)} on {len(parts)} partition(s) + default"
                )
        print("\nall plans: pruned to their time range, no sequential scan of a partition")

        t = time.perf_counter()
        purged = retention.purge(store, settings, now=now + DAY)
        print(
            f"\nretention one day later: dropped {purged.partitions} in {time.perf_counter() - t:.2f} s"
        )
        t = time.perf_counter()
        created = partitions.ensure(store, settings, now + DAY)
        print(f"partitions job one day later: created {created} in {time.perf_counter() - t:.2f} s")
    finally:
        store.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
