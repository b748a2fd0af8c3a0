"""End to end with a real Redmine: breach → issue in the client's project; escalate → updated;
resolve → closed; and the same with Redmine away for a while: delivered once, no duplicates."""

from __future__ import annotations

import time
import uuid

import pytest
from servers.collector import CollectorProcess, provision

from tests.e2e.incident_kit import Agent, api, wait_for, write_settings
from tests.servers.redmine import RedmineServer

pytestmark = pytest.mark.slow


def settings_for(tmp_path, redmine: RedmineServer, client: str):
    return write_settings(
        tmp_path / "conf",
        {
            "connectors": {
                "redmine-main": redmine.connector_config(
                    {client: "acme-support"}, time_entry_activity="Maintenance"
                )
            }
        },
    )


def issues_with_key(redmine: RedmineServer, key: str) -> list[dict]:
    answer = redmine.api("GET", f"issues.json?status_id=*&subject=~{key}")
    return [i for i in answer["issues"] if i["subject"].startswith(f"[{key}]")]


def outbox_states(collector: CollectorProcess, token: str, key: str) -> list[tuple[str, str]]:
    detail = api(collector, token, "GET", f"/api/v1/incidents/{key}")
    return [(o["action"], o["state"]) for o in detail["outbox"]]


def test_open_escalate_resolve_in_redmine(tmp_path, redmine: RedmineServer) -> None:
    client = f"e2e{uuid.uuid4().hex[:8]}"
    with CollectorProcess(
        tmp_path / "c", config=settings_for(tmp_path, redmine, client)
    ) as collector:
        creds = provision(collector, client)
        key = f"UPK-{client}-1"
        agent = Agent(collector, creds.agent_token)
        agent.disk(90.0)
        created = wait_for(lambda: issues_with_key(redmine, key), 30, "the Redmine issue")
        assert len(created) == 1 and created[0]["project"]["name"] == "acme-support"
        assert created[0]["priority"]["name"] == "Normal"
        agent.disk(97.0)
        wait_for(
            lambda: issues_with_key(redmine, key)[0]["priority"]["name"] == "Immediate",
            30,
            "escalation",
        )
        agent.disk(50.0)
        wait_for(
            lambda: outbox_states(collector, creds.admin_token, key)[-1] == ("resolve", "done"),
            30,
            "resolve",
        )
        issue = redmine.api("GET", f"issues/{created[0]['id']}.json")["issue"]
        assert issue["status"].get("is_closed", issue["status"]["name"] in ("Closed", "Resolved"))
        assert len(issues_with_key(redmine, key)) == 1


def test_redmine_away_then_back_delivers_everything_once(tmp_path, redmine: RedmineServer) -> None:
    client = f"e2e{uuid.uuid4().hex[:8]}"
    with CollectorProcess(
        tmp_path / "c", config=settings_for(tmp_path, redmine, client)
    ) as collector:
        creds = provision(collector, client)
        key = f"UPK-{client}-1"
        redmine.stop()
        try:
            agent = Agent(collector, creds.agent_token)
            agent.disk(91.0)
            agent.disk(98.0)
            agent.disk(40.0)
            wait_for(
                lambda: (
                    api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")["outbox"][
                        0
                    ]["attempts"]
                    >= 2
                ),
                20,
                "failed attempts while Redmine is away",
            )
        finally:
            redmine.start()
        wait_for(
            lambda: (
                outbox_states(collector, creds.admin_token, key)
                == [("open", "done"), ("escalate", "done"), ("resolve", "done")]
            ),
            60,
            "everything delivered",
        )
        issues = issues_with_key(redmine, key)
        assert len(issues) == 1 and issues[0]["priority"]["name"] == "Immediate"
        issue = redmine.api("GET", f"issues/{issues[0]['id']}.json")["issue"]
        assert issue["status"].get("is_closed", issue["status"]["name"] in ("Closed", "Resolved"))


