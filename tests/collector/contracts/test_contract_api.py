"""Contracts through the API (admin token): list, get, put (422 naming the field, 409 for a
file-managed contract), delete, reload (a bad file keeps the stored contract); preventive-work
endpoints on the same app. SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap

import pytest
from fastapi.testclient import TestClient

from collector import admin
from collector.api import create_app
from collector.incidents import noise
from collector.settings import Settings

GOOD = textwrap.dedent("""\
    client: acme
    plan: {name: Business Care, monthly_fee: 1450, currency: EUR}
    calendar: {timezone: Europe/Berlin}
    maintenance_tasks:
      - {id: verify-backups, title: Verify backups, every: monthly}
    """)

GLOBEX = {
    "client": "globex",
    "plan": {"name": "Gold"},
    "calendar": {"timezone": "America/New_York"},
    "points": {"allotment": 20, "rates": {"default": 1.5}},
    "maintenance_tasks": [{"id": "os-updates", "title": "Apply OS updates", "every": "weekly"}],
}


@pytest.fixture(autouse=True)
def _restore_noise_control():
    previous = noise.control()
    yield
    noise.configure(previous)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "contracts"
    path.mkdir()
    (path / "acme.yaml").write_text(GOOD)
    return path


@pytest.fixture
def http(store, db_url, tmp_path, folder):
    admin.create_client(store, "acme")
    admin.create_client(store, "globex")
    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, contracts_paths=[folder]
    )
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    with TestClient(app) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_contracts_api(http, store, admin_token, folder) -> None:
    h = auth(admin_token)
    listed = http.get("/api/v1/contracts", headers=h).json()
    managed = str((folder / "acme.yaml").resolve())
    assert [(c["client"], c["plan"], c["managed_by_file"], c["version"]) for c in listed] == [
        ("acme", "Business Care", managed, 1)
    ]

    refused = http.put("/api/v1/contracts/acme", json={**GLOBEX, "client": "acme"}, headers=h)
    assert refused.status_code == 409 and refused.json()["error"] == "managed_by_file"
    assert managed in refused.json()["detail"]
    assert http.delete("/api/v1/contracts/acme", headers=h).status_code == 409

    put = http.put("/api/v1/contracts/globex", json=GLOBEX, headers=h)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["version"] == 1 and body["source"] == "api" and body["managed_by_file"] is None
    assert body["contract"]["points"]["rates"] == {"default": "1.50"}
    assert (
        http.put("/api/v1/contracts/globex", json=GLOBEX, headers=h).json()["version"] == 1
    )  # unchanged
    changed = {**GLOBEX, "plan": {"name": "Platinum"}}
    assert http.put("/api/v1/contracts/globex", json=changed, headers=h).json()["version"] == 2
    no_client = {k: v for k, v in changed.items() if k != "client"}
    assert (
        http.put("/api/v1/contracts/globex", json=no_client, headers=h).status_code == 200
    )  # from the URL

    bad = http.put(
        "/api/v1/contracts/globex",
        json={**GLOBEX, "calendar": {"timezone": "Mars/Base"}},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_contract"
    assert bad.json()["fields"][0]["loc"] == "calendar.timezone"
    assert "unknown time zone 'Mars/Base'" in bad.json()["detail"]
    unknown_key = http.put("/api/v1/contracts/globex", json={**GLOBEX, "plna": {}}, headers=h)
    assert unknown_key.status_code == 422 and "plna" in unknown_key.json()["detail"]
    other = http.put("/api/v1/contracts/globex", json={**GLOBEX, "client": "acme"}, headers=h)
    assert other.status_code == 422 and "the URL names 'globex'" in other.json()["detail"]
    assert (
        http.put(
            "/api/v1/contracts/initech", json=GLOBEX | {"client": "initech"}, headers=h
        ).status_code
        == 404
    )

    got = http.get("/api/v1/contracts/globex", headers=h).json()
    assert (
        got["plan"] == "Platinum" and got["contract"]["calendar"]["timezone"] == "America/New_York"
    )
    assert http.delete("/api/v1/contracts/globex", headers=h).status_code == 204
    assert http.get("/api/v1/contracts/globex", headers=h).status_code == 404
    assert http.delete("/api/v1/contracts/globex", headers=h).status_code == 404


def test_reload_refuses_a_bad_file_and_keeps_the_stored_contract(http, admin_token, folder) -> None:
    h = auth(admin_token)
    (folder / "acme.yaml").write_text(GOOD.replace("Europe/Berlin", "Europe/Atlantis"))
    answer = http.post("/api/v1/contracts/reload", headers=h)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        f"{folder / 'acme.yaml'}:3: calendar.timezone: unknown time zone "
        f"'Europe/Atlantis' (use an IANA name like 'Europe/Berlin')"
    ]
    assert (
        http.get("/api/v1/contracts/acme", headers=h).json()["contract"]["calendar"]["timezone"]
        == "Europe/Berlin"
    )
    (folder / "acme.yaml").write_text(GOOD.replace("Europe/Berlin", "Europe/Vienna"))
    ok = http.post("/api/v1/contracts/reload", headers=h)
    assert ok.status_code == 200 and ok.json()["loaded"][0]["version"] == 2
    assert (
        http.get("/api/v1/contracts/acme", headers=h).json()["contract"]["calendar"]["timezone"]
        == "Europe/Vienna"
    )


def test_contracts_need_an_admin_token(http, store) -> None:
    _, agent = admin.create_token(store, client="acme")
    assert http.get("/api/v1/contracts", headers=auth(agent)).status_code == 403
    assert http.get("/api/v1/contracts/acme").status_code == 401
    assert (
        http.post(
            "/api/v1/clients/acme/preventive",
            json={"task_id": "x", "minutes": 1},
            headers=auth(agent),
        ).status_code
        == 403
    )


def test_preventive_endpoints(http, admin_token) -> None:
    h = auth(admin_token)
    done = http.post(
        "/api/v1/clients/acme/preventive",
        headers=h,
        json={"task_id": "verify-backups", "minutes": 30, "note": "test restore ok", "by": "bob"},
    )
    assert done.status_code == 201, done.text
    item = done.json()
    assert (item["kind"], item["task_id"], item["actor"], item["minutes"]) == (
        "task",
        "verify-backups",
        "bob",
        30,
    )
    assert item["evidence"]["text"] == "Verify backups"
    listed = http.get("/api/v1/clients/acme/preventive", headers=h).json()
    assert [i["id"] for i in listed] == [item["id"]]
    assert (
        http.get("/api/v1/clients/acme/preventive", params={"period": "2020-01"}, headers=h).json()
        == []
    )
    assert (
        http.get(
            "/api/v1/clients/acme/preventive", params={"period": "2020-13"}, headers=h
        ).status_code
        == 400
    )
    [status] = http.get("/api/v1/clients/acme/preventive/tasks", headers=h).json()
    assert (
        status["task_id"] == "verify-backups" and status["overdue"] is False and status["done"] == 1
    )
    unknown = http.post(
        "/api/v1/clients/acme/preventive", headers=h, json={"task_id": "nope", "minutes": 1}
    )
    assert unknown.status_code == 404 and "no maintenance task 'nope'" in unknown.json()["detail"]
    no_contract = http.post(
        "/api/v1/clients/globex/preventive", headers=h, json={"task_id": "x", "minutes": 1}
    )
    assert no_contract.status_code == 404 and "has no contract" in no_contract.json()["detail"]


def test_the_app_wires_scope_and_preventive_work_into_incidents(http) -> None:
    from collector.contracts import scope
    from collector.incidents import pipeline
    from collector.incidents.runtime import rule_metric
    from collector.preventive import PreventiveRecorder

    runtime = http.app.state.incidents
    listeners = runtime.service.listeners
    # Scope is a pipeline stage (its decision labels the incident), not a listener.
    assert scope.scope_stage in pipeline.stages() and scope.scope_stage in pipeline.stages(True)
    assert not any(getattr(x, "__module__", "") == scope.__name__ for x in listeners)
    recorder = next(x for x in listeners if isinstance(x, PreventiveRecorder))
    assert recorder.metric_of("disk-space") == "disk_used_percent"  # from the shipped rules
    assert recorder.metric_of("no-such-rule") is None
    assert rule_metric(http.app.state.rules, "toner-low") == "printer_supply_level_percent"
    assert runtime.workers.incident_listeners is listeners
