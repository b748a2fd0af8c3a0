"""The asset overview router (collector/web/asset_pages.py) mounted alone on a bare app, on
SQLite and PostgreSQL: health at a glance with units, every series listed by check and
searchable, chart data from raw samples and rollups (bounded points), tenant isolation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from collector.web import asset_pages
from tests.web.bare import Session, anonymous, bare_app
from tests.web.health_kit import seed_asset
from tests.web.kit import World


@pytest.fixture
def seeded(world: World) -> dict[str, Any]:
    now = time.time()
    host = seed_asset(world.store, world.a.id, "web-01", "host", now=now)
    printer = seed_asset(world.store, world.a.id, "prn-01", "printer", now=now)
    ups = seed_asset(world.store, world.a.id, "ups-01", "ups", now=now)
    other = seed_asset(world.store, world.b.id, "gx-01", "host", now=now)
    app = bare_app(world, asset_pages.router)
    return {"app": app, "host": host, "printer": printer, "ups": ups, "other": other}


def test_health_at_a_glance_in_units(world: World, seeded: dict[str, Any]) -> None:
    admin = Session(seeded["app"], world.store, "root")
    page = admin.get(f"/ui/assets/{seeded['host']['asset']}")
    assert page.status_code == 200, page.text
    text = page.text
    # Gauges with units, uptime in days, the disk's free space and forecast.
    assert '<span class="tile-title">CPU</span>' in text and " %</strong>" in text
    assert "4.4 GiB of 8 GiB" in text
    assert "<strong>3 days</strong>" in text
    assert "100 GiB" in text and "in 3 days" in text  # 88 % now, +4 points a day
    # No raw float anywhere in the series list: bytes are GiB, uptime is days.
    assert "8589934592" not in text and "GiB" in text
    # Every series listed (8 seeded), grouped by the check that sends it.
    assert "(8 of 8)" in text
    for check in ("cpu", "memory", "disk", "uptime"):
        assert f'<h3 class="check-group">{check}</h3>' in text
    assert text.count('class="show-chart"') == 8

    printer = admin.get(f"/ui/assets/{seeded['printer']['asset']}").text
    assert "supply supply-black" in printer and "supply supply-cyan" in printer
    assert "Black Toner" in printer and 'class="badge">ok<' in printer
    ups = admin.get(f"/ui/assets/{seeded['ups']['asset']}").text
    assert "<strong>100 %</strong> Battery charge" in ups
    assert "<strong>40 minutes</strong> Runtime on battery" in ups
    assert "<strong>mains</strong> Power source" in ups


def test_series_search(world: World, seeded: dict[str, Any]) -> None:
    admin = Session(seeded["app"], world.store, "root")
    page = admin.get(f"/ui/assets/{seeded['host']['asset']}", params={"q": "disk"}).text
    assert "(3 of 8)" in page and "cpu_usage_percent</td>" not in page
    page = admin.get(f"/ui/assets/{seeded['host']['asset']}", params={"q": "nothing-like-it"}).text
    assert "No series matches" in page


RANGES = [
    ("1h", "raw", 50),
    ("1d", "raw+rollups", 40),
    ("7d", "raw+rollups", 160),
    ("30d", "rollups", 120),
]


def test_chart_data_from_raw_and_rollups(world: World, seeded: dict[str, Any]) -> None:
    admin = Session(seeded["app"], world.store, "root")
    asset, sid = seeded["host"]["asset"], seeded["host"]["disk_used_percent"]
    for range_, source, least in RANGES:
        body = admin.get(f"/ui/assets/{asset}/series/{sid}/data", params={"range": range_}).json()
        assert body["unit"] == "percent" and body["metric"] == "disk_used_percent"
        assert body["source"] == source, range_
        assert least <= len(body["t"]) <= 600, range_
        assert body["t"] == sorted(body["t"]) and body["t"][0] >= body["since"]
        # The disk fills: the last point is higher than the first; min <= avg <= max.
        assert body["avg"][-1] > body["avg"][0]
        assert all(
            lo <= a <= hi for lo, a, hi in zip(body["min"], body["avg"], body["max"], strict=True)
        )
        # Bounded: asking for 20 points gives at most 20.
        small = admin.get(
            f"/ui/assets/{asset}/series/{sid}/data", params={"range": range_, "points": 20}
        ).json()
        assert 1 <= len(small["t"]) <= 20


def test_chart_data_refuses_bad_ranges(world: World, seeded: dict[str, Any]) -> None:
    admin = Session(seeded["app"], world.store, "root")
    asset, sid = seeded["host"]["asset"], seeded["host"]["cpu_usage_percent"]
    assert (
        admin.get(f"/ui/assets/{asset}/series/{sid}/data", params={"range": "2y"}).status_code
        == 422
    )
    assert (
        admin.get(f"/ui/assets/{asset}/series/{sid}/data", params={"points": 10**6}).status_code
        == 422
    )
    # A series of another asset under this asset's path: not found.
    wrong = seeded["printer"]["printer_supply_level_percent"]
    assert admin.get(f"/ui/assets/{asset}/series/{wrong}/data").status_code == 404


def test_isolation(world: World, seeded: dict[str, Any]) -> None:
    app = seeded["app"]
    mine, theirs = seeded["host"], seeded["other"]
    viewer = Session(app, world.store, "viewer-a")
    assert viewer.get(f"/ui/assets/{mine['asset']}").status_code == 200
    data = viewer.get(f"/ui/assets/{mine['asset']}/series/{mine['cpu_usage_percent']}/data")
    assert data.status_code == 200
    # Another client's asset and its chart data: as if they did not exist.
    assert viewer.get(f"/ui/assets/{theirs['asset']}").status_code == 404
    answer = viewer.get(f"/ui/assets/{theirs['asset']}/series/{theirs['cpu_usage_percent']}/data")
    assert answer.status_code == 404 and "gx-01" not in answer.text
    # Their series under my asset's path: not found either.
    answer = viewer.get(f"/ui/assets/{mine['asset']}/series/{theirs['cpu_usage_percent']}/data")
    assert answer.status_code == 404
    # No session: refused.
    assert anonymous(app).get(f"/ui/assets/{mine['asset']}").status_code == 401
    assert (
        anonymous(app)
        .get(f"/ui/assets/{mine['asset']}/series/{mine['cpu_usage_percent']}/data")
        .status_code
        == 401
    )
