"""The fleet overview router (collector/web/fleet.py) mounted alone on a bare app, on SQLite
and PostgreSQL: clients → sites → assets worst first, open incidents, silent agents by the
rules' one definition, disks and supplies running out within N days, filters, isolation."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from collector.web import fleet
from tests.web.bare import Session, anonymous, bare_app
from tests.web.health_kit import seed_asset
from tests.web.kit import World


@pytest.fixture
def app(world: World) -> Any:
    now = time.time()
    seed_asset(world.store, world.a.id, "web-01", "host", now=now, site="branch")  # disk: 3 days
    seed_asset(
        world.store, world.a.id, "prn-01", "printer", now=now, site="branch"
    )  # toner: 6 days
    seed_asset(world.store, world.b.id, "gx-ups", "ups", now=now)
    return bare_app(world, fleet.router)


def _rows(page: str) -> list[tuple[str, str]]:
    """(row kind, name) in page order."""
    return re.findall(
        r'<tr class="fleet-(client|site|asset) [^"]*"[^>]*><td>(?:&emsp;)*(?:<strong>)?<a href="[^"]*">([^<]+)</a>',
        page,
    )


def test_worst_first_with_counts_and_forecasts(world: World, app: Any) -> None:
    page = Session(app, world.store, "tech").get("/ui/fleet").text
    rows = _rows(page)
    # acme has a firing alert (seeded by the kit) and a silent agent: it comes first, and
    # within it the site "hq" (firing alert) before "branch".
    names = [name for _, name in rows]
    assert names.index("acme") < names.index("globex")
    assert names.index("hq") < names.index("branch") < names.index("web-01")
    # The seeded kit asset has a firing warning alert: its row says warning.
    assert re.search(
        r'fleet-asset worst-warning" data-asset="\d+"><td>&emsp;&emsp;<a href="/ui/assets/\d+">srv-anvil',
        page,
    )
    # Running out within 14 days: the disk (3 days) and the black toner (6 days), not cyan.
    assert "disk /: full in 3 days" in page
    assert "supply Black Toner: empty in 6 days" in page and "Cyan Toner" not in page
    # Silent agents: each kit client has one agent last seen 2 h ago (the rule says 5 min).
    assert "<strong>2</strong> agents silent" in page
    # A horizon of 5 days keeps the disk only.
    short = Session(app, world.store, "tech").get("/ui/fleet", params={"days": 5}).text
    assert "disk /: full in 3 days" in short and "Black Toner" not in short
    # Each row links down.
    assert 'href="/ui/fleet?client=acme&amp;site=branch&amp;days=14"' in page
    assert 'href="/ui/clients/acme"' in page


def test_filters(world: World, app: Any) -> None:
    tech = Session(app, world.store, "tech")
    page = tech.get("/ui/fleet", params={"client": "globex"}).text
    names = [name for _, name in _rows(page)]
    assert "globex" in names and "acme" not in names and "gx-ups" in names
    page = tech.get("/ui/fleet", params={"client": "acme", "site": "branch"}).text
    names = [name for _, name in _rows(page)]
    assert names == ["acme", "branch", "web-01", "prn-01"] or names == [
        "acme",
        "branch",
        "prn-01",
        "web-01",
    ]
    page = tech.get("/ui/fleet", params={"state": "warning"}).text
    assets = [name for kind, name in _rows(page) if kind == "asset"]
    assert sorted(assets) == ["srv-anvil", "srv-zeppelin"]
    assert tech.get("/ui/fleet", params={"state": "purple"}).status_code == 400


def test_isolation(world: World, app: Any) -> None:
    viewer = Session(app, world.store, "viewer-a")
    page = viewer.get("/ui/fleet").text
    names = [name for _, name in _rows(page)]
    assert "acme" in names and "globex" not in names and "gx-ups" not in names
    assert "zeppelin" not in page
    # Another client's name in the filter: as if it did not exist.
    assert viewer.get("/ui/fleet", params={"client": "globex"}).status_code == 404
    assert anonymous(app).get("/ui/fleet").status_code == 401
