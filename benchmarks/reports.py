"""Client report generation time: one client with 200 assets and a month of hourly rollups.

Builds the dataset straight into a fresh store (SQLite file in a temp dir by default, or a
fresh PostgreSQL schema with ``--database-url``): 150 hosts (4 check-up series, cpu, memory,
2 disks, updates, SMART, every 8th with a website check), 30 printers (snmp_up, 4 supplies,
a page counter), 10 switches, 10 UPSes — ~2,200 series × 744 hourly rollups (October 2026,
~1.6 M rows), plus incidents with SLA clocks and time entries, ledger entries, preventive
work and supply events. ``--history`` adds that many earlier months of rollups (for the
trends section; off by default: "a month of data").

Then it times ``collector.reports.generate`` (HTML) ``--repeat`` times in this process: the
first run includes importing matplotlib and compiling the catalog, the later ones are what
a running collector pays. It also prints the time per section and per format.

    .venv/bin/python benchmarks/reports.py
    .venv/bin/python benchmarks/reports.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from collector import admin  # noqa: E402
from collector.contracts.model import Contract  # noqa: E402
from collector.contracts.store import put_contract  # noqa: E402
from collector.ingest import canonical_labels, labels_hash  # noqa: E402
from collector.schema import (  # noqa: E402
    assets,
    events,
    incident_sla,
    incidents,
    ledger_entries,
    preventive_work,
    series,
    sites,
    time_entries,
)
from collector.store import Store  # noqa: E402

START = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
HOURS = 744
NOW = datetime(2026, 11, 5, tzinfo=UTC).timestamp()
COLUMNS = ("series_id", "hour", "min", "max", "sum", "count", "last", "last_ts")


def host_series(i: int) -> list[tuple[str, dict[str, str], str]]:
    out = [
        (m, {"check": c}, "up")
        for m, c in (
            ("upkeep_check_up", "cpu"),
            ("upkeep_check_up", "memory"),
            ("upkeep_check_up", "disk"),
            ("upkeep_check_up", "updates"),
        )
    ]
    out += [
        ("cpu_usage_percent", {}, "noise"),
        ("memory_used_percent", {}, "noise"),
        ("disk_used_percent", {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4"}, "grow"),
        (
            "disk_used_percent",
            {"mountpoint": "/var", "device": "/dev/sda2", "fstype": "ext4"},
            "grow",
        ),
        ("os_updates_pending", {}, "updates"),
        ("os_security_updates_pending", {}, "updates"),
        ("os_reboot_required", {}, "zero"),
        ("smart_healthy", {"device": "/dev/sda", "model": "M", "serial": f"S{i}"}, "up"),
        ("smart_reallocated_sectors", {"device": "/dev/sda"}, "zero"),
    ]
    if i % 8 == 0:
        out.append(("http_up", {"target": f"https://site{i}.example"}, "up"))
        out.append(("tls_cert_expiry_seconds", {"target": f"site{i}.example:443"}, "cert"))
    return out


def printer_series() -> list[tuple[str, dict[str, str], str]]:
    return [("snmp_up", {}, "up"), ("printer_page_count_total", {"marker": "1"}, "counter")] + [
        ("printer_supply_level_percent", {"supply": s, "supply_type": "toner", "color": s}, "fall")
        for s in ("black", "cyan", "magenta", "yellow")
    ]


def value(kind: str, h: int, rnd: random.Random, i: int) -> float:
    if kind == "up":
        return 0.0 if rnd.random() < 0.0005 else 1.0
    if kind == "noise":
        return rnd.uniform(5, 60)
    if kind == "grow":
        return min(100.0, 30 + (i % 50) + h / 24 * (i % 4) * 0.3)
    if kind == "fall":
        return max(0.0, 100 - h / 24 * (1 + i % 5))
    if kind == "counter":
        return 10_000 + h * 7
    if kind == "updates":
        return float((h // 100) % 5)
    if kind == "cert":
        return (20 + i % 90) * 86400 - h * 3600
    return 0.0


def build(store: Store, history: int) -> None:
    rnd = random.Random(7)
    admin.create_client(store, "acme")
    with store.write() as conn:
        cid = admin.get_client(conn, "acme").id
        put_contract(
            conn,
            cid,
            Contract.model_validate(
                {
                    "client": "acme",
                    "plan": {"name": "Care", "monthly_fee": "4000"},
                    "sla": {
                        "critical": {"response": "15m", "resolution": "4h"},
                        "major": {"response": "1h", "resolution": "8h"},
                        "minor": {"response": "4h", "resolution": "2d"},
                    },
                    "points": {"allotment": 100},
                }
            ),
            source="bench",
            actor="bench",
            now=START,
        )
        site_ids = [
            conn.execute(
                sites.insert().values(
                    client_id=cid, name=f"site{s}", created_at=START - 86400 * 400
                )
            ).inserted_primary_key[0]
            for s in range(4)
        ]
        plan = (
            [("host", host_series)] * 150
            + [("printer", lambda i: printer_series())] * 30
            + [
                (
                    "switch",
                    lambda i: [
                        ("snmp_up", {}, "up"),
                        ("if_oper_status", {"interface": "1"}, "zero"),
                    ],
                )
            ]
            * 10
            + [("ups", lambda i: [("snmp_up", {}, "up"), ("ups_battery_status", {}, "zero")])] * 10
        )
        specs = []
        for i, (kind, make) in enumerate(plan):
            aid = conn.execute(
                assets.insert().values(
                    client_id=cid,
                    site_id=site_ids[i % 4],
                    name=f"{kind}-{i:03d}",
                    kind=kind,
                    tags=[],
                    attributes={},
                    first_seen=START - 86400 * 400,
                    last_seen=NOW,
                )
            ).inserted_primary_key[0]
            for metric, labels, behaviour in make(i):
                canonical = canonical_labels(labels)
                sid = conn.execute(
                    series.insert().values(
                        asset_id=aid,
                        metric=metric,
                        labels=canonical,
                        labels_hash=labels_hash(canonical),
                    )
                ).inserted_primary_key[0]
                specs.append((sid, behaviour, i))
        months = [(START - (k * 31 * 86400), HOURS) for k in range(history, 0, -1)] + [
            (START, HOURS)
        ]

        def rows():
            for first, hours in months:
                for sid, behaviour, i in specs:
                    for h in range(hours):
                        v = value(behaviour, h, rnd, i)
                        hour = first + h * 3600
                        yield (sid, hour, v, v, v * 12, 12, v, hour + 3300)

        if store.is_sqlite:
            conn.exec_driver_sql(
                f"INSERT INTO rollups_hourly ({', '.join(COLUMNS)}) VALUES (?,?,?,?,?,?,?,?)",
                list(rows()),
            )
        else:
            with (
                conn.connection.cursor() as cur,
                cur.copy(f"COPY rollups_hourly ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows():
                    copy.write_row(row)
        print(f"{len(specs)} series, {len(specs) * HOURS * len(months):,} rollup rows", flush=True)

        origins = ["proactive"] * 8 + ["user_reported"] * 2
        for n in range(1, 151):
            opened = START + rnd.uniform(0, HOURS * 3600 - 86400)
            priority = rnd.choice(["critical", "major", "minor", "minor", "technical"])
            asset_no = rnd.randrange(200)
            iid = conn.execute(
                incidents.insert().values(
                    key=f"UPK-acme-{n}",
                    client_id=cid,
                    number=n,
                    origin=rnd.choice(origins),
                    state="resolved",
                    priority=priority,
                    kind="fault",
                    title=f"problem {n}",
                    description="",
                    labels={},
                    count=1,
                    flapping=False,
                    version=1,
                    asset=plan[asset_no][0] + f"-{asset_no:03d}",
                    rule="disk-space",
                    cause=rnd.choice(["wear", "hardware", "client_error", None]),
                    resolution_note="fixed",
                    opened_at=opened,
                    resolved_at=opened + rnd.uniform(600, 20000),
                    updated_at=NOW,
                )
            ).inserted_primary_key[0]
            conn.execute(
                time_entries.insert().values(
                    incident_id=iid,
                    actor="tech",
                    minutes=rnd.randint(5, 120),
                    note="",
                    created_at=opened + 600,
                )
            )
            conn.execute(
                incident_sla.insert().values(
                    incident_id=iid,
                    client_id=cid,
                    priority=priority,
                    state="stopped",
                    response_target=3600,
                    responded_at=opened + 900,
                    response_elapsed=rnd.uniform(60, 5000),
                    response_breached=rnd.random() < 0.1,
                    resolution_target=28800,
                    resolved_at=opened + 9000,
                    resolution_elapsed=rnd.uniform(600, 40000),
                    resolution_breached=rnd.random() < 0.1,
                    paused_seconds=0,
                    notified=[],
                    updated_at=NOW,
                )
            )
            if rnd.random() < 0.3:
                conn.execute(
                    ledger_entries.insert().values(
                        client_id=cid,
                        period="2026-10",
                        kind="charge",
                        centipoints=-rnd.randint(100, 3000),
                        ts=opened + 9000,
                        incident_id=iid,
                        actor="upkeep",
                        reason="charge",
                        data={},
                        dedupe_key=str(uuid.uuid4()),
                    )
                )
        conn.execute(
            ledger_entries.insert().values(
                client_id=cid,
                period="2026-10",
                kind="allotment",
                centipoints=10000,
                ts=START,
                actor="upkeep",
                reason="",
                data={},
            )
        )
        conn.execute(
            preventive_work.insert(),
            [
                {
                    "client_id": cid,
                    "kind": "task",
                    "incident_id": None,
                    "task_id": "t",
                    "title": f"task {k}",
                    "asset": None,
                    "done_at": START + k * 8000,
                    "actor": "tech",
                    "minutes": 30,
                    "note": "",
                    "evidence": {"before": 90, "after": 40},
                    "created_at": START,
                }
                for k in range(80)
            ],
        )
        printer_ids = [
            r.id for r in conn.execute(sa.select(assets.c.id).where(assets.c.kind == "printer"))
        ]
        conn.execute(
            events.insert(),
            [
                {
                    "client_id": cid,
                    "asset_id": printer_ids[k % 30],
                    "agent_id": None,
                    "type": "supply_replaced",
                    "ts": START + k * 100000,
                    "message": "black",
                    "data": {"supply": "black", "before_percent": 2, "after_percent": 100},
                    "received_at": START,
                }
                for k in range(20)
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--history", type=int, default=0, help="earlier months of rollups (trends)")
    parser.add_argument("--pdf", action="store_true", help="also time the PDF")
    args = parser.parse_args()

    cleanup = None
    if args.database_url:  # a fresh schema, dropped at the end (as the tests do)
        import tests.conftest as conftest

        conftest.POSTGRES_URL = args.database_url
        cleanup = conftest._postgres_schema_url()
        url = next(cleanup)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='upkeep-bench-reports-')}/upkeep.db"
    store = Store.from_url(url)
    store.upgrade()
    t0 = time.perf_counter()
    build(store, args.history)
    print(f"dataset built in {time.perf_counter() - t0:.1f}s ({store.dialect})")
    if not store.is_sqlite:
        with store.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()

    from collector import reports
    from collector.reports import registry, render
    from collector.reports.context import ReportContext
    from collector.reports.period import resolve

    timings = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        page = reports.generate(store, "acme", "2026-10", "html", now=NOW)
        timings.append(time.perf_counter() - t)
    print(
        f"HTML report: {len(page):,} bytes; first run {timings[0]:.2f}s (imports, catalog), "
        f"then median {statistics.median(timings[1:] or timings):.2f}s, max {max(timings[1:] or timings):.2f}s"
    )

    with store.read() as conn:
        from collector.contracts.store import get_contract

        contract = get_contract(conn, 1)
        ctx = ReportContext(
            conn=conn,
            client_id=1,
            client="acme",
            contract=contract,
            period=resolve("2026-10", contract),
            now=NOW,
        )
        done: dict = {}
        parts = []
        for name in registry.compute_order(list(registry.SECTIONS)):
            t = time.perf_counter()
            done[name] = registry.load(name).compute(ctx, done)
            parts.append(f"{name} {1000 * (time.perf_counter() - t):.0f}")
    print("sections (ms): " + ", ".join(parts))
    model = reports.build(store, "acme", "2026-10", now=NOW)
    for fmt in ("html", "json", "csv") + (("pdf",) if args.pdf else ()):
        t = time.perf_counter()
        data = render.render(model, fmt)
        print(f"render {fmt}: {1000 * (time.perf_counter() - t):.0f} ms, {len(data):,} bytes")
    store.dispose()
    if cleanup is not None:
        for _ in cleanup:
            pass


if __name__ == "__main__":
    main()