def test_redmine_down_longer_than_the_old_retry_bound_loses_nothing(
    tmp_path, redmine: RedmineServer
) -> None:
    """Redmine away for 25 s, with retries compressed so that the old bound (12 attempts,
    ~10 s at these settings) would have given up: every ticket arrives once, and each
    incident's changes arrive in order (open, comment, escalate, resolve)."""
    client = f"e2e{uuid.uuid4().hex[:8]}"
    config = settings_for(tmp_path, redmine, client)
    text = config.read_text() + "outbox_max_age: 1h\n"
    config.write_text(text)
    with CollectorProcess(tmp_path / "c", config=config) as collector:
        creds = provision(collector, client)
        keys = [f"UPK-{client}-{n}" for n in (1, 2, 3)]
        redmine.stop()
        try:
            agents = [Agent(collector, creds.agent_token, asset=f"srv{n}") for n in (1, 2, 3)]
            for agent in agents:
                agent.disk(91.0)
            for key in keys:
                api(
                    collector,
                    creds.admin_token,
                    "POST",
                    f"/api/v1/incidents/{key}/comments",
                    json={"body": f"looking at {key}", "by": "bob"},
                )
            for agent in agents:
                agent.disk(98.0)
                agent.disk(40.0)
            started = time.monotonic()
            wait_for(
                lambda: all(
                    r["attempts"] >= 12
                    for r in api(collector, creds.admin_token, "GET", "/api/v1/outbox")
                    if r["action"] == "open"
                ),
                60,
                "more failed attempts than the old bound allowed",
            )
            time.sleep(max(0.0, 25 - (time.monotonic() - started)))
            rows = api(collector, creds.admin_token, "GET", "/api/v1/outbox")
            assert {r["state"] for r in rows} <= {"pending", "in_flight"}  # none given up
        finally:
            redmine.start()
        wait_for(
            lambda: all(
                r["state"] == "done"
                for r in api(collector, creds.admin_token, "GET", "/api/v1/outbox")
            ),
            120,
            "everything delivered",
        )
        rows = api(collector, creds.admin_token, "GET", "/api/v1/outbox")
        for key in keys:
            mine = sorted((r for r in rows if r["incident"] == key), key=lambda r: r["id"])
            assert [r["action"] for r in mine] == ["open", "comment", "escalate", "resolve"]
            delivered = [r["delivered_at"] for r in mine]
            assert delivered == sorted(delivered), f"{key} delivered out of order"
            issues = issues_with_key(redmine, key)
            assert len(issues) == 1, f"{key}: {len(issues)} issues"
            issue = redmine.api("GET", f"issues/{issues[0]['id']}.json?include=journals")["issue"]
            assert issue["priority"]["name"] == "Immediate"
            assert issue["status"].get(
                "is_closed", issue["status"]["name"] in ("Closed", "Resolved")
            )
            notes = [j["notes"] for j in issue["journals"] if j.get("notes")]
            assert sum(f"looking at {key}" in n for n in notes) == 1


def test_issue_closed_in_redmine_closes_the_incident(tmp_path, redmine: RedmineServer) -> None:
    """Two-way: a technician who lives in Redmine closes the issue there; Upkeep follows."""
    client = f"e2e{uuid.uuid4().hex[:8]}"
    settings = write_settings(
        tmp_path / "conf",
        {
            "connectors": {
                "redmine-main": redmine.connector_config(
                    {client: "acme-support"}, time_entry_activity="Maintenance"
                )
            }
        },
        outbox_poll_closed_interval=1.0,
    )
    with CollectorProcess(tmp_path / "c", config=settings) as collector:
        creds = provision(collector, client)
        key = f"UPK-{client}-1"
        Agent(collector, creds.agent_token).disk(90.0)
        (issue,) = wait_for(lambda: issues_with_key(redmine, key), 30, "the Redmine issue")
        assert (
            api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")["state"] == "open"
        )
        closed = next(
            s
            for s in redmine.api("GET", "issue_statuses.json")["issue_statuses"]
            if s.get("is_closed")
        )
        redmine.api(
            "PUT",
            f"issues/{issue['id']}.json",
            {"issue": {"status_id": closed["id"], "notes": "fixed on site"}},
        )
        wait_for(
            lambda: (
                api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")["state"]
                in ("resolved", "closed")
            ),
            30,
            "the incident to follow the closed issue",
        )
        detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")
        assert any("redmine" in str(e).lower() for e in detail["events"][-2:]), detail["events"][
            -2:
        ]
        # The technician's closing note (the journal of the close, not Upkeep's own notes) is
        # read back as the resolution note: what the client's closing message says was done.
        assert detail["resolution_note"] == "fixed on site"
        closed_event = next(e for e in reversed(detail["events"]) if e["type"] == "closed")
        assert closed_event["data"]["from_ticket"] == "redmine-main"
