"""Management views on a synthetic year: how long each view takes to compute.

Seeds a fresh store with ``--clients`` clients (each with a contract), ``--incidents``
incidents spread over a year (each with an SLA clock, three time entries, an acknowledge and
a resolve event, an outbox row; half with a ledger charge), then times every view of
``collector.management.views`` for the last 30 days and for the whole year (best of 3).
SQLite in a temp dir by default; ``--url`` for PostgreSQL (an empty schema, e.g.
``postgresql+psycopg://postgres@127.0.0.1/test?options=-csearch_path%3Dbench``).

    .venv/bin/python benchmarks/management.py --incidents 50000

The numbers are in docs/management.md, "Performance".
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.management import views  # noqa: E402
from collector.management.periods import TimeRange  # noqa: E402
from collector.schema import (  # noqa: E402
    clients,
    contracts,
    incident_events,
    incident_sla,
    incidents,
    ledger_entries,
    outbox,
    time_entries,
)
from collector.store import Store  # noqa: E402

START = 1759276800.0  # 2025-10-01 00:00 UTC
END = START + 365 * 86400
PRIORITIES = ("critical", "major", "minor", "technical")


def seed(store: Store, n_clients: int, n_incidents: int, rnd: random.Random) -> None:
    with store.write() as conn:
        conn.execute(
            clients.insert(),
            [
                {"name": f"client-{i}", "enabled": True, "created_at": START}
                for i in range(n_clients)
            ],
        )
        ids = [r[0] for r in conn.execute(sa.select(clients.c.id))]
        conn.execute(
            contracts.insert(),
            [
                {
                    "client_id": c,
                    "definition": {
                        "client": f"client-{c}",
                        "plan": {"name": "standard", "monthly_fee": "300"},
                    },
                    "source": "bench",
                    "version": 1,
                    "updated_by": "bench",
                    "updated_at": START,
                }
                for c in ids
            ],
        )
        rows = []
        for n in range(n_incidents):
            opened = START + rnd.random() * 365 * 86400
            resolved = opened + rnd.random() * 3 * 86400 if rnd.random() < 0.95 else None
            rows.append(
                dict(
                    key=f"UPK-{n}",
                    client_id=rnd.choice(ids),
                    number=n,
                    asset=f"asset-{rnd.randrange(50)}",
                    origin="proactive",
                    state="resolved" if resolved else "open",
                    priority=rnd.choice(PRIORITIES),
                    kind="threshold",
                    title="t",
                    description="",
                    labels={},
                    count=1,
                    flapping=False,
                    version=1,
                    reminders_sent=0,
                    opened_at=opened,
                    resolved_at=resolved,
                    updated_at=opened,
                )
            )
        for i in range(0, len(rows), 5000):
            conn.execute(incidents.insert(), rows[i : i + 5000])
        made = conn.execute(
            sa.select(
                incidents.c.id, incidents.c.client_id, incidents.c.opened_at, incidents.c.priority
            )
        ).all()
        conn.execute(
            incident_sla.insert(),
            [
                dict(
                    incident_id=i,
                    client_id=c,
                    priority=p,
                    state="stopped",
                    response_target=3600.0,
                    responded_at=o + 100,
                    response_elapsed=100.0,
                    response_breached=rnd.random() < 0.1,
                    resolution_target=86400.0,
                    resolved_at=o + 1000,
                    resolution_elapsed=1000.0,
                    resolution_breached=rnd.random() < 0.2,
                    paused_seconds=0.0,
                    notified=[],
                    updated_at=o,
                )
                for i, c, o, p in made
            ],
        )
        entries, events = [], []
        for i, _c, o, _p in made:
            entries += [
                dict(
                    incident_id=i,
                    actor=f"tech-{rnd.randrange(12)}",
                    minutes=rnd.randrange(5, 120),
                    note="",
                    spent_at=o + k * 3600,
                    created_at=o + k * 3600,
                )
                for k in range(3)
            ]
            events += [
                dict(
                    incident_id=i,
                    ts=o + 600,
                    actor=f"tech-{rnd.randrange(12)}",
                    type="acknowledged",
                    data={},
                ),
                dict(incident_id=i, ts=o + 7200, actor="upkeep", type="resolved", data={}),
            ]
        for table, batch in ((time_entries, entries), (incident_events, events)):
            for i in range(0, len(batch), 10000):
                conn.execute(table.insert(), batch[i : i + 10000])
        conn.execute(
            ledger_entries.insert(),
            [
                dict(
                    client_id=c,
                    period="2026-01",
                    kind="charge",
                    centipoints=-rnd.randrange(100, 1000),
                    ts=o,
                    actor="bench",
                    reason="",
                    data={},
                )
                for i, c, o, p in made[: len(made) // 2]
            ],
        )
        conn.execute(
            outbox.insert(),
            [
                dict(
                    incident_id=i,
                    connector=rnd.choice(("jira", "redmine", "glpi")),
                    action="open",
                    version=1,
                    payload={},
                    state="done" if rnd.random() < 0.99 else rnd.choice(("pending", "failed")),
                    attempts=1,
                    next_attempt_at=o,
                    created_at=o,
                    delivered_at=o + 5,
                )
                for i, c, o, p in made
            ],
        )
    if not store.is_sqlite:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=50000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="upkeep-mgmt-bench-"))
    store = Store.from_url(args.url or f"sqlite:///{tmp / 'bench.db'}")
    try:
        store.upgrade()
        started = time.perf_counter()
        seed(store, args.clients, args.incidents, random.Random(1))
        print(
            f"{store.dialect}: {args.incidents} incidents, {3 * args.incidents} time entries, "
            f"{2 * args.incidents} events, {args.clients} clients seeded in {time.perf_counter() - started:.1f} s"
        )
        month, year, berlin = (
            TimeRange(END - 30 * 86400, END),
            TimeRange(START, END),
            ZoneInfo("Europe/Berlin"),
        )
        cases = {
            "created-resolved, 30 days per day": lambda c: views.created_vs_resolved(
                c, month, berlin, "day"
            ),
            "created-resolved, a year per day": lambda c: views.created_vs_resolved(
                c, year, berlin, "day"
            ),
            "created-resolved, a year per week": lambda c: views.created_vs_resolved(
                c, year, berlin, "week"
            ),
            "open-incidents": lambda c: views.open_by_age(c, END),
            "sla, 30 days": lambda c: views.sla_compliance(c, month, END),
            "sla, a year": lambda c: views.sla_compliance(c, year, END),
            "technicians, 30 days": lambda c: views.technician_workload(c, month),
            "technicians, a year": lambda c: views.technician_workload(c, year),
            "top-problems, 30 days": lambda c: views.top_problems(c, month),
            "top-problems, a year": lambda c: views.top_problems(c, year),
            "time-vs-fee, 30 days": lambda c: views.time_vs_fee(c, month, berlin, Decimal(60)),
            "points, 30 days": lambda c: views.points_consumption(c, month),
            "connectors": lambda c: views.connector_health(c, month, END),
        }
        for name, run in cases.items():
            best = float("inf")
            for _ in range(3):
                with store.read() as conn:
                    t = time.perf_counter()
                    run(conn)
                    best = min(best, time.perf_counter() - t)
            print(f"  {name:36s} {best * 1000:8.1f} ms")
    finally:
        store.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
