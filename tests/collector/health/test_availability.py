"""Availability, the assets domain's read model (collector.health.availability), on hand-made
hourly rollups over ten hours (SQLite and PostgreSQL).

By hand, hours 0–9 from H0:
- sw1 (SNMP): ``snmp_up`` 1 every hour but hour 3 (average 0.5) and hour 4 (no poll at all:
  no data, left out): 8.5 h up of 9 measured = 94.444 %, 1800 s down in hour 3;
- pc1 (agent): nothing in hours 6 and 7: 8 of 10 hours = 80 %, 7200 s down in one window;
  its ping of 8.8.8.8 failed in hour 9: 9 of 10 = 90 %;
- pc2 (agent) first seen in hour 5: 5 of 5 hours = 100 %;
- old (an agent series, nothing in the range) and nas (no series): not measured;
- overall (8.5 + 8 + 5) / (9 + 10 + 5) = 21.5 / 24 = 89.583 %, 2.5 h = 9000 s down.
Another client's switch is down all the time and counts nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from collector import admin
from collector.health import availability
from collector.health.hours import OfClient
from collector.ingest import canonical_labels, labels_hash
from collector.schema import assets, rollups_hourly, series

H = 3600
H0 = 1_700_000_000 // H * H  # long past: hours before the migration count as built
END = H0 + 10 * H


@dataclass(frozen=True)
class Asset:
    name: str
    kind: str
    site: str | None
    first_seen: float


def _asset(conn: Any, client_id: int, name: str, kind: str, first_seen: float) -> int:
    return conn.execute(
        assets.insert().values(
            client_id=client_id,
            name=name,
            kind=kind,
            tags=[],
            attributes={},
            first_seen=first_seen,
            last_seen=END,
        )
    ).inserted_primary_key[0]


def _series(conn: Any, asset_id: int, metric: str, up: dict[int, float], **labels: str) -> None:
    """``up``: hour index → the hour's average (12 samples)."""
    canonical = canonical_labels(labels)
    sid = conn.execute(
        series.insert().values(
            asset_id=asset_id, metric=metric, labels=canonical, labels_hash=labels_hash(canonical)
        )
    ).inserted_primary_key[0]
    if up:
        conn.execute(
            rollups_hourly.insert(),
            [
                {
                    "series_id": sid,
                    "hour": H0 + h * H,
                    "min": 0.0 if avg < 1 else 1.0,
                    "max": 1.0 if avg > 0 else 0.0,
                    "sum": avg * 12,
                    "count": 12,
                    "last": avg,
                    "last_ts": H0 + h * H + 3000,
                }
                for h, avg in sorted(up.items())
            ],
        )


@pytest.fixture
def fleet(store):
    acme = admin.create_client(store, "acme").id
    other = admin.create_client(store, "other").id
    before = H0 - 10 * 86400
    found: dict[int, Asset] = {}
    with store.write() as conn:

        def asset(name: str, kind: str, first_seen: float = before) -> int:
            aid = _asset(conn, acme, name, kind, first_seen)
            found[aid] = Asset(name, kind, None, first_seen)
            return aid

        sw1 = asset("sw1", "switch")
        _series(conn, sw1, "snmp_up", {h: 0.5 if h == 3 else 1.0 for h in range(10) if h != 4})
        pc1 = asset("pc1", "server")
        _series(conn, pc1, "upkeep_check_up", {h: 1.0 for h in range(10) if h not in (6, 7)})
        _series(
            conn, pc1, "ping_up", {h: 0.0 if h == 9 else 1.0 for h in range(10)}, target="8.8.8.8"
        )
        pc2 = asset("pc2", "server", first_seen=H0 + 5 * H + 10)
        _series(conn, pc2, "upkeep_check_up", {h: 1.0 for h in range(5, 10)})
        old = asset("old", "server")
        _series(conn, old, "upkeep_check_up", {})
        asset("nas", "nas")
        theirs = _asset(conn, other, "sw9", "switch", before)
        _series(conn, theirs, "snmp_up", {h: 0.0 for h in range(10)})
    return store, acme, found


def test_availability_per_asset_and_service(fleet) -> None:
    store, acme, found = fleet
    with store.read() as conn:
        a = availability.measure(OfClient(conn, acme), found, H0, END, END + 300)
    assert (a.start, a.end, a.overall, a.down_seconds) == (H0, END, 89.583, 9000.0)
    assert (a.measured_assets, a.unmeasured_assets) == (3, 2)
    Down = availability.Downtime
    assert [(r.asset, r.source, r.hours, r.availability, r.down_seconds) for r in a.assets] == [
        ("pc1", "agent", 10, 80.0, 7200.0),
        ("sw1", "snmp", 9, 94.444, 1800.0),
        ("pc2", "agent", 5, 100.0, 0.0),
    ]
    assert [r.windows for r in a.assets] == [
        (Down(H0 + 6 * H, H0 + 8 * H, 7200.0),),
        (Down(H0 + 3 * H, H0 + 4 * H, 1800.0),),
        (),
    ]
    [ping] = a.services
    assert (ping.asset, ping.service, ping.target, ping.hours) == ("pc1", "ping_up", "8.8.8.8", 10)
    assert (ping.availability, ping.down_seconds) == (90.0, 3600.0)
    assert ping.windows == (Down(H0 + 9 * H, END, 3600.0),)


def test_only_the_hours_ended_by_now_count(fleet) -> None:
    store, acme, found = fleet
    with store.read() as conn:
        a = availability.measure(OfClient(conn, acme), found, H0, END, H0 + 5 * H + 1800)
    # hours 0–4: sw1 3.5 of 4, pc1 5 of 5; pc2 was not there yet
    assert (a.end, a.overall, a.measured_assets) == (H0 + 5 * H, 94.444, 2)
    assert {r.asset: r.availability for r in a.assets} == {"sw1": 87.5, "pc1": 100.0}


def test_without_detail_and_per_period(fleet) -> None:
    store, acme, found = fleet
    with store.read() as conn:
        source = OfClient(conn, acme)
        brief = availability.measure(source, found, H0, END, END, detail=False)
        trend = availability.overall_by_period(
            source, found, [(H0 - 5 * H, H0), (H0, H0 + 5 * H), (H0, END)], END
        )
    assert brief.services == () and all(r.windows == () for r in brief.assets)
    assert brief.overall == 89.583
    assert trend == [None, 94.444, 89.583]  # nothing measured before H0


def test_nothing_measured() -> None:
    assert availability.span(H0 + 1, H0, END) == (H0, H0)  # no hour has ended yet
    assert availability.expected_hours(H0 + 3 * H + 5, H0, END) == (H0 + 3 * H, END)
    assert availability.expected_hours(END + H, H0, END) == (END + H, END + H)
