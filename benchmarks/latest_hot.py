"""In-page (HOT) updates of ``latest`` on PostgreSQL, fill factor 70 (migration 0024) vs 100.

Each batch updates one ``latest`` row per series. An update that finds room in the row's own
page is HOT: no new index entry, no second page dirtied. The script ingests the fleet
simulator's host batches (:class:`benchmarks.fleet.Fleet`, the agent's real host shape)
through the collector's own ``Ingestor`` into a fresh PostgreSQL database, once per fill
factor, and prints PostgreSQL's own counters for the table (``n_tup_upd``,
``n_tup_hot_upd``), the table's size and the ingest CPU per batch.

    .venv/bin/python benchmarks/latest_hot.py --hosts 1000 --batches 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, FleetAgent, load  # noqa: E402


def run(server: str, fillfactor: int, hosts: int, batches: int) -> dict[str, float]:
    import psycopg

    from collector import admin, wirecodec
    from collector.ingest import Ingestor
    from collector.settings import Settings
    from collector.store import Store

    name = f"upkeep_hot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    try:
        settings = Settings.for_data_dir(Path(tempfile.mkdtemp()), database_url=url)
        store = Store.from_settings(settings)
        store.upgrade()
        if fillfactor != 70:
            with store.write() as conn:
                conn.exec_driver_sql(f"ALTER TABLE latest SET (fillfactor = {fillfactor})")
        ingestor = Ingestor(store)
        admin.create_client(store, "hot")
        _, token = admin.create_token(store, client="hot", name="agents")
        with store.read() as conn:
            principal = admin.authenticate(conn, token, need="agent")
        fleet = Fleet(["http://unused"], [], host_source="catalog")
        agents = [FleetAgent("hot", "", f"hot-h{h:05d}", "default") for h in range(hosts)]
        t0 = time.time() - 3600
        cpu = time.process_time()
        for b in range(batches):
            for h, agent in enumerate(agents):
                body = json.dumps(fleet.batch(agent, t0 + 30 * b + h * 0.001)).encode()
                ingestor.ingest(principal, wirecodec.decode_batch(body))
        cpu = time.process_time() - cpu
        with psycopg.connect(f"{server}/{name}", autocommit=True) as conn:
            time.sleep(1.5)  # the backends flush their table counters at most once a second
            upd, hot, pages = conn.execute(
                "SELECT n_tup_upd, n_tup_hot_upd, pg_relation_size('latest') / 8192"
                " FROM pg_stat_user_tables WHERE relname = 'latest'"
            ).fetchone()
        store.dispose()
        return {"upd": upd, "hot": hot, "pages": pages, "cpu_ms": 1000 * cpu / (hosts * batches)}
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20, help="batches per host, 30 s apart")
    parser.add_argument("--fillfactor", default="100,70", help="comma-separated")
    args = parser.parse_args(argv)
    for fillfactor in (int(x) for x in args.fillfactor.split(",")):
        r = run(args.server, fillfactor, args.hosts, args.batches)
        print(
            f"fillfactor {fillfactor:>3}: {r['upd']:>9,} updates of latest, "
            f"{r['hot']:>9,} HOT ({100 * r['hot'] / max(1, r['upd']):.0f} %), "
            f"{r['pages']:,} pages; ingest CPU {r['cpu_ms']:.2f} ms per batch; {load()}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
