"""SLA sweep cost: one sweep over N open incidents with running business-hours clocks.

    .venv/bin/python benchmarks/sla_sweep.py [--incidents 1000] [--url sqlite:///…|postgresql+psycopg://…]

Creates a client with a Munich contract (Europe/Berlin, Mon–Fri 08–17, Bavarian holidays,
major: 2 h / 16 h business), opens N incidents (each with a closed pause; a
PostgreSQL URL gets its own schema, dropped afterwards), then times
`SlaClocks.sweep` three times at the same instant (nothing new to send: the steady state)
and once a day later (every clock sends its notices).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector import admin, timeutil  # noqa: E402
from collector.contracts.model import Contract  # noqa: E402
from collector.contracts.store import put_contract  # noqa: E402
from collector.incidents.runtime import attach_listeners  # noqa: E402
from collector.incidents.service import IncidentService  # noqa: E402
from collector.store import Store  # noqa: E402

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "calendar": {
        "timezone": "Europe/Berlin",
        "business_hours": {d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {"country": "DE", "subdivision": "BY"},
    },
    "sla": {"major": {"response": "2h", "resolution": "16h"}},
    "contacts": [{"name": "Ops", "email": "ops@acme.example", "receives": ["sla"]}],
}


@contextlib.contextmanager
def _own_schema(url: str | None) -> Iterator[str | None]:
    """A PostgreSQL URL gets a fresh schema of its own (dropped afterwards)."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    params = {
        "host": parsed.host,
        "port": parsed.port or 5432,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _own_schema(args.url) as url:
        store = Store.from_url(url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.upgrade()
        client = admin.create_client(store, f"acme-{int(time.time())}")
        with store.write() as conn:
            put_contract(
                conn,
                client.id,
                Contract.model_validate({**CONTRACT, "client": client.name}),
                source="bench",
                actor="bench",
                now=0,
            )
        service = IncidentService(store)
        clocks = attach_listeners(service)
        started = time.perf_counter()
        keys = [
            service.report(
                client=client.name, title=f"incident {i}", actor="bench", priority="major"
            )
            for i in range(args.incidents)
        ]
        for key in keys:
            service.act(key, "wait", "bench", reason="waiting_for_client")
            service.act(key, "resume", "bench")
        setup = time.perf_counter() - started
        now = timeutil.now()
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            clocks.sweep(store, now)
            runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        clocks.sweep(store, now + 7 * 86400)
        noisy = time.perf_counter() - t
        print(
            f"{store.engine.dialect.name}: "
            f"{args.incidents} incidents (setup {setup:.1f}s, {3 * args.incidents / setup:.0f} events/s); "
            f"steady sweep {min(runs) * 1000:.0f} ms ({min(runs) / args.incidents * 1e6:.0f} µs/clock); "
            f"sweep sending 2 notices per clock {noisy * 1000:.0f} ms"
        )
        store.dispose()


if __name__ == "__main__":
    main()
