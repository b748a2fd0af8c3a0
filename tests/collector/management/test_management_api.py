"""GET /api/v1/management/<view>: admin token only, JSON numbers of the hand-built October."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector import admin, timeutil
from collector.api import create_app
from collector.management.catalog import VIEWS
from collector.settings import Settings
from collector.store import Store
from tests.collector.management.scenario import NOW

pytestmark = pytest.mark.usefixtures("scenario")
OCTOBER = {"since": "2026-10-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}


def client_for(store: Store, tmp_path: Any, **values: Any) -> TestClient:
    settings = Settings.for_data_dir(
        tmp_path / "data",
        database_url=str(store.engine.url.render_as_string(hide_password=False)),
        **values,
    )
    return TestClient(create_app(settings, store=store, migrate=False, run_retention=False))


@pytest.fixture
def http(store: Store, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(timeutil, "now", lambda: NOW)
    token = admin.create_token(store, admin=True)[1]
    with client_for(store, tmp_path) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_every_view_needs_an_admin_token(store, tmp_path, view):
    agent = admin.create_token(store, client="acme")[1]
    with client_for(store, tmp_path) as client:
        assert client.get(f"/api/v1/management/{view}").status_code == 401
        denied = client.get(
            f"/api/v1/management/{view}", headers={"Authorization": f"Bearer {agent}"}
        )
        assert denied.status_code == 403


def test_created_vs_resolved_in_berlin_weeks(http):
    body = http.get(
        "/api/v1/management/created-resolved",
        params={**OCTOBER, "tz": "Europe/Berlin", "bucket": "week"},
    ).json()
    assert body["timezone"] == "Europe/Berlin" and body["bucket"] == "week"
    assert [(b["label"], b["created"], b["resolved"]) for b in body["buckets"]] == [
        ("2026-09-28", 1, 2),
        ("2026-10-05", 2, 1),
        ("2026-10-12", 1, 1),
        ("2026-10-19", 3, 0),
        ("2026-10-26", 0, 0),
    ]
    assert body["buckets"][0]["start"] == "2026-10-01T00:00:00Z"


def test_open_incidents_as_of_now(http):
    body = http.get("/api/v1/management/open-incidents").json()
    assert body["as_of"] == "2026-10-20T12:00:00Z"
    assert body["totals"] == {"<4h": 1, "4-24h": 1, "1-3d": 1, "3-7d": 1, ">7d": 1}


def test_sla_technicians_points_and_top_problems(http):
    sla = http.get("/api/v1/management/sla", params=OCTOBER).json()
    assert (
        sla["overall"]["response"]["percent"] == 60.0
        and sla["overall"]["resolution"]["percent"] == 40.0
    )
    techs = http.get("/api/v1/management/technicians", params=OCTOBER).json()
    assert [(r["actor"], r["total_minutes"]) for r in techs["rows"]] == [
        ("alice", 300),
        ("bob", 120),
        ("upkeep", 0),
    ]
    points = http.get("/api/v1/management/points", params=OCTOBER).json()
    assert points["overdrawn_clients"] == ["acme"] and points["charged"] == 1450
    top = http.get("/api/v1/management/top-problems", params={**OCTOBER, "limit": 1}).json()
    assert [(a["asset"], a["incidents"]) for a in top["assets_by_incidents"]] == [("srv1", 3)]


def test_time_vs_fee_uses_the_setting_unless_the_request_says(store, tmp_path, monkeypatch):
    token = admin.create_token(store, admin=True)[1]
    with client_for(store, tmp_path, management_hourly_cost="50") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        cheap = client.get("/api/v1/management/time-vs-fee", params=OCTOBER).json()
        assert cheap["hourly_cost"] == "50" and cheap["loss_clients"] == []
        dear = client.get(
            "/api/v1/management/time-vs-fee", params={**OCTOBER, "hourly_cost": "60"}
        ).json()
    assert dear["loss_clients"] == ["acme"]
    acme = dear["rows"][0]
    assert (acme["cost"], acme["fee"], acme["margin"], acme["currency"]) == (
        "105.00",
        "100.00",
        "-5.00",
        "EUR",
    )


def test_connectors_health(http):
    body = http.get("/api/v1/management/connectors", params=OCTOBER).json()
    jira = body["connectors"][0]
    assert (jira["name"], jira["pending"], jira["failed"], jira["oldest_pending_age_seconds"]) == (
        "jira",
        2,
        1,
        7200,
    )
    assert body["notification_problems"][0]["last_error"] == "SMTP 550 mailbox unavailable"


@pytest.mark.parametrize(
    ("path", "params", "status", "text"),
    [
        ("created-resolved", {"tz": "Mars/Olympus"}, 400, "tz: unknown time zone"),
        ("created-resolved", {"tz": "Europe"}, 400, "tz: unknown time zone"),
        ("created-resolved", {"tz": "x y"}, 422, "tz"),
        ("created-resolved", {"bucket": "month"}, 422, "bucket"),
        ("created-resolved", {"since": "2020-01-01T00:00:00Z"}, 400, "at most 400 buckets"),
        (
            "sla",
            {"since": "2026-10-02T00:00:00Z", "until": "2026-10-01T00:00:00Z"},
            400,
            "since must be before until",
        ),
        ("points", {"until": "not a date"}, 422, "until"),
        ("top-problems", {"limit": 0}, 422, "limit"),
        ("time-vs-fee", {"hourly_cost": "-1"}, 422, "hourly_cost"),
    ],
)
def test_bad_parameters_are_named(http, path, params, status, text):
    response = http.get(f"/api/v1/management/{path}", params=params)
    assert response.status_code == status
    assert text in response.json()["detail"]


def test_openapi_documents_every_view_with_its_response_model(http):
    paths = http.get("/openapi.json").json()["paths"]
    for name in VIEWS:
        get = paths[f"/api/v1/management/{name}"]["get"]
        assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].startswith(
            "#/components/schemas/"
        )
        assert "401" in get["responses"] and "403" in get["responses"]


def test_hourly_cost_setting_comes_from_the_environment_and_is_validated():
    from agent.yamlsource import ConfigError
    from collector.settings import load_settings

    env = {"UPKEEP_DATA_DIR": "/nonexistent/upkeep"}
    assert load_settings(environ=env).management_hourly_cost == Decimal(60)
    assert load_settings(
        environ={**env, "UPKEEP_MANAGEMENT_HOURLY_COST": "72.50"}
    ).management_hourly_cost == Decimal("72.50")
    with pytest.raises(ConfigError, match="UPKEEP_MANAGEMENT_HOURLY_COST: management_hourly_cost"):
        load_settings(environ={**env, "UPKEEP_MANAGEMENT_HOURLY_COST": "-1"})
