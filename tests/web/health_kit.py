"""Seeding for the overview tests: an asset with a week of history (hourly rollups for seven
days, raw samples for the last two hours) for a host (CPU, memory, a filling disk, uptime), a
printer (supplies) or a UPS, written straight into the store's series tables."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from collector import rollups
from collector.schema import assets, latest, rollups_hourly, samples, series, sites
from collector.store import Store

HOUR = 3600
DAY = 86400


def _series(conn: Any, asset_id: int, metric: str, labels: dict[str, str]) -> int:
    text = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return conn.execute(
        series.insert().values(
            asset_id=asset_id,
            metric=metric,
            labels=text,
            labels_hash=hashlib.sha256(f"{metric}{text}".encode()).hexdigest(),
        )
    ).inserted_primary_key[0]


def add_history(
    conn: Any,
    series_id: int,
    value_at: Callable[[float], float],
    *,
    now: float,
    days: float = 7,
    raw_hours: float = 2,
    step: float = 60,
) -> None:
    """Hourly rollups for ``days`` and raw samples every ``step`` s for the last ``raw_hours``."""
    h_end = int(now // HOUR) * HOUR
    rows = []
    for h in range(h_end - int(days * DAY), h_end + 1, HOUR):
        v = value_at(h + HOUR / 2)
        rows.append(
            {
                "series_id": series_id,
                "hour": h,
                "min": v - 1,
                "max": v + 1,
                "sum": v * 60,
                "count": 60,
                "last": v,
                "last_ts": h + HOUR - 1,
            }
        )
    conn.execute(rollups_hourly.insert(), rows)
    rollups.built_through(conn, h_end)  # these hours' rollups are as written here
    raw = []
    ts = now - raw_hours * HOUR
    while ts <= now:
        raw.append({"series_id": series_id, "ts": ts, "value": value_at(ts)})
        ts += step
    conn.execute(samples.insert(), raw)
    conn.execute(
        latest.insert().values(series_id=series_id, ts=raw[-1]["ts"], value=raw[-1]["value"])
    )


def seed_asset(
    store: Store,
    client_id: int,
    name: str,
    kind: str,
    *,
    now: float,
    site: str = "hq",
    last_seen: float | None = None,
) -> dict[str, int]:
    """An asset of ``kind`` (host, printer, ups) with a week of history; metric → series id."""
    out: dict[str, int] = {}
    with store.write() as conn:
        site_id = conn.execute(
            sa.select(sites.c.id).where(sites.c.client_id == client_id, sites.c.name == site)
        ).scalar()
        if site_id is None:
            site_id = conn.execute(
                sites.insert().values(client_id=client_id, name=site, created_at=now)
            ).inserted_primary_key[0]
        asset_id = conn.execute(
            assets.insert().values(
                client_id=client_id,
                site_id=site_id,
                name=name,
                kind=kind,
                tags=[],
                attributes={},
                first_seen=now - 8 * DAY,
                last_seen=now if last_seen is None else last_seen,
            )
        ).inserted_primary_key[0]
        out["asset"] = asset_id
        t0 = now - 7 * DAY
        disk = {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4"}
        plans: list[tuple[str, dict[str, str], Callable[[float], float]]]
        if kind == "host":
            plans = [
                ("cpu_usage_percent", {}, lambda t: 20 + (t % DAY) / DAY * 30),
                ("memory_used_percent", {}, lambda t: 55.0),
                ("memory_used_bytes", {}, lambda t: 4.4 * 2**30),
                ("memory_total_bytes", {}, lambda t: 8 * 2**30),
                # 60 % a week ago, +4 points a day: full in 6 days from 76 %.
                ("disk_used_percent", disk, lambda t: 60 + (t - t0) / DAY * 4),
                (
                    "disk_free_bytes",
                    disk,
                    lambda t: 40 * 2**30 * (1 - (60 + (t - t0) / DAY * 4) / 100 + 0.6),
                ),
                ("disk_total_bytes", disk, lambda t: 100 * 2**30),
                ("uptime_seconds", {}, lambda t: t - (now - 3 * DAY - 5 * HOUR)),
            ]
        elif kind == "printer":
            black = {"supply": "Black Toner", "supply_type": "toner", "color": "black"}
            cyan = {"supply": "Cyan Toner", "supply_type": "toner", "color": "cyan"}
            plans = [
                ("printer_supply_level_percent", black, lambda t: 40 - (t - t0) / DAY * 3),
                ("printer_supply_level_percent", cyan, lambda t: 80.0),
                ("printer_supply_state", {**black, "state": "ok"}, lambda t: 1.0),
                ("printer_supply_state", {**cyan, "state": "ok"}, lambda t: 1.0),
                ("snmp_uptime_seconds", {}, lambda t: 10 * DAY),
            ]
        else:
            plans = [
                ("ups_battery_charge_percent", {}, lambda t: 100.0),
                ("ups_battery_runtime_seconds", {}, lambda t: 2400.0),
                ("ups_on_battery", {}, lambda t: 0.0),
            ]
        for metric, labels, value_at in plans:
            sid = _series(conn, asset_id, metric, labels)
            add_history(conn, sid, value_at, now=now)
            out.setdefault(metric, sid)
    return out
