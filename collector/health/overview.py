"""One asset's health at a glance, and the fleet's (clients → sites → assets), worst first.

Figures come from the latest values, the open alerts and a straight line fitted to the last
``FIT_DAYS`` of hourly averages (the same fit the monthly report's "risks ahead" uses,
:mod:`collector.reports.analysis`), so "disk full in 9 days" means the same on every page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.errors import NotFound
from collector.health import catalog, units
from collector.incidents import read as incidents_read
from collector.reports.analysis import days_until, fit
from collector.rollups import hourly
from collector.schema import (
    agents,
    assets,
    clients,
    latest,
    rule_alerts,
    series,
    sites,
)

DAY = 86400
HOUR = 3600
FIT_DAYS = 14
PSEUDO_FS = ("tmpfs", "devtmpfs", "squashfs", "overlay", "iso9660")
OPEN_STATES = incidents_read.OPEN_STATES
#: Worst first: the order of the fleet overview and the rank of an asset's state.
STATES = ("critical", "warning", "silent", "pending", "ok")
_RANK = {s: i for i, s in enumerate(STATES)}
#: Supply colours the bars are drawn in (CSS classes ``supply-<colour>``).
SUPPLY_COLOURS = frozenset(
    ("black", "cyan", "magenta", "yellow", "red", "green", "blue", "orange", "violet", "gray")
)


def worst(states: Iterable[str]) -> str:
    return min(states, key=lambda s: _RANK.get(s, len(STATES)), default="ok")


def _labels(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}


def alert_state(status: str, severity: str | None) -> str:
    if status == "firing":
        return "critical" if severity == "critical" else "warning"
    return "pending" if status == "pending" else "ok"


# ---------------------------------------------------------------------- forecasts


def trends(
    conn: Connection, series_ids: Sequence[int], *, now: float
) -> dict[int, tuple[float, float, float]]:
    """Per series: ``(intercept, slope per day, x_now)`` of the least-squares line through the
    last ``FIT_DAYS`` of hourly averages (x in days since the window's start)."""
    if not series_ids:
        return {}
    h_end = int(now // HOUR) * HOUR
    h0 = h_end - FIT_DAYS * DAY
    HOURLY = hourly(h0, h_end + HOUR)
    x = (HOURLY.c.hour - h0) / float(DAY)
    y = HOURLY.c.sum / HOURLY.c.count
    out: dict[int, tuple[float, float, float]] = {}
    for chunk in range(0, len(series_ids), 500):
        ids = list(series_ids[chunk : chunk + 500])
        for r in conn.execute(
            sa.select(
                HOURLY.c.series_id,
                sa.func.count().label("n"),
                sa.func.sum(x).label("sx"),
                sa.func.sum(y).label("sy"),
                sa.func.sum(x * y).label("sxy"),
                sa.func.sum(x * x).label("sxx"),
            )
            .where(
                HOURLY.c.series_id.in_(ids),
                HOURLY.c.hour >= h0,
                HOURLY.c.hour <= h_end,
                HOURLY.c.count > 0,
            )
            .group_by(HOURLY.c.series_id)
        ):
            line = fit(int(r.n), float(r.sx), float(r.sy), float(r.sxy), float(r.sxx))
            if line is not None:
                out[r.series_id] = (line[0], line[1], (h_end - h0) / DAY)
    return out


def days_to(line: tuple[float, float, float] | None, target: float) -> float | None:
    """Days until the fitted line reaches ``target`` (None: never, or no line): 100 % (a disk
    filling up) is reached from below, 0 % (a supply running out) from above. A line moving
    away from its target never reaches it — a refilled toner or a flat line whose fitted slope
    is float noise (PostgreSQL's sums) is "not running out", not "empty now"."""
    if line is None:
        return None
    days = days_until(*line, target, rising=target > 0)  # a disk toward 100 %, a supply to 0 %
    return None if days is None else round(days, 1)


def forecast_text(days: float | None) -> str:
    if days is None:
        return "not filling up"
    if days <= 0:
        return "now"
    return "in " + units.duration(days * DAY)


# ---------------------------------------------------------------------- one asset


@dataclass
class SeriesLine:
    """One series of the asset, for the list and the charts."""

    id: int
    metric: str
    labels: dict[str, str]
    value: float
    ts: float
    unit: str
    check: str
    help: str
    text: str

    @property
    def label_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


@dataclass
class AssetHealth:
    asset: Any
    state: str
    alerts: Sequence[Any]
    open_incidents: int
    gauges: list[dict[str, Any]] = field(default_factory=list)
    disks: list[dict[str, Any]] = field(default_factory=list)
    supplies: list[dict[str, Any]] = field(default_factory=list)
    ups: list[dict[str, Any]] = field(default_factory=list)
    groups: list[tuple[str, list[SeriesLine]]] = field(default_factory=list)
    series_count: int = 0


def asset_row(conn: Connection, scope: Any, asset_id: int) -> Any:
    row = conn.execute(
        sa.select(assets, clients.c.name.label("client"), sites.c.name.label("site"))
        .join(clients, clients.c.id == assets.c.client_id)
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(assets.c.id == asset_id)
    ).first()
    if row is None:
        raise NotFound(f"no asset with id {asset_id}")
    scope.check(row.client_id, f"asset with id {asset_id}")
    return row


def _lines(conn: Connection, asset_id: int) -> list[SeriesLine]:
    out = []
    for r in conn.execute(
        sa.select(series.c.id, series.c.metric, series.c.labels, latest.c.value, latest.c.ts)
        .join(latest, latest.c.series_id == series.c.id)
        .where(series.c.asset_id == asset_id)
        .order_by(series.c.metric, series.c.labels)
    ):
        meta = catalog.info(r.metric)
        out.append(
            SeriesLine(
                r.id,
                r.metric,
                _labels(r.labels),
                r.value,
                r.ts,
                meta.unit,
                meta.check,
                meta.help,
                units.human(r.value, meta.unit, meta.states),
            )
        )
    return out


def asset_health(
    conn: Connection, scope: Any, asset_id: int, *, now: float, silent_after: float
) -> AssetHealth:
    """The asset overview: state, open alerts, key gauges with units, every series by check."""
    row = asset_row(conn, scope, asset_id)
    open_alerts = conn.execute(
        sa.select(rule_alerts)
        .where(rule_alerts.c.asset_id == asset_id, rule_alerts.c.status.in_(("firing", "pending")))
        .order_by(rule_alerts.c.status, rule_alerts.c.rule_id)
    ).all()
    open_count = incidents_read.open_counts(conn, per="asset", ids=[asset_id]).get(asset_id, 0)
    states = [alert_state(a.status, a.severity) for a in open_alerts]
    if now - row.last_seen >= silent_after:
        states.append("silent")
    lines = _lines(conn, asset_id)
    health = AssetHealth(row, worst(states), open_alerts, open_count, series_count=len(lines))
    by_metric: dict[str, list[SeriesLine]] = defaultdict(list)
    for line in lines:
        by_metric[line.metric].append(line)

    def first(metric: str) -> SeriesLine | None:
        found = by_metric.get(metric)
        return found[0] if found else None

    for metric, title in (
        ("cpu_usage_percent", "CPU"),
        ("memory_used_percent", "Memory"),
        ("swap_used_percent", "Swap"),
    ):
        gauge = first(metric)
        if gauge is not None:
            extra = ""
            if metric == "memory_used_percent":
                used, total = first("memory_used_bytes"), first("memory_total_bytes")
                if used and total:
                    extra = f"{used.text} of {total.text}"
            health.gauges.append(
                {
                    "title": title,
                    "percent": gauge.value,
                    "text": gauge.text,
                    "extra": extra,
                    "series": gauge.id,
                }
            )
    uptime = first("uptime_seconds") or first("snmp_uptime_seconds")
    if uptime is not None:
        health.gauges.append(
            {
                "title": "Uptime",
                "percent": None,
                "text": units.duration(uptime.value),
                "extra": "",
                "series": uptime.id,
            }
        )
    _disks(conn, health, by_metric, now)
    _supplies(conn, health, by_metric, now)
    _ups(health, by_metric)
    grouped: dict[str, list[SeriesLine]] = defaultdict(list)
    for line in lines:
        grouped[line.check].append(line)
    health.groups = sorted(grouped.items(), key=lambda g: (g[0] in ("agent", "other"), g[0]))
    return health


def _disks(
    conn: Connection, health: AssetHealth, by_metric: dict[str, list[SeriesLine]], now: float
) -> None:
    used = [
        line
        for line in by_metric.get("disk_used_percent", [])
        if line.labels.get("fstype") not in PSEUDO_FS
    ]
    lines = trends(conn, [u.id for u in used], now=now)

    def same(metric: str, line: SeriesLine) -> SeriesLine | None:
        mount = line.labels.get("mountpoint")
        return next(
            (x for x in by_metric.get(metric, []) if x.labels.get("mountpoint") == mount), None
        )

    for line in used:
        free, total = same("disk_free_bytes", line), same("disk_total_bytes", line)
        days = days_to(lines.get(line.id), 100.0)
        health.disks.append(
            {
                "mount": line.labels.get("mountpoint", "?"),
                "percent": line.value,
                "text": line.text,
                "free": free.text if free else "-",
                "total": total.text if total else "-",
                "days": days,
                "forecast": forecast_text(days),
                "series": line.id,
            }
        )
    health.disks.sort(key=lambda d: d["mount"])


def _supplies(
    conn: Connection, health: AssetHealth, by_metric: dict[str, list[SeriesLine]], now: float
) -> None:
    levels = by_metric.get("printer_supply_level_percent", [])
    state_of: dict[str, str] = {}
    for line in by_metric.get("printer_supply_state", []):
        if line.value >= 1:
            state_of[line.labels.get("supply", "")] = line.labels.get("state", "unknown")
    lines = trends(conn, [line.id for line in levels], now=now)
    seen = set()
    for line in levels:
        supply = line.labels.get("supply", "?")
        seen.add(supply)
        days = days_to(lines.get(line.id), 0.0)
        colour = line.labels.get("color", "")
        health.supplies.append(
            {
                "supply": supply,
                "type": line.labels.get("supply_type", ""),
                "colour": colour if colour in SUPPLY_COLOURS else "other",
                "percent": max(0.0, min(100.0, line.value)),
                "text": line.text,
                "state": state_of.get(supply, "ok" if line.value > 0 else "empty"),
                "days": days,
                "forecast": "not running out"
                if days is None
                else forecast_text(days).replace("now", "empty now"),
                "series": line.id,
            }
        )
    for supply, state in sorted(state_of.items()):
        if supply not in seen:  # the printer reports only a state for this supply
            health.supplies.append(
                {
                    "supply": supply,
                    "type": "",
                    "colour": "other",
                    "percent": None,
                    "text": "-",
                    "state": state,
                    "days": None,
                    "forecast": "",
                    "series": None,
                }
            )


def _ups(health: AssetHealth, by_metric: dict[str, list[SeriesLine]]) -> None:
    for metric, title in (
        ("ups_battery_charge_percent", "Battery charge"),
        ("ups_battery_runtime_seconds", "Runtime on battery"),
        ("ups_on_battery", "Power source"),
        ("ups_output_load_percent", "Load"),
    ):
        for line in by_metric.get(metric, []):
            health.ups.append(
                {
                    "title": title,
                    "text": line.text
                    if metric != "ups_battery_runtime_seconds"
                    else units.duration(line.value),
                    "percent": line.value if line.unit == "percent" else None,
                    "alarm": metric == "ups_on_battery" and line.value >= 1,
                    "series": line.id,
                }
            )


# ---------------------------------------------------------------------- the fleet


@dataclass
class FleetNode:
    """A client, a site or an asset row of the fleet overview, with its counts."""

    name: str
    state: str = "ok"
    assets: int = 0
    alerts: int = 0
    open_incidents: int = 0
    silent_agents: int = 0
    running_out: list[dict[str, Any]] = field(default_factory=list)
    children: list[FleetNode] = field(default_factory=list)
    id: int | None = None
    kind: str = ""
    last_seen: float | None = None

    def add(self, child: FleetNode) -> None:
        self.children.append(child)
        self.state = worst((self.state, child.state))
        self.assets += child.assets
        self.alerts += child.alerts
        self.open_incidents += child.open_incidents
        self.silent_agents += child.silent_agents
        self.running_out.extend(child.running_out)

    def sort(self) -> None:
        for child in self.children:
            child.sort()
        self.children.sort(key=lambda c: (_RANK.get(c.state, 9), -c.open_incidents, c.name))
        self.running_out.sort(key=lambda r: r["days"])


def fleet(
    conn: Connection,
    scope: Any,
    *,
    now: float,
    silent_after: float,
    horizon_days: float,
    client: str | None = None,
    site: str | None = None,
) -> list[FleetNode]:
    """Clients → sites → assets, worst state first, with open incidents, silent agents and
    the disks and supplies that run out within ``horizon_days`` (by the fitted trend)."""
    where = [scope.where(assets.c.client_id)]
    if client:
        where.append(clients.c.name == client)
    if site:
        where.append(sites.c.name == site)
    rows = conn.execute(
        sa.select(
            assets.c.id,
            assets.c.name,
            assets.c.kind,
            assets.c.last_seen,
            assets.c.client_id,
            clients.c.name.label("client"),
            sites.c.name.label("site"),
        )
        .join(clients, clients.c.id == assets.c.client_id)
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(*where)
    ).all()
    ids = [r.id for r in rows]
    alert_states: dict[int, list[str]] = defaultdict(list)
    open_by_asset: dict[int, int] = defaultdict(int)
    forecasts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for a in conn.execute(
            sa.select(rule_alerts.c.asset_id, rule_alerts.c.status, rule_alerts.c.severity).where(
                rule_alerts.c.asset_id.in_(part), rule_alerts.c.status.in_(("firing", "pending"))
            )
        ):
            alert_states[a.asset_id].append(alert_state(a.status, a.severity))
        open_by_asset.update(incidents_read.open_counts(conn, per="asset", ids=part))
        watched = conn.execute(
            sa.select(series.c.id, series.c.asset_id, series.c.metric, series.c.labels).where(
                series.c.asset_id.in_(part),
                series.c.metric.in_(("disk_used_percent", "printer_supply_level_percent")),
            )
        ).all()
        watched = [
            w
            for w in watched
            if w.metric != "disk_used_percent" or _labels(w.labels).get("fstype") not in PSEUDO_FS
        ]
        lines = trends(conn, [w.id for w in watched], now=now)
        for w in watched:
            labels = _labels(w.labels)
            disk = w.metric == "disk_used_percent"
            days = days_to(lines.get(w.id), 100.0 if disk else 0.0)
            if days is not None and days <= horizon_days:
                forecasts[w.asset_id].append(
                    {
                        "what": "disk" if disk else "supply",
                        "subject": labels.get("mountpoint" if disk else "supply", "?"),
                        "days": days,
                        "text": (("full " if disk else "empty ") + forecast_text(days)),
                        "asset_id": w.asset_id,
                    }
                )
    silent_by_site: dict[tuple[str, str | None], int] = defaultdict(int)
    agent_where = [scope.where(agents.c.client_id), agents.c.last_seen < now - silent_after]
    if client:
        agent_where.append(clients.c.name == client)
    for silent in conn.execute(
        sa.select(clients.c.name.label("client"), sites.c.name.label("site"))
        .select_from(agents)
        .join(clients, clients.c.id == agents.c.client_id)
        .outerjoin(sites, sites.c.id == agents.c.site_id)
        .where(*agent_where)
    ):
        if site and silent.site != site:
            continue
        silent_by_site[(silent.client, silent.site)] += 1
    tree: dict[str, FleetNode] = {}
    site_nodes: dict[tuple[str, str | None], FleetNode] = {}
    for r in rows:
        states = list(alert_states.get(r.id, []))
        if now - r.last_seen >= silent_after:
            states.append("silent")
        node = FleetNode(
            r.name,
            worst(states),
            assets=1,
            alerts=len(alert_states.get(r.id, [])),
            open_incidents=open_by_asset.get(r.id, 0),
            running_out=[{**f, "asset": r.name} for f in forecasts.get(r.id, [])],
            id=r.id,
            kind=r.kind,
            last_seen=r.last_seen,
        )
        key = (r.client, r.site)
        if key not in site_nodes:
            site_nodes[key] = FleetNode(r.site or "(no site)")
        site_nodes[key].add(node)
    for key, count in silent_by_site.items():
        if key not in site_nodes:
            site_nodes[key] = FleetNode(key[1] or "(no site)")
        site_nodes[key].silent_agents += count
        site_nodes[key].state = worst((site_nodes[key].state, "silent"))
    for (client_name, _), node in sorted(site_nodes.items(), key=lambda kv: str(kv[0])):
        tree.setdefault(client_name, FleetNode(client_name)).add(node)
    # Clients without assets yet still appear (an onboarded client waiting for its agent).
    client_where = [scope.where(clients.c.id)]
    if client:
        client_where.append(clients.c.name == client)
    if not site:
        for c in conn.execute(sa.select(clients.c.name).where(*client_where)):
            tree.setdefault(c.name, FleetNode(c.name))
    # Incidents without an asset (reported by phone) count for their client.
    if not site:
        phoned = incidents_read.open_counts(
            conn, per="client", ids=scope.client_ids, without_asset=True
        )
        names = dict(
            conn.execute(
                sa.select(clients.c.id, clients.c.name).where(clients.c.id.in_(sorted(phoned)))
            ).all()
        )
        for client_id, n in phoned.items():
            name = names.get(client_id)
            if name in tree and (not client or name == client):
                tree[name].open_incidents += n
    out = list(tree.values())
    for node in out:
        node.sort()
    out.sort(key=lambda c: (_RANK.get(c.state, 9), -c.open_incidents, c.name))
    return out
