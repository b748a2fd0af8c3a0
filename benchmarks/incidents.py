"""Breach → ticket latency: from posting the breaching sample to the webhook reaching a receiver.

Starts a real collector (``upkeep serve``, SQLite in a temp dir by default) with one rule
without ``for`` and a webhook connector pointing at a local HTTP receiver in this process.
For each of ``--incidents`` assets it posts one batch with a breaching sample and measures
the time from just before the POST to the ``open`` webhook request arriving at the receiver
(ingest, rule evaluation, incident + outbox in one transaction, worker wake-up, HTTP POST).
``--interval`` spaces the incidents (default 50 ms), ``--concurrency`` posts in parallel.

    .venv/bin/python benchmarks/incidents.py                   # 500 incidents
    .venv/bin/python benchmarks/incidents.py --incidents 2000 --concurrency 4

The collector also exports what it measures itself (from the outbox row's creation to
delivery) as ``upkeep_breach_to_ticket_seconds``; the numbers are in benchmarks/README.md,
"Incidents".
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import WebhookReceiver as Receiver  # noqa: E402
from tests.e2e.incident_kit import write_settings  # noqa: E402
from tests.servers.collector import CollectorProcess, provision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between breaches")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="upkeep-bench-incidents-"))
    settings = write_settings(
        workdir / "conf",
        {
            "connectors": {
                "bench": {
                    "type": "webhook",
                    "url": f"http://127.0.0.1:{receiver.server_address[1]}/",
                    "secret": "bench",
                }
            }
        },
        log_level="warning",
    )
    collector = CollectorProcess(
        workdir / "collector", config=settings, database_url=args.database_url, log_level="warning"
    ).start()
    sent: dict[str, float] = {}
    try:
        creds = provision(collector, "bench")
        agent_id = str(uuid.uuid4())
        client = httpx.Client(
            base_url=collector.url,
            timeout=30,
            headers={"Authorization": f"Bearer {creds.agent_token}"},
        )
        seq_lock = threading.Lock()
        seq = [0]

        def breach(n: int) -> None:
            asset = f"host{n:05d}"
            with seq_lock:
                seq[0] += 1
                number = seq[0]
            now = time.time()
            batch = {
                "batch_id": str(uuid.uuid4()),
                "seq": number,
                "sent_at": now,
                "agent": {"id": agent_id, "version": "0.1.0", "hostname": "bench", "site": "hq"},
                "assets": [{"name": asset, "kind": "host"}],
                "samples": [
                    {
                        "asset": asset,
                        "metric": "disk_used_percent",
                        "labels": {"mountpoint": "/"},
                        "value": 90.0,
                        "ts": now,
                    }
                ],
                "events": [],
            }
            body = json.dumps(batch).encode()
            sent[asset] = time.perf_counter()
            client.post(
                "/api/v1/batches", content=body, headers={"Content-Type": "application/json"}
            ).raise_for_status()

        breach(99999)  # warm-up (first asset, first rule windows); not counted
        with ThreadPoolExecutor(args.concurrency) as pool:
            for n in range(args.incidents):
                pool.submit(breach, n)
                time.sleep(args.interval)
        deadline = time.monotonic() + 60
        while len(receiver.arrivals) < args.incidents + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        metrics = httpx.get(f"{collector.url}/metrics", timeout=10).text
    finally:
        collector.stop()
        receiver.shutdown()
    latencies = sorted(
        receiver.arrivals[a] - sent[a] for a in sent if a in receiver.arrivals and a != "host99999"
    )
    missing = args.incidents - len(latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"incidents: {len(latencies)} (missing {missing}), interval {args.interval}s, "
        f"concurrency {args.concurrency}, store {'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(
        f"breach → ticket: p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    for line in metrics.splitlines():
        if line.startswith(
            ("upkeep_breach_to_ticket_seconds_sum", "upkeep_breach_to_ticket_seconds_count")
        ):
            print("collector:", line)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
