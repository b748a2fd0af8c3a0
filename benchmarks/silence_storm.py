"""The incident storm after a fleet-wide silence: what the sweep that fires ``agent-silent``
for every host costs the collector, and how long ingest waits for it.

The collector's own path in one process, without HTTP (as ``benchmarks/fleet_memory.py``):
a real SQLite store (or ``--database-url``), the runtime ``upkeep serve`` builds, N hosts in
``--clients`` clients (one site each, so ``N / clients`` hosts a site), each host's first
batch as the fleet simulator makes it. Then the rule service's sweep runs as if the whole
fleet had been silent for ``agent-silent``'s 5 minutes and more: every host's alert fires,
the incident pipeline folds each site into one ``site-unreachable`` incident and lists the
suppressed alerts on it. Printed: the sweep's wall and CPU seconds, incidents and events
written, and — from a thread storing one more host batch every 50 ms while the sweep runs —
the longest an ingest waited (the batch's store and rule evaluation, as in the request).

``--silent-fraction F``: only the first F of each site's hosts went silent (the others sent a
batch just now): no site is unreachable, each silent host's alert is held back for the
dependency grace (is the rest of the site going silent too?) and then released by the
``noise-release`` job, which opens an incident per host; its run is timed the same way.

    .venv/bin/python benchmarks/silence_storm.py --hosts 30000 --clients 60
    .venv/bin/python benchmarks/silence_storm.py --hosts 30000 --clients 60 --silent-fraction 0.5
    .venv/bin/python benchmarks/silence_storm.py --hosts 5000 --clients 10 --py-spy /tmp/storm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, FleetAgent, load  # noqa: E402
from benchmarks.fleet_memory import in_process_runtime  # noqa: E402


def _statement_kind(sql: str) -> str:
    """``INSERT incidents``, ``SELECT assets``…: the verb and the first table named."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    for marker in ("INTO", "FROM", "UPDATE"):
        for i, word in enumerate(words[:-1]):
            if word.upper() == marker:
                return f"{verb} {words[i + 1].strip('(').lower()}"
    return verb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=30_000)
    parser.add_argument("--clients", type=int, default=60, help="one site each")
    parser.add_argument("--silence", type=float, default=320.0, help="seconds of silence")
    parser.add_argument("--silent-fraction", type=float, default=1.0, help="of each site")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--py-spy", default=None, metavar="PREFIX", help="profile the sweep")
    parser.add_argument(
        "--statements", action="store_true", help="count the release's SQL statements by kind"
    )
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from collector import admin, wirecodec
    from collector.incidents import noise
    from collector.schema import incident_events, incidents
    from collector.server import tune_gc

    _, _, store, runtime = in_process_runtime("upkeep-storm-", args.database_url)
    tag = f"{os.getpid() % 10_000:04d}"  # a PostgreSQL database may hold an earlier run's
    principals = []
    for c in range(args.clients):
        name = f"storm{tag}-c{c:03d}"
        admin.create_client(store, name)
        _, token = admin.create_token(store, client=name, name="agents")
        with store.read() as conn:
            principals.append(admin.authenticate(conn, token, need="agent"))
    fleet = Fleet(["http://unused"], [], host_source="catalog")
    tune_gc()
    # As if the collector had run for an hour (it counts silence from its start): the silent
    # hosts' batches are --silence seconds old, the others' just now; the sweep runs now.
    runtime.rules.engine.started_at = time.time() - 3600
    per_site = -(-args.hosts // args.clients)
    started = time.perf_counter()
    for h in range(args.hosts):
        c = h % args.clients
        silent = h // args.clients < args.silent_fraction * per_site
        t0 = time.time() - (args.silence if silent else 1)
        agent = FleetAgent(f"storm{tag}-c{c:03d}", "", f"storm{tag}-c{c:03d}-h{h:05d}", "site")
        body = json.dumps(fleet.batch(agent, t0 + h * 1e-6)).encode()
        runtime.ingestor.ingest(principals[c], wirecodec.decode_batch(body))
    print(
        f"{args.hosts} hosts in {args.clients} sites stored in "
        f"{time.perf_counter() - started:.0f} s; {load()}",
        flush=True,
    )
    with store.read() as conn:
        before = (
            conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(incident_events)).scalar_one(),
        )

    # One more host batch every 50 ms while the sweep runs: how long does ingest wait?
    waits: list[float] = []
    stop = threading.Event()
    late = FleetAgent(f"storm{tag}-c000", "", f"storm{tag}-late", "late")

    def ingest_during() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = json.dumps(fleet.batch(late, time.time() + n * 0.001)).encode()
            t = time.perf_counter()
            result = runtime.ingestor.ingest(principals[0], wirecodec.decode_batch(body))
            runtime.rules.on_ingest(result)
            waits.append(time.perf_counter() - t)
            stop.wait(0.05)

    spy = None
    if args.py_spy:
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(os.getpid()),
                "--rate",
                "50",
                "--format",
                "raw",
                "-o",
                f"{args.py_spy}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    thread = threading.Thread(target=ingest_during, daemon=True)
    thread.start()
    wall, cpu = time.perf_counter(), time.process_time()
    now = time.time()
    transitions = runtime.rules.sweep(now)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    grace = noise.control().config.dependencies.site_unreachable.grace
    statements: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements[_statement_kind(sql)] += 1

    if args.statements:
        sa.event.listen(store.engine, "before_cursor_execute", count)
    release = (time.perf_counter(), time.process_time())
    released = noise.release_once(store, now + grace + 1)
    release = (time.perf_counter() - release[0], time.process_time() - release[1])
    if args.statements:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    stop.set()
    thread.join()
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    with store.read() as conn:
        after = (
            conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(incident_events)).scalar_one(),
        )
    fired = sum(1 for t in transitions if t.event == "firing")
    waits.sort()
    print(
        f"sweep: {len(transitions)} transitions ({fired} firing) in {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU ({1000 * wall / max(1, len(transitions)):.2f} ms a transition); "
        f"incidents +{after[0] - before[0]}, events +{after[1] - before[1]}"
    )
    print(
        f"noise-release after the grace ({grace:g} s): {released} released in "
        f"{release[0]:.1f} s wall, {release[1]:.1f} s CPU"
        + (f" ({1000 * release[0] / released:.2f} ms a signal)" if released else "")
    )
    if statements and released:
        total = sum(statements.values())
        print(f"release statements: {total / released:.1f} a signal; most frequent:")
        for kind, n in statements.most_common(15):
            print(f"  {n / released:6.2f}  {kind}")
    if waits:
        print(
            f"ingest during the sweep and release: {len(waits)} batches, longest wait {waits[-1]:.2f} s, "
            f"median {waits[len(waits) // 2] * 1000:.0f} ms"
        )
    store.dispose()
    os._exit(0)  # the rule service's threads need no orderly goodbye


if __name__ == "__main__":
    raise SystemExit(main())
