"""Disk per sample row, rollup row, latest row and batch record, measured on real tables filled
through the real ingest path with realistic host batches (docs/sizing.md).

``--hosts`` simulated Linux host agents (the label sets of the agent's default checks,
benchmarks/fleet.py ``host_series``, about 80 series each) send one batch every 30 s for
``--minutes`` minutes of agent time; each batch is stored with :class:`collector.ingest.Ingestor`
(in process: this measures bytes, not CPU). Then, per table, the bytes on disk (SQLite:
``dbstat``, pages of the table's B-tree and its indexes; PostgreSQL: table + indexes + TOAST,
summed over the partitions, after VACUUM) divided by its rows, and the extrapolation to 1,000
hosts at the default retention.

    .venv/bin/python benchmarks/sizing.py                       # SQLite and PostgreSQL
    .venv/bin/python benchmarks/sizing.py --only sqlite --hosts 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.wire import Batch  # noqa: E402
from benchmarks.fleet import _healthy, host_series  # noqa: E402
from collector import admin  # noqa: E402
from collector.ingest import IngestLimits, Ingestor  # noqa: E402
from collector.remote_write.exporter import RemoteWriteExporter  # noqa: E402
from collector.settings import RemoteWrite, Settings  # noqa: E402
from collector.store import Store  # noqa: E402

TABLES = ("samples", "rollups_hourly", "latest", "series", "batches", "remote_write_queue")
HOSTS = 1000
INTERVAL = 30.0


def fill(store: Store, hosts: int, minutes: int) -> int:
    admin.create_client(store, "sizing")
    _, token = admin.create_token(store, client="sizing")
    with store.read() as conn:
        principal = admin.authenticate(conn, token, need="agent")
    shape = host_series()
    # The remote-write queue filled as with a receiver that is down (its bytes per row).
    exporter = RemoteWriteExporter(store, RemoteWrite(url="http://127.0.0.1:9/api/v1/write"))
    ing = Ingestor(
        store, limits=IngestLimits(max_clock_skew=86400), in_transaction=[exporter.enqueue]
    )
    t0 = time.time() - minutes * 60
    agents = [str(uuid.uuid4()) for _ in range(hosts)]
    for b in range(int(minutes * 60 / INTERVAL)):
        ts = t0 + b * INTERVAL
        for h, agent in enumerate(agents):
            name = f"host{h:04d}.example.net"
            batch = {
                "batch_id": str(uuid.uuid4()),
                "seq": b + 1,
                "sent_at": ts,
                "agent": {"id": agent, "version": "0.9.0", "hostname": name, "site": "hq"},
                "assets": [{"name": name, "kind": "host"}],
                "samples": [
                    {
                        "asset": name,
                        "metric": m,
                        "labels": labels,
                        "value": _healthy(m, labels) + (b % 7) * 0.37,
                        "ts": ts + (i % 10) * 0.001,
                    }
                    for i, (m, labels) in enumerate(shape)
                ],
                "events": [],
            }
            ing.ingest(principal, Batch.model_validate(batch), received_at=ts)
    return len(shape)


def sizes(store: Store) -> dict[str, tuple[int, int]]:
    """table → (rows, bytes on disk incl. indexes)."""
    out = {}
    with store.read() as conn:
        for t in TABLES:
            rows = conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
            if store.is_sqlite:
                size = conn.exec_driver_sql(
                    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :t "
                    "OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t)",
                    {"t": t},
                ).scalar()
            else:
                size = conn.exec_driver_sql(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.oid = to_regclass(%(t)s) OR c.oid IN "
                    "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%(t)s))",
                    {"t": t},
                ).scalar()
            out[t] = (int(rows), int(size))
    return out


def report(name: str, measured: dict[str, tuple[int, int]], series_per_host: int) -> None:
    settings = Settings.for_data_dir("/nonexistent")
    per = {t: (size / rows if rows else 0.0) for t, (rows, size) in measured.items()}
    series_n = HOSTS * series_per_host
    per_second = series_n / INTERVAL
    raw_rows = per_second * settings.raw_retention
    month_h = 730.0
    rollup_month = series_n * month_h * per["rollups_hourly"]
    batches_rows = HOSTS * 86400 / INTERVAL * settings.batch_retention / 86400
    print(f"\n{name}: measured bytes per row (table + indexes)")
    for t, (rows, size) in measured.items():
        print(f"  {t:15} {rows:>10,} rows {size / 2**20:8.1f} MiB  {per[t]:6.1f} B/row")
    gib = 2**30
    print(
        f"  1,000 hosts × {series_per_host} series every {INTERVAL:.0f} s = {per_second:,.0f} samples/s"
    )
    print(
        f"    raw samples, {settings.raw_retention / 3600:.0f} h kept: {raw_rows * per['samples'] / gib:.1f} GiB (steady)"
    )
    print(
        f"    hourly rollups: {rollup_month / gib:.2f} GiB per month of history "
        f"({rollup_month * settings.rollup_retention / 86400 / 30.4 / gib:.1f} GiB at {settings.rollup_retention / 86400:.0f} d)"
    )
    print(
        f"    latest: {series_n * per['latest'] / 2**20:.0f} MiB; series: {series_n * per['series'] / 2**20:.0f} MiB"
    )
    print(
        f"    batch records, {settings.batch_retention / 86400:.0f} d kept: {batches_rows * per['batches'] / gib:.2f} GiB"
    )
    print(f"    remote-write queue: {per['remote_write_queue']:.0f} B a queued sample")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    ap.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}; {args.hosts} hosts × {args.minutes} min of 30-s batches")
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.from_url(f"sqlite:///{tmp}/sizing.db")
            store.upgrade()
            n = fill(store, args.hosts, args.minutes)
            with store.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            report("SQLite", sizes(store), n)
            store.dispose()
    if args.only != "sqlite":
        schema = "sizing_" + uuid.uuid4().hex[:8]
        admin_engine = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        store = Store.from_url(args.postgres_url + f"?options=-csearch_path%3D{schema}")
        try:
            store.upgrade()
            n = fill(store, args.hosts, args.minutes)
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f"SET search_path = {schema}")
                for t in TABLES:
                    conn.exec_driver_sql(f"VACUUM ANALYZE {t}")
            report("PostgreSQL", sizes(store), n)
        finally:
            store.dispose()
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin_engine.dispose()


if __name__ == "__main__":
    main()
