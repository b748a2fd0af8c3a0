"""The management page of satisfaction ratings (/ui/management/satisfaction): the management
router the web UI mounts, alone on a bare app with real sessions (no browser). Staff see every
client's ratings with averages and links to the incidents; client viewers see none (403)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from collector.management.web import router as management_pages
from collector.schema import incident_closings, incidents
from tests.web.bare import Session, anonymous, bare_app
from tests.web.kit import NOW, World


def _rate(world: World, key: str, client_id: int, rating: int, answered: float) -> None:
    with world.store.write() as conn:
        incident_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.key == key)
        ).scalar_one()
        conn.execute(
            incident_closings.insert().values(
                incident_id=incident_id,
                client_id=client_id,
                token_id=f"tok-{key}",
                kind="closing",
                state="confirmed",
                resolved_at=answered - 3600,
                due_at=answered - 3000,
                sent_at=answered - 3000,
                answered_at=answered,
                answered_by="client",
                answered_via="link",
                rating=rating,
                created_at=answered - 3600,
            )
        )


@pytest.fixture
def app(world: World):
    # acme rated 4 and globex 1, both within the page's default range (the last 30 days).
    _rate(world, world.a.incident, world.a.id, 4, NOW - 86400)
    _rate(world, world.b.incident, world.b.id, 1, NOW - 2 * 86400)
    return bare_app(world, management_pages)


def cells(html: str) -> list[str]:
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in found]


def test_staff_see_every_clients_ratings_with_averages_and_links(world: World, app) -> None:
    page = Session(app, world.store, "tech").get("/ui/management/satisfaction")
    assert page.status_code == 200, page.text
    html = page.text
    # (4 + 1) / 2 = 2.5
    assert "2 ratings in the range, on average <strong>2.5 / 5</strong>." in html
    c = cells(html)
    i = c.index("acme")
    assert c[i : i + 3] == ["acme", "1", "4.0 / 5"]
    i = c.index("globex")
    assert c[i : i + 3] == ["globex", "1", "1.0 / 5"]
    assert f'<a href="/ui/incidents/{world.a.incident}">{world.a.incident}</a>' in html
    assert f'<a href="/ui/incidents/{world.b.incident}">' in html
    assert "None" not in re.sub(r"<[^>]+>", " ", html)


def test_one_clients_page_and_filters(world: World, app) -> None:
    admin = Session(app, world.store, "root")
    html = admin.get("/ui/management/satisfaction", params={"client": "acme"}).text
    assert "1 rating in the range for acme, on average <strong>4.0 / 5</strong>." in html
    assert world.b.incident not in html


@pytest.mark.parametrize("viewer", ["viewer-a", "viewer-b"])
def test_client_viewers_never_see_ratings(world: World, app, viewer: str) -> None:
    for params in ({}, {"client": "acme"}, {"client": "globex"}):
        page = Session(app, world.store, viewer).get("/ui/management/satisfaction", params=params)
        assert page.status_code == 403
        assert world.a.incident not in page.text and world.b.incident not in page.text
    assert anonymous(app).get("/ui/management/satisfaction").status_code == 401
