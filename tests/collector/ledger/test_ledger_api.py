"""The ledger and service-request API over HTTP (TestClient on the real app), the e-mailed
approve/reject links, the incident charge override endpoint and the balance metric."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from collector import admin
from collector.schema import notifications
from tests.collector.ledger.ledgerkit import give_contract


@pytest.fixture
def acme_api(clock, api, store, admin_token):
    # clock first: the app (its ledger-periods job at start) then runs on the test's clock
    admin.create_client(store, "acme")
    give_contract(store, "acme")
    api.headers["Authorization"] = f"Bearer {admin_token}"
    return api


def _token_link(store, action: str) -> str:
    with store.read() as conn:
        body = (
            conn.execute(
                sa.select(notifications.c.body_text)
                .where(notifications.c.kind == "approval_request")
                .order_by(notifications.c.id.desc())
            )
            .scalars()
            .first()
        )
    return unquote(re.search(rf"/{action}\?token=(\S+)", body).group(1))


def test_statement_topups_and_adjustments(acme_api) -> None:
    got = acme_api.post(
        "/api/v1/clients/acme/ledger/topups",
        json={"points": "10.5", "by": "bob", "reason": "inv 7"},
    )
    assert got.status_code == 201 and got.json()["closing_balance"] == 3050
    got = acme_api.post(
        "/api/v1/clients/acme/ledger/adjustments",
        json={"points": -0.5, "by": "alice", "reason": "fix"},
    )
    assert got.status_code == 201 and got.json()["closing_balance"] == 3000
    statement = acme_api.get("/api/v1/clients/acme/ledger", params={"period": "2026-10"}).json()
    assert [(e["kind"], e["centipoints"], e["actor"]) for e in statement["entries"]] == [
        ("allotment", 2000, "upkeep"),
        ("topup", 1050, "bob"),
        ("adjustment", -50, "alice"),
    ]
    assert acme_api.get("/api/v1/clients/acme/ledger").json()["period"] == "2026-10"
    for path, body, status in [
        ("/api/v1/clients/acme/ledger/topups", {"points": "1.234", "by": "b", "reason": "r"}, 422),
        ("/api/v1/clients/acme/ledger/topups", {"points": -1, "by": "b", "reason": "r"}, 400),
        ("/api/v1/clients/acme/ledger/topups", {"points": 1, "by": "b"}, 422),
        ("/api/v1/clients/nobody/ledger/topups", {"points": 1, "by": "b", "reason": "r"}, 404),
    ]:
        assert acme_api.post(path, json=body).status_code == status, (path, body)
    assert (
        acme_api.get("/api/v1/clients/acme/ledger", params={"period": "2026-13"}).status_code == 400
    )
    assert acme_api.get("/api/v1/clients/acme/ledger", params={"period": "oct"}).status_code == 422
    acme_api.headers.pop("Authorization")
    assert acme_api.get("/api/v1/clients/acme/ledger").status_code == 401


def test_a_request_from_estimate_to_charge(acme_api, store) -> None:
    created = acme_api.post(
        "/api/v1/requests",
        json={
            "client": "acme",
            "title": "Set up a printer",
            "requested_by": "Jane",
            "work_type": "onsite",
            "estimate_minutes": 60,
            "by": "desk",
        },
    )
    assert created.status_code == 201, created.text
    req = created.json()
    assert (req["key"], req["state"], req["estimate_centipoints"]) == (
        "REQ-acme-1",
        "awaiting_approval",
        150,
    )
    key = req["key"]
    refused = acme_api.post(
        f"/api/v1/requests/{key}/time-entries", json={"by": "bob", "minutes": 30}
    )
    assert refused.status_code == 400 and "approval" in refused.json()["detail"]
    assert acme_api.post(f"/api/v1/requests/{key}/start", json={"by": "bob"}).status_code == 400
    approved = acme_api.post(
        f"/api/v1/requests/{key}/approve", json={"by": "Jane", "via": "portal", "cap": 2}
    )
    assert (
        approved.json()["approved_centipoints"] == 200
        and approved.json()["decided_via"] == "portal"
    )
    assert (
        acme_api.post(f"/api/v1/requests/{key}/start", json={"by": "bob"}).json()["state"]
        == "in_progress"
    )
    logged = acme_api.post(
        f"/api/v1/requests/{key}/time-entries",
        json={"by": "bob", "minutes": 100, "note": "cabling"},
    ).json()
    assert logged["time_entries"][0]["work_type"] == "onsite"  # the request's work type by default
    done = acme_api.post(f"/api/v1/requests/{key}/complete", json={"by": "bob"}).json()
    assert (done["state"], done["charged_centipoints"]) == (
        "done",
        200,
    )  # 105 min onsite = 2.63, capped at 2.00
    assert acme_api.post(f"/api/v1/requests/{key}/complete", json={"by": "bob"}).status_code == 400
    assert [e["type"] for e in acme_api.get(f"/api/v1/requests/{key}").json()["events"]] == [
        "created",
        "approval_requested",
        "approved",
        "started",
        "time_logged",
        "completed",
    ]
    listed = acme_api.get("/api/v1/requests", params={"client": "acme", "state": "done"}).json()
    assert [r["key"] for r in listed] == [key]
    charge = acme_api.get("/api/v1/clients/acme/ledger").json()["charges"][0]
    assert (charge["request"], charge["centipoints"]) == (key, -200)
    bad = acme_api.post(
        "/api/v1/requests", json={"client": "acme", "title": "x", "requested_by": "J"}
    )
    assert bad.status_code == 400 and "estimate_minutes" in bad.json()["detail"]
    assert acme_api.get("/api/v1/requests/REQ-acme-99").status_code == 404


def test_the_emailed_links_confirm_then_decide(acme_api, store) -> None:
    key = acme_api.post(
        "/api/v1/requests",
        json={"client": "acme", "title": "New VPN", "requested_by": "Jane", "estimate_minutes": 90},
    ).json()["key"]
    approve_token = _token_link(store, "approve")
    reject_token = _token_link(store, "reject")
    acme_api.headers.pop("Authorization")  # the client has no token: the link is the authority
    page = acme_api.get("/approve", params={"token": approve_token})
    assert (
        page.status_code == 200 and "New VPN" in page.text and "<form method='post'>" in page.text
    )
    assert acme_api.get(f"/api/v1/requests/{key}").status_code == 401
    assert (
        acme_api.post("/reject", data={"token": approve_token}).status_code == 400
    )  # wrong action
    tampered = acme_api.post("/approve", data={"token": approve_token[:-3] + "abc"})
    assert tampered.status_code == 400 and "not valid" in tampered.text
    done = acme_api.post("/approve", data={"token": approve_token})
    assert done.status_code == 200 and "approved" in done.text
    again = acme_api.get("/approve", params={"token": approve_token})
    assert "already approved" in again.text
    assert (
        acme_api.post("/reject", data={"token": reject_token}).status_code == 400
    )  # decided already


def test_an_expired_link_is_refused(acme_api, store, clock) -> None:
    acme_api.post(
        "/api/v1/requests",
        json={"client": "acme", "title": "Old", "requested_by": "Jane", "estimate_minutes": 30},
    )
    token = _token_link(store, "approve")
    clock.tick(14 * 86400 + 1)  # the default link lifetime is 14 days
    page = acme_api.get("/approve", params={"token": token})
    assert page.status_code == 400 and "expired" in page.text
    assert acme_api.post("/approve", data={"token": token}).status_code == 400
    assert acme_api.get("/api/v1/requests/REQ-acme-1").json()["state"] == "awaiting_approval"


def test_incident_charge_override_endpoint(acme_api) -> None:
    key = acme_api.post(
        "/api/v1/incidents", json={"client": "acme", "title": "Staff broke it"}
    ).json()["key"]
    acme_api.post(f"/api/v1/incidents/{key}/time-entries", json={"minutes": 60, "by": "bob"})
    acme_api.post(f"/api/v1/incidents/{key}/cause", json={"cause": "client_error"})
    acme_api.post(f"/api/v1/incidents/{key}/resolve", json={})
    assert acme_api.get("/api/v1/clients/acme/ledger").json()["charged"] == -100
    got = acme_api.post(
        f"/api/v1/incidents/{key}/charge",
        json={"points": "0.25", "reason": "partly ours", "by": "bob"},
    )
    assert got.status_code == 200 and got.json()["event"] == "charge_set"
    statement = acme_api.get("/api/v1/clients/acme/ledger").json()
    assert [c["centipoints"] for c in statement["charges"]] == [-100, 75] and statement[
        "charged"
    ] == -25
    assert (
        acme_api.post(
            f"/api/v1/incidents/{key}/charge", json={"mode": "free", "points": 1, "reason": "x"}
        ).status_code
        == 400
    )
    assert (
        acme_api.post(f"/api/v1/incidents/{key}/charge", json={"mode": "free"}).status_code == 422
    )
    events = acme_api.get(f"/api/v1/incidents/{key}").json()["events"]
    assert events[-1]["type"] == "charge_set" and events[-1]["data"]["reason"] == "partly ours"


def test_balance_metric(acme_api) -> None:
    acme_api.post(
        "/api/v1/clients/acme/ledger/adjustments", json={"points": -2.5, "by": "a", "reason": "r"}
    )
    text = acme_api.get("/metrics").text
    assert 'upkeep_points_balance{client="acme"} 17.5' in text


def test_notifications_are_listed_with_their_state(acme_api) -> None:
    acme_api.post(
        "/api/v1/clients/acme/ledger/adjustments", json={"points": -16, "by": "a", "reason": "r"}
    )
    [notice] = acme_api.get(
        "/api/v1/notifications", params={"client": "acme", "state": "pending"}
    ).json()
    assert notice["kind"] == "low_balance" and notice["recipients"] == ["jane@acme.example"]
    assert acme_api.get("/api/v1/notifications", params={"state": "dead"}).json() == []
    assert acme_api.get("/api/v1/notifications", params={"client": "nobody"}).status_code == 404
