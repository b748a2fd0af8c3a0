"""Availability per asset and per service, with the downtime windows: the assets domain's
read model for availability, which the report's availability section and trends (and any
other view of availability) call.

How it is measured (hourly resolution, from ``rollups_hourly``):

- an SNMP device (it has ``snmp_up``): each hour counts with its average of ``snmp_up`` (an
  hour where half the polls failed is half an hour down). Hours without any ``snmp_up`` (the
  polling agent itself was away) are *no data* and left out of both sides;
- a host with an agent (it has ``upkeep_check_up``): an hour in which the agent delivered
  nothing counts as down (that is what ``agent-silent`` means); an hour with data is up. A
  host with no data at all in the period is not measured (agent not installed yet, retired);
- a service (``ping_up``, ``tcp_up``, ``http_up``, ``dns_up``, ``tls_up``, ``service_up``,
  ``process_up``, per target): the hourly average of its up metric, like SNMP.

Availability = time up / time measured, from the asset's first sample (or the period start)
to the period end (or now); only whole hours that have ended by ``now`` count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import sqlalchemy as sa

from collector.health.hours import ClientSeries, hour_counts, hour_stats, hours_below
from collector.reports.analysis import HOUR, downtime_windows, missing_hours, percent
from collector.rollups import hourly
from collector.schema import assets, series

SNMP_UP = "snmp_up"
AGENT_UP = "upkeep_check_up"
SERVICE_METRICS = ("ping_up", "tcp_up", "http_up", "dns_up", "tls_up", "service_up", "process_up")
SERVICE_LABELS = ("target", "service", "process")


class MeasuredAsset(Protocol):
    """An asset as availability needs it (the report context's assets are such)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def site(self) -> str | None: ...

    @property
    def first_seen(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Downtime:
    """Consecutive hours with downtime: [start, end) and the seconds down in them."""

    start: int
    end: int
    down_seconds: float


@dataclass(frozen=True, slots=True)
class AssetAvailability:
    """One asset's availability; ``source``: what measured it (SNMP polls or its agent)."""

    asset: str
    kind: str
    site: str | None
    source: Literal["snmp", "agent"]
    hours: int
    down_seconds: float
    availability: float | None  # percent
    windows: tuple[Downtime, ...]


@dataclass(frozen=True, slots=True)
class ServiceAvailability:
    """One service check's availability (``service``: its up metric, ``target``: what it checks)."""

    asset: str
    service: str
    target: str
    hours: int
    down_seconds: float
    availability: float | None  # percent
    windows: tuple[Downtime, ...]


@dataclass(frozen=True, slots=True)
class Availability:
    """Availability in hours [start, end): overall (None: nothing measured), per asset and
    per service, least available first (not measured last), then by name."""

    start: int
    end: int
    overall: float | None  # percent
    down_seconds: float
    measured_assets: int
    unmeasured_assets: int
    assets: tuple[AssetAvailability, ...]
    services: tuple[ServiceAvailability, ...]


def span(now: float, h0: int, h1: int) -> tuple[int, int]:
    """Whole hours of [h0, h1) that have ended by ``now``."""
    return h0, max(h0, min(h1, int(now // HOUR) * HOUR))


def agent_hours(source: ClientSeries, h0: int, h1: int) -> dict[int, int]:
    """Per host asset: the most hours any one of its check series has in [h0, h1).

    A lower bound of the hours its agent delivered anything, and the exact number whenever
    one check ran every hour (the usual case); :func:`measure` lists the hours of the other
    hosts. Counting rows per series walks the primary key; COUNT(DISTINCT hour) per asset
    would need a temporary B-tree and is several times slower.
    """
    out: dict[int, int] = {}
    for ref, hours in hour_counts(source, [AGENT_UP], h0, h1):
        out[ref.asset_id] = max(out.get(ref.asset_id, 0), hours)
    return out


def agent_hour_list(
    source: ClientSeries, asset_ids: list[int], h0: int, h1: int
) -> dict[int, list[int]]:
    """Per host asset of ``asset_ids``: the hours of [h0, h1) its agent delivered anything."""
    R = hourly(h0, h1)
    query = (
        sa.select(series.c.asset_id, R.c.hour)
        .distinct()
        .select_from(series.join(R, R.c.series_id == series.c.id))
        .where(
            series.c.asset_id.in_(asset_ids),
            series.c.metric == AGENT_UP,
            R.c.hour >= h0,
            R.c.hour < h1,
        )
    )
    out: dict[int, list[int]] = defaultdict(list)
    for r in source.conn.execute(query):
        out[int(r.asset_id)].append(int(r.hour))
    return out


def agent_hosts(source: ClientSeries) -> set[int]:
    """Assets that have an agent's ``upkeep_check_up`` series at all."""
    query = (
        sa.select(series.c.asset_id)
        .distinct()
        .select_from(series.join(assets, assets.c.id == series.c.asset_id))
        .where(assets.c.client_id == source.client_id, series.c.metric == AGENT_UP)
    )
    return {int(r.asset_id) for r in source.conn.execute(query)}


def expected_hours(first_seen: float, h0: int, h1: int) -> tuple[int, int]:
    """The hours of [h0, h1) from the hour of ``first_seen`` on."""
    start = max(h0, int(first_seen // HOUR) * HOUR)
    return start, max(start, h1)


def measure(
    source: ClientSeries,
    assets_by_id: Mapping[int, MeasuredAsset],
    h0: int,
    h1: int,
    now: float,
    *,
    detail: bool = True,
) -> Availability:
    """Availability of the client's assets ``assets_by_id`` and their services in hours
    [h0, h1) as of ``now``; ``detail`` adds the services and the downtime windows. Assets
    not in ``assets_by_id`` are left out; those in it but not measured are counted."""
    h0, h1 = span(now, h0, h1)
    rows: list[dict[str, Any]] = []
    up_total = measured_total = 0.0
    snmp_series: dict[int, int] = {}
    for ref, stats in hour_stats(source, [SNMP_UP], h0, h1):
        asset = assets_by_id.get(ref.asset_id)
        if asset is None:
            continue
        measured, up = stats.hours * HOUR, float(stats.avg_sum) * HOUR
        snmp_series[ref.id] = ref.asset_id
        rows.append(
            {
                "asset": asset.name,
                "kind": asset.kind,
                "site": asset.site,
                "source": "snmp",
                "hours": int(stats.hours),
                "down_seconds": round(measured - up, 3),
                "availability": percent(up, measured),
                "windows": (),
                "_series": ref.id,
            }
        )
        up_total, measured_total = up_total + up, measured_total + measured

    hosts = agent_hosts(source)
    present = agent_hours(source, h0, h1)
    expected_of = {
        a: expected_hours(assets_by_id[a].first_seen, h0, h1) for a in hosts if a in assets_by_id
    }
    maybe_short = [
        a
        for a, (start, end) in expected_of.items()
        if 0 < present.get(a, 0) < (end - start) // HOUR
    ]
    listed = agent_hour_list(source, maybe_short, h0, h1) if maybe_short else {}
    short: list[int] = []
    host_rows: dict[int, dict[str, Any]] = {}
    for asset_id in sorted(expected_of):
        asset = assets_by_id[asset_id]
        if asset_id in snmp_series.values():
            continue
        start, end = expected_of[asset_id]
        expected = (end - start) // HOUR
        if asset_id in listed:
            present[asset_id] = len({h for h in listed[asset_id] if start <= h < end})
        have = min(present.get(asset_id, 0), expected)
        if expected == 0 or have == 0:
            continue  # nothing at all from this agent in the period: not measured (not installed, retired)
        if have < expected:
            short.append(asset_id)
        row: dict[str, Any] = {
            "asset": asset.name,
            "kind": asset.kind,
            "site": asset.site,
            "source": "agent",
            "hours": int(expected),
            "down_seconds": float((expected - have) * HOUR),
            "availability": percent(have, expected),
            "windows": (),
        }
        host_rows[asset_id] = row
        rows.append(row)
        up_total, measured_total = up_total + have * HOUR, measured_total + expected * HOUR

    services: list[dict[str, Any]] = []
    service_series: dict[int, dict[str, Any]] = {}
    for ref, stats in hour_stats(source, SERVICE_METRICS, h0, h1) if detail else ():
        asset = assets_by_id.get(ref.asset_id)
        if asset is None:
            continue
        measured, up = stats.hours * HOUR, float(stats.avg_sum) * HOUR
        target = next((ref.labels[k] for k in SERVICE_LABELS if k in ref.labels), "")
        row = {
            "asset": asset.name,
            "service": ref.metric,
            "target": target,
            "hours": int(stats.hours),
            "down_seconds": round(measured - up, 3),
            "availability": percent(up, measured),
            "windows": (),
        }
        service_series[ref.id] = row
        services.append(row)

    if detail:
        bad: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for series_id, hour, avg in hours_below(source, [SNMP_UP, *SERVICE_METRICS], h0, h1):
            bad[series_id].append((hour, avg))
        by_series = {r.get("_series"): r for r in rows if r.get("_series") is not None}
        for series_id, hours in bad.items():
            target_row = by_series.get(series_id) or service_series.get(series_id)
            if target_row is not None:
                target_row["windows"] = _windows(hours)
        for asset_id in short:
            start, end = expected_hours(assets_by_id[asset_id].first_seen, h0, h1)
            host_rows[asset_id]["windows"] = _windows(
                missing_hours(listed.get(asset_id, []), start, end)
            )
    for row in rows:
        row.pop("_series", None)
    rows.sort(
        key=lambda r: (r["availability"] if r["availability"] is not None else 101, r["asset"])
    )
    services.sort(
        key=lambda r: (
            r["availability"] if r["availability"] is not None else 101,
            r["asset"],
            r["service"],
            r["target"],
        )
    )
    return Availability(
        start=h0,
        end=h1,
        overall=percent(up_total, measured_total),
        down_seconds=round(measured_total - up_total, 3),
        measured_assets=len(rows),
        unmeasured_assets=max(0, len(assets_by_id) - len(rows)),
        assets=tuple(AssetAvailability(**r) for r in rows),
        services=tuple(ServiceAvailability(**r) for r in services),
    )


def overall_by_period(
    source: ClientSeries,
    assets_by_id: Mapping[int, MeasuredAsset],
    bounds: Sequence[tuple[int, int]],
    now: float,
) -> list[float | None]:
    """Overall availability of each hour range (for trends): :func:`measure` without the
    services and downtime windows."""
    return [measure(source, assets_by_id, h0, h1, now, detail=False).overall for h0, h1 in bounds]


def _windows(hours: list[tuple[int, float]]) -> tuple[Downtime, ...]:
    return tuple(
        Downtime(w.start, w.end, round(w.down_seconds, 3)) for w in downtime_windows(hours)
    )
