"""``upkeep cluster status``: the replicas sharing one PostgreSQL, their shards, lease ages
and hand-off queue depths (read from the database; works while replicas run)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from collector.store import Store


def _age(seconds: float | None) -> str:
    """``4s``, ``2m05s``, ``3h10m``: how a person reads a lease's age."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def print_status(store: Store, ttl: float, out: Console) -> dict[str, Any]:
    """Print the cluster's state; returns it (for tests and ``--json`` callers)."""
    from collector.cluster import status

    if store.is_sqlite:
        out.print("SQLite store: one collector process owns every rule shard (no cluster).")
        return {}
    info = status(store)
    now = info["now"]
    live_ids = {r["id"] for r in info["replicas"] if now - r["heartbeat_at"] < ttl}
    owned = Counter(
        lease["owner"] for lease in info["leases"] if lease["owner"] and lease["expires_at"] > now
    )
    oldest: dict[str, float] = {}
    for lease in info["leases"]:
        if lease["owner"] and lease["expires_at"] > now and lease["acquired_at"]:
            oldest[lease["owner"]] = min(oldest.get(lease["owner"], now), lease["acquired_at"])
    table = Table(title=f"Replicas ({len(live_ids)} live, lease TTL {ttl:g}s)")
    table.add_column("replica", overflow="fold")
    for col in ("host", "pid", "state", "last heartbeat", "shards", "oldest lease"):
        table.add_column(col)
    for r in info["replicas"]:
        table.add_row(
            r["id"],
            r["host"],
            str(r["pid"]),
            "live" if r["id"] in live_ids else "silent",
            f"{_age(now - r['heartbeat_at'])} ago",
            str(owned.get(r["id"], 0)),
            _age(now - oldest[r["id"]]) if r["id"] in oldest else "-",
        )
    out.print(table)
    free = [lease["shard"] for lease in info["leases"] if lease["expires_at"] <= now]
    shards = len(info["leases"])
    out.print(
        f"shards: {shards}, owned {shards - len(free)}, without a live owner {len(free)}"
        + (f" ({', '.join(map(str, free[:20]))}{' …' if len(free) > 20 else ''})" if free else "")
    )
    renewed = [
        now - lease["renewed_at"]
        for lease in info["leases"]
        if lease["renewed_at"] and lease["expires_at"] > now
    ]
    if renewed:
        out.print(
            f"lease renewals: newest {_age(min(renewed))} ago, oldest {_age(max(renewed))} ago"
        )
    depth = sum(info["queue"].values())
    if depth:
        busiest = sorted(info["queue"].items(), key=lambda kv: -kv[1])[:10]
        out.print(
            f"hand-off queue: {depth} batch(es) waiting, oldest {_age(now - info['oldest_queued_at'])}"
            f"; by shard: {', '.join(f'{s}={n}' for s, n in busiest)}"
        )
    else:
        out.print("hand-off queue: empty")
    return {**info, "live": sorted(live_ids), "owned": dict(owned), "free": free}
