"""CPU of the ``rollups`` job (collector/rollups.py): one closed hour built from raw samples.

Generates ``--series`` series with one sample every ``--step`` seconds for one hour, then
runs one turn of the job and reports the CPU seconds (process user + system time, not wall
time) of this process and, on PostgreSQL, of the database backend serving it, per million
samples aggregated. The machine is shared: compare CPU, not wall time::

    .venv/bin/python benchmarks/rollups.py --store sqlite --series 20000
    .venv/bin/python benchmarks/rollups.py --store postgresql --series 20000
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

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector import rollups  # noqa: E402
from collector.store import Store  # noqa: E402

HOUR = 3600
CLK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


@contextlib.contextmanager
def _store(kind: str, postgres_url: str) -> Iterator[Store]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="upkeep-rollups-") as tmp:
            store = Store.from_url(f"sqlite:///{tmp}/upkeep.db")
            store.upgrade()
            yield store
            store.dispose()
        return
    schema = f"bench_rollups_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    # One connection: its backend is the one metered.
    store = Store.from_url(url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        store.upgrade()
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--step", type=float, default=30.0)
    args = parser.parse_args(argv)
    now = time.time()
    hour = int(now // HOUR) * HOUR - 2 * HOUR
    with _store(args.store, args.postgres_url) as store:
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO clients (name, enabled, created_at) VALUES ('bench', true, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO sites (client_id, name, created_at) VALUES (1, 'default', 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO assets (client_id, site_id, name, kind, tags, attributes, "
                "first_seen, last_seen) VALUES (1, 1, 'a', 'host', '[]', '{}', 0, 0)"
            )
            conn.execute(
                sa.text(
                    "INSERT INTO series (asset_id, metric, labels, labels_hash) "
                    "VALUES (1, :m, '{}', :m)"
                ),
                [{"m": f"m{i}"} for i in range(args.series)],
            )
            per = int(HOUR // args.step)
            rows = [
                (sid, hour + k * args.step + 0.5, float(k))
                for sid in range(1, args.series + 1)
                for k in range(per)
            ]
            mark = "?" if store.is_sqlite else "%s"
            conn.exec_driver_sql(
                f"INSERT INTO samples (series_id, ts, value) VALUES ({mark}, {mark}, {mark})", rows
            )
            rollups.mark_built(conn, hour)
        pid = None
        if not store.is_sqlite:
            with store.read() as conn:
                conn.exec_driver_sql("ANALYZE samples")
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        n = len(rows)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        db0 = _proc_cpu(pid) if pid else 0.0
        report = rollups.build(store, now=hour + HOUR + rollups.CLOSE_AFTER + 1)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        db = (_proc_cpu(pid) - db0) if pid else 0.0
        load = os.getloadavg()[0]
        print(
            f"{args.store}: {n:,} samples of {args.series:,} series, one hour: "
            f"{report.rows:,} rollup rows in {report.chunks} chunks; collector CPU {cpu:.2f} s "
            f"({cpu / n * 1e6:.2f} s per 10^6 samples)"
            + (
                f", PostgreSQL backend CPU {db:.2f} s ({db / n * 1e6:.2f} s per 10^6)"
                if pid
                else ""
            )
            + f"; wall {wall:.2f} s; load average {load:.1f}"
        )
        assert report.rows == args.series and report.hours == 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
