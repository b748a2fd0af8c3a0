"""SLA over HTTP (admin API) and the ``upkeep`` CLI: waiting states, priority changes, the
incident detail's ``sla`` section, compliance per period."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from collector import admin
from collector.cli import app
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.incidents.service import IncidentService
from collector.store import Store

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "calendar": {"timezone": "UTC", "always_on": ["major"]},
    "sla": {"major": {"response": "1h", "resolution": "8h"}},
}


def add_acme(store: Store) -> None:
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        put_contract(
            conn, client.id, Contract.model_validate(CONTRACT), source="test", actor="t", now=0
        )


@pytest.fixture
def auth(store, admin_token):
    add_acme(store)
    admin.create_client(store, "globex")
    return {"Authorization": f"Bearer {admin_token}"}


def this_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_wait_resume_priority_and_the_sla_section(api, auth):
    created = api.post(
        "/api/v1/incidents",
        headers=auth,
        json={"client": "acme", "title": "Mail down", "priority": "major", "by": "alice"},
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert created.json()["sla"]["response"]["clock"] == "calendar"  # major is always_on

    done = api.post(
        f"/api/v1/incidents/{key}/wait",
        headers=auth,
        json={"reason": "waiting_for_client", "note": "password?", "by": "bob"},
    )
    assert done.json() == {"key": key, "event": "waiting"}
    detail = api.get(f"/api/v1/incidents/{key}", headers=auth).json()
    assert detail["state"] == "waiting_for_client" and detail["acknowledged_at"] is not None
    sla = detail["sla"]
    assert sla["state"] == "paused" and sla["response"]["state"] == "stopped"
    assert [(p["reason"], p["ended_at"], p["actor"]) for p in sla["pauses"]] == [
        ("waiting_for_client", None, "bob")
    ]

    again = api.post(
        f"/api/v1/incidents/{key}/wait", headers=auth, json={"reason": "waiting_for_client"}
    )
    assert again.status_code == 400 and "already" in again.json()["detail"]
    assert (
        api.post(
            f"/api/v1/incidents/{key}/wait", headers=auth, json={"reason": "lunch"}
        ).status_code
        == 422
    )

    assert api.post(f"/api/v1/incidents/{key}/resume", headers=auth).json()["event"] == "resumed"
    assert api.post(f"/api/v1/incidents/{key}/resume", headers=auth).status_code == 400
    changed = api.post(
        f"/api/v1/incidents/{key}/priority", headers=auth, json={"priority": "minor", "by": "carol"}
    )
    assert changed.json()["event"] == "priority_changed"
    assert (
        api.post(
            f"/api/v1/incidents/{key}/priority", headers=auth, json={"priority": "urgent"}
        ).status_code
        == 422
    )
    # the contract has no minor targets: no SLA applies any more, the pause history stays
    detail = api.get(f"/api/v1/incidents/{key}", headers=auth).json()
    assert detail["priority"] == "minor" and detail["sla"] is None
    api.post(f"/api/v1/incidents/{key}/priority", headers=auth, json={"priority": "major"})
    sla = api.get(f"/api/v1/sla/incidents/{key}", headers=auth).json()
    assert (
        sla["state"] == "running"
        and len(sla["pauses"]) == 1
        and sla["pauses"][0]["ended_at"] is not None
    )


def test_compliance_endpoint(api, auth):
    key = api.post(
        "/api/v1/incidents",
        headers=auth,
        json={"client": "acme", "title": "VPN", "priority": "major"},
    ).json()["key"]
    api.post(f"/api/v1/incidents/{key}/acknowledge", headers=auth)
    api.post(f"/api/v1/incidents/{key}/resolve", headers=auth, json={"note": "fixed"})
    got = api.get(
        "/api/v1/sla/compliance", headers=auth, params={"client": "acme", "period": this_period()}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["client"] == "acme" and body["timezone"] == "UTC"
    assert body["priorities"]["major"] == {
        "incidents": 1,
        "response": {"met": 1, "breached": 0, "pending": 0, "percent": 100.0},
        "resolution": {"met": 1, "breached": 0, "pending": 0, "percent": 100.0},
    }
    assert (
        api.get(
            "/api/v1/sla/compliance", headers=auth, params={"client": "acme", "period": "2020-01"}
        ).json()["priorities"]
        == {}
    )
    assert (
        api.get(
            "/api/v1/sla/compliance",
            headers=auth,
            params={"client": "globex", "period": this_period()},
        ).status_code
        == 404
    )
    assert (
        api.get(
            "/api/v1/sla/compliance",
            headers=auth,
            params={"client": "nobody", "period": this_period()},
        ).status_code
        == 404
    )
    assert (
        api.get(
            "/api/v1/sla/compliance", headers=auth, params={"client": "acme", "period": "2026-13"}
        ).status_code
        == 400
    )
    assert (
        api.get(
            "/api/v1/sla/compliance", headers=auth, params={"client": "acme", "period": "oct"}
        ).status_code
        == 422
    )
    assert (
        api.get(
            "/api/v1/sla/compliance", params={"client": "acme", "period": this_period()}
        ).status_code
        == 401
    )
    assert api.get("/api/v1/sla/incidents/UPK-nope-1", headers=auth).status_code == 404


def run_cli(*args: str, env: dict[str, str], check: bool = True):
    result = CliRunner().invoke(app, list(args), env=env)
    if check:
        assert result.exit_code == 0, result.output
    return result


def test_cli_wait_resume_priority_and_sla_reports(tmp_path):
    env = {k: "" for k in os.environ if k.startswith("UPKEEP_")}
    env["UPKEEP_DATA_DIR"] = str(tmp_path)
    store = Store.from_url(f"sqlite:///{tmp_path / 'upkeep.db'}")
    store.upgrade()
    add_acme(store)
    key = IncidentService(store).report(
        client="acme", title="Scanner offline", actor="alice", priority="major"
    )
    store.dispose()
    run_cli("incident", "wait", key, "--reason", "third_party", "--by", "bob", env=env)
    shown = json.loads(run_cli("sla", "show", key, env=env).stdout)
    assert shown["state"] == "paused" and shown["pauses"][0]["reason"] == "waiting_for_third_party"
    run_cli("incident", "resume", key, "--by", "bob", env=env)
    run_cli(
        "incident", "priority", key, "critical", "--note", "whole office", "--by", "bob", env=env
    )
    run_cli("incident", "resolve", key, "--by", "bob", env=env)
    detail = json.loads(run_cli("incident", "show", key, env=env).stdout)
    assert [e["type"] for e in detail["events"]] == [
        "opened",
        "waiting",
        "resumed",
        "priority_changed",
        "resolved",
    ]
    # critical has no targets in this contract
    assert detail["sla"] is None
    assert "no SLA target applies" in run_cli("sla", "show", key, env=env).stdout
    run_cli("incident", "priority", key, "major", "--by", "bob", env=env)
    text = run_cli(
        "sla", "compliance", "--client", "acme", "--period", this_period(), env=env
    ).stdout
    assert "major" in text and "100.0%" in text
    figures = json.loads(
        run_cli(
            "sla", "compliance", "--client", "acme", "--period", this_period(), "--json", env=env
        ).stdout
    )
    assert figures["total"]["resolution"]["met"] == 1
    bad = run_cli(
        "incident", "wait", key, "--reason", "client", "--by", "bob", env=env, check=False
    )
    assert bad.exit_code == 2 and "only an unresolved incident can wait" in bad.stderr
    missing = run_cli(
        "sla", "compliance", "--client", "nobody", "--period", "2026-10", env=env, check=False
    )
    assert missing.exit_code == 3
