"""End to end: a severity rise (warning → critical) under a rule with ONE priority reaches
the ticket systems — a real webhook receiver and a real Redmine — as an escalation with a
note saying what rose. Before, the lifecycle logged "repeated" and sent nothing."""

from __future__ import annotations

import uuid

import pytest
from servers.collector import CollectorProcess, provision
from servers.fake_http import FakeHttpServer, RecordedRequest, Reply

from collector.connectors.webhook import signature
from tests.e2e.incident_kit import Agent, api, wait_for, write_settings
from tests.servers.redmine import RedmineServer

pytestmark = pytest.mark.slow

SECRET = "e2e-severity-secret"
#: warning and critical share one priority: only the severity changes.
ONE_PRIORITY_RULE = """
rules:
  - id: e2e-disk-one-priority
    metric: disk_used_percent
    warning: "> 85"
    critical: "> 95"
    priority: major
    kind: capacity
    summary: "{asset}: disk {mountpoint} is {value:.0f}% full"
"""


def settings(tmp_path, connectors: dict):
    path = write_settings(tmp_path / "conf", {"connectors": connectors})
    (tmp_path / "conf" / "rules" / "e2e.yaml").write_text(ONE_PRIORITY_RULE)
    return path


def test_severity_rise_reaches_the_webhook(tmp_path) -> None:
    deliveries: list[dict] = []

    def receive(request: RecordedRequest) -> Reply:
        assert request.headers["x-upkeep-signature"] == signature(SECRET, request.body)
        deliveries.append(request.json)
        return Reply(200, {"id": f"WH-{request.json['key']}"})

    with FakeHttpServer(receive) as server:
        hook = {"type": "webhook", "url": server.url + "/upkeep", "secret": SECRET}
        with CollectorProcess(tmp_path / "c", config=settings(tmp_path, {"hooks": hook})) as c:
            creds = provision(c, "acme")
            agent = Agent(c, creds.agent_token)
            agent.disk(90.0)
            wait_for(lambda: [d["action"] for d in deliveries] == ["open"], 15, "the open")
            agent.disk(97.0)
            wait_for(lambda: len(deliveries) >= 2, 15, "the escalation")
            agent.disk(50.0)
            wait_for(lambda: len(deliveries) >= 3, 15, "the resolve")
            detail = api(c, creds.admin_token, "GET", "/api/v1/incidents/UPK-acme-1")
    assert [d["action"] for d in deliveries] == ["open", "escalate", "resolve"]
    opened, escalated, _ = (d["incident"] for d in deliveries)
    assert (opened["severity"], opened["priority"]) == ("warning", "major")
    assert (escalated["severity"], escalated["priority"]) == ("critical", "major")
    assert escalated["comment"]["body"] == ("Escalated: severity warning → critical (value 97).")
    assert escalated["comment"]["id"] == "UPK-acme-1-e2"
    assert [e["type"] for e in detail["events"]] == ["opened", "escalated", "resolved"]


def test_severity_rise_is_a_note_in_redmine(tmp_path, redmine: RedmineServer) -> None:
    client = f"e2e{uuid.uuid4().hex[:8]}"
    connectors = {
        "redmine-main": redmine.connector_config(
            {client: "acme-support"}, time_entry_activity="Maintenance"
        )
    }
    key = f"UPK-{client}-1"

    def issue() -> dict | None:
        found = redmine.api("GET", f"issues.json?status_id=*&subject=~{key}")["issues"]
        found = [i for i in found if i["subject"].startswith(f"[{key}]")]
        if not found:
            return None
        return redmine.api("GET", f"issues/{found[0]['id']}.json?include=journals")["issue"]

    with CollectorProcess(tmp_path / "c", config=settings(tmp_path, connectors)) as c:
        creds = provision(c, client)
        agent = Agent(c, creds.agent_token)
        agent.disk(90.0)
        created = wait_for(issue, 30, "the Redmine issue")
        agent.disk(97.0)
        after = wait_for(
            lambda: (i := issue()) and any(j.get("notes") for j in i["journals"]) and i,
            30,
            "the escalation note",
        )
        outbox = api(c, creds.admin_token, "GET", f"/api/v1/incidents/{key}")["outbox"]
    assert [(o["action"], o["state"]) for o in outbox] == [("open", "done"), ("escalate", "done")]
    assert after["priority"]["name"] == created["priority"]["name"]  # the priority stayed
    notes = [j["notes"] for j in after["journals"] if j.get("notes")]
    assert notes == [
        f"upkeep: Escalated: severity warning → critical (value 97).\n\n[upkeep:{key}-e2]"
    ]
