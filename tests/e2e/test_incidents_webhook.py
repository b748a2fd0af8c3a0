"""End to end: a breaching sample → incident → webhook delivery by the real collector.

The receiver is a real local HTTP server that fails the first attempts, checks the HMAC and
applies each ``Idempotency-Key`` once; the crash test SIGKILLs the collector while a
delivery is pending.
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter

import pytest
from servers.collector import CollectorProcess, provision
from servers.fake_http import FakeHttpServer, RecordedRequest, Reply

from collector.connectors.webhook import signature
from tests.e2e.incident_kit import Agent, api, wait_for, write_settings

pytestmark = pytest.mark.slow

SECRET = "e2e-shared-secret"


class Receiver:
    """A webhook receiver: ``failing`` answers 503; counts effects per idempotency key."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.down = False
        self.effects: Counter[str] = Counter()
        self.actions: list[str] = []
        self.lock = threading.Lock()
        self.server = FakeHttpServer(self.handle)

    def handle(self, request: RecordedRequest) -> Reply:
        assert hmac.compare_digest(
            request.headers["x-upkeep-signature"], signature(SECRET, request.body)
        )
        with self.lock:
            if self.down or self.fail_first > 0:
                self.fail_first = max(0, self.fail_first - 1)
                return Reply(503, {"error": "try later"})
            key = request.headers["idempotency-key"]
            if not self.effects[key]:
                self.actions.append(request.json["action"])
            self.effects[key] += 1
        return Reply(200, {"id": f"WH-{request.json['key']}"})


def webhook_settings(tmp_path, receiver: Receiver):
    return write_settings(
        tmp_path / "conf",
        {
            "connectors": {
                "hooks": {
                    "type": "webhook",
                    "url": receiver.server.url + "/upkeep",
                    "secret": SECRET,
                }
            }
        },
    )


def test_breach_escalate_resolve_reach_the_webhook_in_order(tmp_path) -> None:
    receiver = Receiver(fail_first=2)
    with (
        receiver.server,
        CollectorProcess(tmp_path / "c", config=webhook_settings(tmp_path, receiver)) as collector,
    ):
        creds = provision(collector, "acme")
        agent = Agent(collector, creds.agent_token)
        agent.disk(90.0)
        wait_for(lambda: receiver.actions == ["open"], 15, "the open (after two 503s)")
        agent.disk(97.0)
        agent.disk(50.0)
        wait_for(
            lambda: receiver.actions == ["open", "escalate", "resolve"], 15, "escalate and resolve"
        )
        items = api(
            collector, creds.admin_token, "GET", "/api/v1/incidents", params={"client": "acme"}
        )
        assert [(i["key"], i["state"], i["priority"], i["origin"]) for i in items] == [
            ("UPK-acme-1", "resolved", "critical", "proactive")
        ]
        detail = api(collector, creds.admin_token, "GET", "/api/v1/incidents/UPK-acme-1")
        assert detail["tickets"] == [
            {
                "connector": "hooks",
                "external_id": "WH-UPK-acme-1",
                "url": None,
                "closed_remotely_at": None,
            }
        ]
        assert [(o["action"], o["state"]) for o in detail["outbox"]] == [
            ("open", "done"),
            ("escalate", "done"),
            ("resolve", "done"),
        ]
        assert detail["outbox"][0]["attempts"] == 3
        assert "resolved at" in detail["resolution_note"]
        metrics = collector_metrics(collector)
        assert 'upkeep_outbox_delivered_total{action="open",connector="hooks"} 1.0' in metrics
        assert "upkeep_breach_to_ticket_seconds_count" in metrics
        assert 'upkeep_outbox_backlog{state="dead"} 0.0' in metrics
        assert 'upkeep_outbox_dead_letters{connector="hooks"} 0.0' in metrics
    assert all(n >= 1 for n in receiver.effects.values())


def test_technician_actions_over_the_api_are_mirrored(tmp_path) -> None:
    receiver = Receiver()
    with (
        receiver.server,
        CollectorProcess(tmp_path / "c", config=webhook_settings(tmp_path, receiver)) as collector,
    ):
        creds = provision(collector, "acme")
        created = api(
            collector,
            creds.admin_token,
            "POST",
            "/api/v1/incidents",
            json={
                "client": "acme",
                "title": "Printer on floor 2 jams",
                "priority": "major",
                "by": "alice",
            },
        )
        key = created["key"]
        assert created["origin"] == "user_reported" and key == "UPK-acme-1"
        for path, body in [
            ("acknowledge", {"by": "bob"}),
            ("assign", {"assignee": "bob"}),
            ("comments", {"body": "rollers worn", "by": "bob"}),
            ("time-entries", {"minutes": 30, "work_type": "onsite", "by": "bob"}),
            ("cause", {"cause": "wear"}),
            ("resolve", {"note": "rollers replaced"}),
            ("close", {}),
        ]:
            api(collector, creds.admin_token, "POST", f"/api/v1/incidents/{key}/{path}", json=body)
        wait_for(lambda: receiver.actions[-1:] == ["resolve"], 15, "the resolve")
        assert receiver.actions == ["open", "update", "update", "comment", "time_entry", "resolve"]
        detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")
        assert detail["state"] == "closed" and detail["cause"] == "wear"
        assert [e["type"] for e in detail["events"]] == [
            "opened",
            "acknowledged",
            "assigned",
            "commented",
            "time_logged",
            "cause_set",
            "resolved",
            "closed",
        ]


def test_crash_between_transition_and_delivery_delivers_once(tmp_path) -> None:
    receiver = Receiver()
    receiver.down = True
    settings = webhook_settings(tmp_path, receiver)
    with receiver.server:
        collector = CollectorProcess(tmp_path / "c", config=settings).start()
        try:
            creds = provision(collector, "acme")
            Agent(collector, creds.agent_token).disk(92.0)
            wait_for(lambda: receiver.server.requests, 10, "a first (failed) attempt")
            collector.kill()  # SIGKILL: the open is written, not delivered
            with receiver.lock:
                receiver.down = False
            collector.start()
            wait_for(lambda: receiver.actions == ["open"], 15, "the open after the restart")
            detail = api(collector, creds.admin_token, "GET", "/api/v1/incidents/UPK-acme-1")
            assert [(o["action"], o["state"]) for o in detail["outbox"]] == [("open", "done")]
            assert sum(receiver.effects.values()) == 1
        finally:
            collector.stop()


def collector_metrics(collector: CollectorProcess) -> str:
    import httpx

    return httpx.get(f"{collector.url}/metrics", timeout=10).text
