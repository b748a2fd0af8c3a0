"""The satisfaction view (closing ratings) over the hand-built October of scenario.py: per
client, technician and month with averages, each rating linked to its incident; the API for
admin tokens only.

Ratings answered in October: A1 (acme, alice resolved it) 5, A2 (acme, cleared by itself:
``upkeep``) 4, G1 (globex, bob) 2 — reopened; G4's automatic close has no rating.
  overall 3 ratings, (5 + 4 + 2) / 3 = 11 / 3 = 3.67
  acme 2: (5 + 4) / 2 = 4.5 · globex 1: 2.0
  alice 5.0 · bob 2.0 · upkeep 4.0 (one each: by name)
  2026-10: 3, 3.67
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector import admin, timeutil
from collector.management.periods import TimeRange, time_zone
from collector.management.satisfaction import satisfaction_view
from collector.store import Store
from tests.collector.management.scenario import NOW, at
from tests.collector.management.test_management_api import OCTOBER, client_for

pytestmark = pytest.mark.usefixtures("scenario")
SCORES = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def figures(rows: list[Any]) -> list[tuple[str, int, float | None]]:
    return [(f.key, f.count, f.average) for f in rows]


def test_ratings_per_client_technician_and_month(read, october) -> None:
    view = read(satisfaction_view, october, time_zone("Europe/Berlin"))
    assert (view.overall.count, view.overall.average) == (3, 3.67)
    assert view.overall.per_score == {**SCORES, 2: 1, 4: 1, 5: 1}
    assert figures(view.by_client) == [("acme", 2, 4.5), ("globex", 1, 2.0)]
    assert figures(view.by_technician) == [("alice", 1, 5.0), ("bob", 1, 2.0), ("upkeep", 1, 4.0)]
    assert figures(view.by_month) == [("2026-10", 3, 3.67)]
    assert [(r.incident, r.url, r.technician, r.rating, r.answer) for r in view.ratings] == [
        ("UPK-globex-1", "/ui/incidents/UPK-globex-1", "bob", 2, "reopened"),
        ("UPK-acme-2", "/ui/incidents/UPK-acme-2", "upkeep", 4, "confirmed"),
        ("UPK-acme-1", "/ui/incidents/UPK-acme-1", "alice", 5, "confirmed"),
    ]
    assert view.ratings[0].comment == "Still slow."


def test_filters_by_client_technician_and_range(read, october) -> None:
    berlin = time_zone("Europe/Berlin")
    acme = read(satisfaction_view, october, berlin, client="acme")
    assert [r.client for r in acme.ratings] == ["acme", "acme"]
    assert figures(acme.by_client) == [("acme", 2, 4.5)]
    bob = read(satisfaction_view, october, berlin, technician="bob")
    assert [r.incident for r in bob.ratings] == ["UPK-globex-1"]
    # Answered 2 Oct 15:00 UTC .. 7 Oct 09:00: a range of 3–7 Oct holds A2's only.
    span = TimeRange(at("2026-10-03 00:00"), at("2026-10-08 00:00"))
    assert [r.incident for r in read(satisfaction_view, span, berlin).ratings] == ["UPK-acme-2"]
    empty = read(
        satisfaction_view, TimeRange(at("2026-11-01 00:00"), at("2026-12-01 00:00")), berlin
    )
    assert (empty.overall.count, empty.overall.average, empty.by_client) == (0, None, [])


@pytest.fixture
def http(store: Store, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(timeutil, "now", lambda: NOW)
    with client_for(store, tmp_path) as client:
        yield client


def test_api_gives_the_same_figures_to_admin_tokens_only(store: Store, http: TestClient) -> None:
    admin_token = admin.create_token(store, admin=True)[1]
    agent_token = admin.create_token(store, client="acme")[1]
    url = "/api/v1/management/satisfaction"
    staff = {"Authorization": f"Bearer {admin_token}"}

    answer = http.get(url, params={**OCTOBER, "tz": "Europe/Berlin"}, headers=staff)
    acme = http.get(url, params={**OCTOBER, "client": "acme"}, headers=staff)
    refused = http.get(url, params=OCTOBER, headers={"Authorization": f"Bearer {agent_token}"})
    anonymous = http.get(url, params=OCTOBER)
    bad = http.get(url, params={**OCTOBER, "tz": "Mars/Base"}, headers=staff)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["overall"]["count"], body["overall"]["average"]) == (3, 3.67)
    assert [(c["key"], c["average"]) for c in body["by_client"]] == [("acme", 4.5), ("globex", 2.0)]
    assert body["ratings"][0]["url"] == "/ui/incidents/UPK-globex-1"
    assert body["ratings"][0]["answered_at"] == "2026-10-13T10:00:00Z"
    assert body["timezone"] == "Europe/Berlin"
    # A client's agent token sees nobody's ratings, not even its own client's.
    assert refused.status_code == 403 and anonymous.status_code == 401
    assert {r["client"] for r in acme.json()["ratings"]} == {"acme"}
    assert bad.status_code == 400 and "tz" in bad.text
