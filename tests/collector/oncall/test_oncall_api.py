"""The on-call API (admin token): overrides made, listed with who made them, in force in
``who``, withdrawn; bad input named; the page links refuse tampered tokens; the Telegram
webhook refuses a wrong secret token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from collector.api import create_app

ONCALL = """
channels:
  chat: {type: slack, url: "http://127.0.0.1:9/hook"}
  tg: {type: telegram, api_url: "http://127.0.0.1:9", bot_token: "1:x", webhook_secret: "right"}
people:
  anna: {name: Anna, contacts: [{channel: chat}]}
  boris: {name: Boris, contacts: [{channel: tg, to: "5"}]}
rotations:
  primary: {timezone: Europe/Berlin, start: 2026-01-05, people: [anna, boris], handover: {every: week}}
"""


@pytest.fixture
def api(store, settings, tmp_path):
    (tmp_path / "oncall.yaml").write_text(ONCALL)
    configured = settings.model_copy(
        update={"oncall_paths": [tmp_path / "oncall.yaml"], "background": False}
    )
    with TestClient(
        create_app(configured, store=store, migrate=False, run_retention=False)
    ) as client:
        yield client


def test_overrides_through_the_api(api, admin_token) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    at = "2026-03-04T12:00:00+01:00"  # anna's week (9 weeks after 5 January: anna again)
    [before] = api.get("/api/v1/oncall/who", params={"at": at}, headers=auth).json()
    assert before["person"]["id"] == "anna" and before["next"]["person"]["id"] == "boris"
    made = api.post(
        "/api/v1/oncall/overrides",
        json={
            "rotation": "primary",
            "person": "boris",
            "replaces": "anna",
            "start": "2026-03-04T00:00:00+01:00",
            "end": "2026-03-05T00:00:00+01:00",
            "reason": "dentist",
            "by": "lea",
        },
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "lea" and made.json()["reason"] == "dentist"
    [during] = api.get("/api/v1/oncall/who", params={"at": at}, headers=auth).json()
    assert during["person"]["id"] == "boris" and during["override"]["reason"] == "dentist"
    assert during["next"] == {
        "at": "2026-03-04T23:00:00Z",
        "person": {"id": "anna", "name": "Anna"},
        "layer": "layer 1",
    }
    listed = api.get("/api/v1/oncall/overrides", params={"past": True}, headers=auth).json()
    assert [(o["person"], o["created_by"]) for o in listed] == [("boris", "lea")]
    shifts = api.get(
        "/api/v1/oncall/rotations/primary/shifts",
        params={"start": "2026-03-03T00:00:00+01:00", "end": "2026-03-06T00:00:00+01:00"},
        headers=auth,
    ).json()
    assert [s["person"]["id"] for s in shifts] == ["anna", "boris", "anna"]
    assert (
        api.delete(f"/api/v1/oncall/overrides/{made.json()['id']}", headers=auth).status_code == 204
    )
    [after] = api.get("/api/v1/oncall/who", params={"at": at}, headers=auth).json()
    assert after["person"]["id"] == "anna"


BAD = [
    ({"rotation": "nope", "person": "anna"}, "rotation: no rotation named 'nope'"),
    ({"rotation": "primary", "person": "zoe"}, "person: no person named 'zoe'"),
    (
        {"rotation": "primary", "person": "anna", "end": "2026-03-01T00:00:00+01:00"},
        "end: must be after start",
    ),
    (
        {"rotation": "primary", "person": "anna", "end": "2026-03-03T00:00:00"},
        "end: give a time zone (e.g. 2026-03-02T09:00:00+01:00)",
    ),
]


def test_bad_overrides_are_named(api, admin_token) -> None:
    for body, detail in BAD:
        full = {"start": "2026-03-02T00:00:00+01:00", "end": "2026-03-03T00:00:00+01:00", **body}
        answer = api.post(
            "/api/v1/oncall/overrides",
            json=full,
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert (answer.status_code, answer.json()["detail"]) == (400, detail)


def test_no_token_no_api_and_links_and_webhook_are_checked(api) -> None:
    assert api.get("/api/v1/oncall/who").status_code == 401
    bad = api.get("/oncall/page", params={"token": "eyJwIjoxfQ.forged"})
    assert bad.status_code == 400 and "not valid" in bad.text
    assert api.post("/oncall/page", data={"token": "x.y"}).status_code == 400
    update = {"callback_query": {"id": "1", "data": "ack:1", "message": {"chat": {"id": 5}}}}
    hook = "/api/v1/oncall/telegram/tg"
    assert api.post(hook, json=update).status_code == 403
    assert (
        api.post(
            hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ).status_code
        == 403
    )
    assert (
        api.post("/api/v1/oncall/telegram/chat", json=update).status_code == 404
    )  # not a telegram channel
