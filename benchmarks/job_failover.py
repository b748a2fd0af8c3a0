"""Singleton job failover: how long after ``kill -9`` of the replica holding a singleton job's
lease another replica runs the job (collector.jobs, PostgreSQL advisory-lock leases).

Starts N replica processes, each a JobRunner with one singleton job (interval 1 s) that
records its runs in a table of a fresh schema; finds the holder, kills it with SIGKILL and
reports the time from the kill to the first run elsewhere. Repeats ``--rounds`` times.

    .venv/bin/python benchmarks/job_failover.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
REPLICA = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    from collector.jobs import JobRunner, PeriodicJob
    from collector.store import Store

    url, name, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = Store.from_url(url)

    def record():
        with store.write() as conn:
            conn.execute(
                sa.text("INSERT INTO job_log (replica, ts) VALUES (:r, :t)"),
                {"r": name, "t": time.time()},
            )

    JobRunner(
        [PeriodicJob("record", interval, record, singleton=True, run_at_start=True)],
        engine=store.engine, replica=name,
    ).start()
    time.sleep(3600)
    """
)


def one_round(url: str, replicas: int, interval: float) -> float:
    schema = f"t_fo_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        conn.exec_driver_sql(f'CREATE TABLE "{schema}".job_log (replica text, ts float)')
    scoped = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    script = Path(tempfile.mkdtemp()) / "replica.py"
    script.write_text(REPLICA)
    procs = {
        f"r{i}": subprocess.Popen(
            [sys.executable, str(script), scoped_url, f"r{i}", str(interval)], cwd=ROOT
        )
        for i in range(replicas)
    }
    log = f'"{schema}".job_log'
    try:
        deadline = time.time() + 120
        while True:  # every replica started and the job ran a few times
            with admin.connect() as conn:
                runs = conn.exec_driver_sql(f"SELECT count(*) FROM {log}").scalar_one()
            if runs >= 3:
                break
            if time.time() > deadline:
                raise SystemExit("the job never ran")
            time.sleep(0.2)
        time.sleep(2 * interval)
        with admin.connect() as conn:
            leader = conn.exec_driver_sql(
                f"SELECT replica FROM {log} ORDER BY ts DESC LIMIT 1"
            ).scalar_one()
        killed = time.time()
        os.kill(procs[leader].pid, signal.SIGKILL)
        while True:
            with admin.connect() as conn:
                row = conn.execute(
                    sa.text(f"SELECT replica, ts FROM {log} WHERE ts > :k ORDER BY ts LIMIT 1"),
                    {"k": killed},
                ).first()
            if row is not None:
                assert row.replica != leader
                return row.ts - killed
            if time.time() > killed + 60:
                raise SystemExit("no replica took over within 60 s")
            time.sleep(0.05)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "UPKEEP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times = [one_round(args.url, args.replicas, args.interval) for _ in range(args.rounds)]
    print(
        f"{args.replicas} replicas, interval {args.interval:.1f} s: first run elsewhere after "
        + ", ".join(f"{t:.2f}" for t in times)
        + " s"
    )


if __name__ == "__main__":
    main()
