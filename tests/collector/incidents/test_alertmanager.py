"""The Alertmanager receiver: payload mapping (pure) and ``POST /api/v1/alertmanager`` on a
real store (SQLite and PostgreSQL): incidents opened and resolved, alerts of unknown
clients reported and counted (the others applied), token kinds, body limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from collector import admin
from collector.api import create_app
from collector.incidents.alertmanager import (
    AmAlert,
    LabelNames,
    fingerprint,
    parse_webhook,
    signal_of,
)
from collector.settings import Settings

PATH = "/api/v1/alertmanager"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def am_alert(status="firing", **labels):
    labels = {"alertname": "DiskFull", "client": "acme", "instance": "srv1:9100", **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": "Disk almost full", "description": "/ is 97% full"},
        "startsAt": T0.isoformat(),
        "endsAt": (T0 + timedelta(minutes=5)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "c0ffee",
    }


def webhook(*alerts, status=None):
    alerts = list(alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": status
        or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "upkeep",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def auth(token):
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------- mapping


def test_signal_of_maps_labels_severity_and_priority():
    alert = AmAlert.model_validate(am_alert(severity="critical"))
    signal = signal_of(alert, 7, "acme", LabelNames(), now=123.0)
    assert (signal.client_id, signal.client, signal.asset, signal.origin) == (
        7,
        "acme",
        "srv1:9100",
        "external",
    )
    assert (signal.name, signal.status, signal.severity, signal.priority) == (
        "DiskFull",
        "firing",
        "critical",
        "major",
    )
    assert signal.ts == T0.timestamp() and signal.summary == "Disk almost full"
    assert signal.fingerprint == fingerprint(alert.labels) and len(signal.fingerprint) <= 64
    # an explicit priority label wins; the asset label wins over instance; unknown severity -> default
    alert = AmAlert.model_validate(
        am_alert(severity="info", priority="critical", asset="printer-3")
    )
    signal = signal_of(alert, 7, "acme", LabelNames(), now=123.0)
    assert (signal.asset, signal.severity, signal.priority) == ("printer-3", None, "critical")
    # a firing alert's zero endsAt never becomes the timestamp; a resolved one uses endsAt
    resolved = AmAlert.model_validate(am_alert("resolved"))
    assert (
        signal_of(resolved, 7, "acme", LabelNames(), now=1.0).ts
        == (T0 + timedelta(minutes=5)).timestamp()
    )


def test_fingerprint_is_the_label_set():
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "client": "x"})


def test_configured_label_names():
    names = LabelNames.from_settings(
        Settings(alertmanager_client_label="customer", alertmanager_asset_labels=["host"])
    )
    alert = AmAlert.model_validate(am_alert(customer="globex", host="h1"))
    signal = signal_of(alert, 1, "globex", names, now=0.0)
    assert signal.asset == "h1"


def test_payload_must_be_version_4():
    with pytest.raises(Exception, match="version"):
        parse_webhook(json.dumps({**webhook(am_alert()), "version": "3"}).encode())


# ---------------------------------------------------------------------- HTTP


@pytest.fixture
def app_client(store, settings):
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def acme(store):
    admin.create_client(store, "acme")


def incidents_of(http, token, **params):
    resp = http.get("/api/v1/incidents", params=params, headers=auth(token))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_firing_opens_and_resolved_resolves(app_client, store, acme, admin_token):
    _, receiver = admin.create_token(store, alertmanager=True, name="alertmanager")
    resp = app_client.post(PATH, json=webhook(am_alert(severity="warning")), headers=auth(receiver))
    assert resp.status_code == 200, resp.text
    [result] = resp.json()["alerts"]
    assert result["event"] == "opened" and result["incident"].startswith("UPK-acme-")
    [incident] = incidents_of(app_client, admin_token, client="acme")
    assert incident["origin"] == "external" and incident["state"] == "open"
    assert (incident["rule"], incident["asset"], incident["priority"]) == (
        "DiskFull",
        "srv1:9100",
        "minor",
    )
    # Alertmanager repeats the notification: the same incident, updated
    resp = app_client.post(PATH, json=webhook(am_alert(severity="warning")), headers=auth(receiver))
    assert resp.json()["alerts"][0]["incident"] == incident["key"]
    assert len(incidents_of(app_client, admin_token)) == 1
    # an admin token works too
    resp = app_client.post(
        PATH, json=webhook(am_alert("resolved", severity="warning")), headers=auth(admin_token)
    )
    assert resp.status_code == 200 and resp.json()["alerts"][0]["event"] == "resolved"
    [incident] = incidents_of(app_client, admin_token)
    assert incident["state"] == "resolved" and incident["resolved_at"] is not None


def test_alerts_of_unknown_clients_are_reported_and_the_others_applied(
    app_client, acme, admin_token
):
    no_label = am_alert(alertname="NoClient")
    del no_label["labels"]["client"]
    body = webhook(am_alert(), am_alert(client="initech", alertname="NodeDown"), no_label)
    resp = app_client.post(PATH, json=body, headers=auth(admin_token))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    [applied] = answer["alerts"]
    assert (applied["client"], applied["name"], applied["event"]) == ("acme", "DiskFull", "opened")
    assert [(u["client"], u["name"], u["status"]) for u in answer["unknown"]] == [
        ("initech", "NodeDown", "firing"),
        ("", "NoClient", "firing"),
    ]
    assert answer["unknown"][0]["reason"].startswith("unknown client 'initech': create the client")
    assert answer["unknown"][1]["reason"].startswith("alert label 'client' is missing")
    assert [i["rule"] for i in incidents_of(app_client, admin_token)] == ["DiskFull"]
    metrics = app_client.get("/metrics").text
    assert "upkeep_alertmanager_alerts_unknown_client_total 2.0" in metrics


@pytest.mark.parametrize("header", [None, "Bearer upk_nope", "Basic dXNlcjpwYXNz"])
def test_bad_token_is_401(app_client, acme, header):
    headers = {"Authorization": header} if header else {}
    assert app_client.post(PATH, json=webhook(am_alert()), headers=headers).status_code == 401


def test_agent_token_is_403_and_receiver_token_reads_nothing(app_client, store, acme):
    _, agent = admin.create_token(store, client="acme")
    resp = app_client.post(PATH, json=webhook(am_alert()), headers=auth(agent))
    assert resp.status_code == 403
    _, receiver = admin.create_token(store, alertmanager=True)
    assert app_client.get("/api/v1/incidents", headers=auth(receiver)).status_code == 403


def test_oversized_body_is_413(store, tmp_path, db_url, acme, admin_token):
    settings = Settings.for_data_dir(
        tmp_path / "small", database_url=db_url, alertmanager_max_body_bytes=2000
    )
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    with TestClient(app) as client:
        body = webhook(*[am_alert(instance=f"srv{i}") for i in range(20)])
        resp = client.post(PATH, json=body, headers=auth(admin_token))
        assert resp.status_code == 413 and resp.json()["error"] == "body_too_large"


def test_malformed_and_wrong_version_bodies(app_client, acme, admin_token):
    resp = app_client.post(
        PATH, content=b"{nope", headers={**auth(admin_token), "Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    resp = app_client.post(
        PATH, json={**webhook(am_alert()), "version": "3"}, headers=auth(admin_token)
    )
    assert resp.status_code == 422 and "version" in resp.json()["detail"]
