"""Rule backtest cost: 30 days of one client's history, 200 assets (issue 17: at most 10 s).

    .venv/bin/python benchmarks/backtest.py [--assets 200] [--days 30] [--step 30] [--url …]

Seeds a SQLite store (or a PostgreSQL URL) with one client, N host assets, each with a
``cpu_usage_percent`` series: hourly rollups for the whole span and raw samples every
``--step`` seconds for the last 48 h (the default raw retention), a daily sawtooth that
crosses the candidate's threshold every evening. Then times
``collector.rules.backtest.backtest`` of a candidate ``cpu-saturated`` (> 45 %, clear < 30 %,
for 15m) against the shipped packs' ``cpu-saturated`` (both run over the same stream), and
prints the counts, points and seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector import admin  # noqa: E402
from collector.rules.backtest import backtest, load_candidate  # noqa: E402
from collector.rules.loader import load  # noqa: E402
from collector.schema import assets, rollups_hourly, samples, series, sites  # noqa: E402
from collector.settings import Settings  # noqa: E402
from collector.store import Store  # noqa: E402

HOUR, DAY = 3600, 86400
CANDIDATE = """\
rules:
  - id: cpu-saturated
    metric: cpu_usage_percent
    warning: "> 45"
    clear: "< 30"
    for: 15m
    keep_firing_for: 5m
    priority: {warning: minor}
    kind: capacity
    summary: "{asset}: CPU {value:.0f}%"
"""


def value_at(t: float, k: int) -> float:
    return 20 + ((t + k * 97) % DAY) / DAY * 30


def seed(store: Store, n_assets: int, days: int, step: int, now: float) -> None:
    client = admin.create_client(store, "acme")
    h_end = int(now // HOUR) * HOUR
    with store.write() as conn:
        site_id = conn.execute(
            sites.insert().values(client_id=client.id, name="hq", created_at=now)
        ).inserted_primary_key[0]
        for k in range(n_assets):
            asset_id = conn.execute(
                assets.insert().values(
                    client_id=client.id,
                    site_id=site_id,
                    name=f"srv-{k:03d}",
                    kind="host",
                    tags=[],
                    attributes={},
                    first_seen=now - days * DAY,
                    last_seen=now,
                )
            ).inserted_primary_key[0]
            sid = conn.execute(
                series.insert().values(
                    asset_id=asset_id,
                    metric="cpu_usage_percent",
                    labels="{}",
                    labels_hash=hashlib.sha256(str(k).encode()).hexdigest(),
                )
            ).inserted_primary_key[0]
            conn.execute(
                rollups_hourly.insert(),
                [
                    {
                        "series_id": sid,
                        "hour": h,
                        "min": value_at(h, k),
                        "max": value_at(h, k),
                        "sum": value_at(h, k) * 120,
                        "count": 120,
                        "last": value_at(h, k),
                        "last_ts": h + HOUR - 1,
                    }
                    for h in range(h_end - days * DAY, h_end + 1, HOUR)
                ],
            )
            t0 = now - 48 * HOUR
            conn.execute(
                samples.insert(),
                [
                    {"series_id": sid, "ts": t0 + i * step, "value": value_at(t0 + i * step, k)}
                    for i in range(int(48 * HOUR // step))
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", type=int, default=30)
    parser.add_argument("--url", default=None)
    parser.add_argument(
        "--rule-id",
        default="cpu-saturated",
        help="the candidate's id: cpu-saturated replaces the shipped rule (both run); "
        "another id is a new rule (the candidate runs alone)",
    )
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(args.url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.upgrade()
        started = time.perf_counter()
        seed(store, args.assets, args.days, args.step, now)
        print(f"seeded in {time.perf_counter() - started:.1f} s")
        current = load([ROOT / "rules"]).ruleset
        path = Path(tmp) / "candidate.yaml"
        path.write_text(CANDIDATE.replace("cpu-saturated", args.rule_id))
        candidate = load_candidate(path, current)
        settings = Settings.for_data_dir(Path(tmp) / "data")
        load_before = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        report = backtest(
            store,
            candidate,
            current,
            client="acme",
            since=now - args.days * DAY,
            until=now,
            settings=settings,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        new, old = report.candidate[0], report.current[args.rule_id]
        print(
            f"{args.assets} assets × {args.days} days: {report.samples} points "
            f"({report.raw_samples} raw, {report.hourly_points} hourly) in {cpu:.2f} s CPU "
            f"({elapsed:.2f} s wall, load {load_before:.1f} → {os.getloadavg()[0]:.1f}); "
            f"candidate {new.alerts} alerts / {new.incidents} incidents, "
            f"loaded {old.alerts if old else '-'} alerts / {old.incidents if old else '-'} incidents"
        )
        store.dispose()


if __name__ == "__main__":
    main()
