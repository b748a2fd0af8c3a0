"""End to end: a real collector's SLA sweep warns and then reports a breach to a webhook.

The contract gives critical incidents a 4 s response target on the calendar clock; the
sweep runs every 0.2 s. A person reports a critical incident over the API and nobody
acknowledges it: the webhook receives the open, then one warning comment and one breach
comment (each once), and /metrics shows the breached clock.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from servers.collector import CollectorProcess, provision
from servers.fake_http import FakeHttpServer, RecordedRequest, Reply

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.store import Store
from tests.e2e.incident_kit import api, wait_for, write_settings

pytestmark = pytest.mark.slow

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "calendar": {"timezone": "Europe/Berlin", "always_on": ["critical"]},
    "sla": {"critical": {"response": "4s", "resolution": "1h"}},
    "contacts": [{"name": "Ops", "email": "ops@acme.example", "receives": ["sla"]}],
}


class Receiver:
    """Records each webhook delivery once per idempotency key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, dict] = {}
        self.server = FakeHttpServer(self.handle)

    def handle(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.seen.setdefault(request.headers["idempotency-key"], request.json)
        return Reply(200, {"id": f"WH-{request.json['key']}"})

    def deliveries(self) -> list[dict]:
        with self.lock:
            return list(self.seen.values())


def test_sla_warning_and_breach_reach_the_webhook(tmp_path) -> None:
    receiver = Receiver()
    hooks = {"type": "webhook", "url": receiver.server.url + "/h", "secret": "s"}
    settings = write_settings(
        tmp_path / "conf", {"connectors": {"hooks": hooks}}, sla_sweep_interval=0.2
    )
    with receiver.server, CollectorProcess(tmp_path / "c", config=settings) as collector:
        creds = provision(collector, "acme")
        store = Store.from_url(f"sqlite:///{collector.data_dir / 'upkeep.db'}")
        try:
            with store.write() as conn:
                put_contract(
                    conn,
                    admin.get_client(conn, "acme").id,
                    Contract.model_validate(CONTRACT),
                    source="test",
                    actor="e2e",
                    now=0,
                )
        finally:
            store.dispose()
        key = api(
            collector,
            creds.admin_token,
            "POST",
            "/api/v1/incidents",
            json={"client": "acme", "title": "Core switch down", "priority": "critical"},
        )["key"]

        def comments() -> list[str]:
            return [
                d["incident"]["comment"]["body"]
                for d in receiver.deliveries()
                if d["action"] == "comment"
            ]

        wait_for(lambda: len(comments()) >= 2, 20, "the warning and the breach comments")
        assert [d["action"] for d in receiver.deliveries()][0] == "open"
        warning, breach = comments()
        assert warning.startswith(f"SLA warning for {key} (critical): ")
        assert breach.startswith(
            f"SLA breached for {key} (critical): the response target of 4 seconds (calendar time)"
        )
        # the sweep keeps running: still exactly one of each
        detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")
        assert detail["sla"]["response"]["breached"] is True
        assert sorted(detail["sla"]["notified"]) == ["response:breach", "response:warning"]
        assert [e["type"] for e in detail["events"]] == ["opened", "sla_warning", "sla_breached"]
        metrics = httpx.get(f"{collector.url}/metrics", timeout=10).text
        assert (
            'upkeep_sla_breached_incidents{client="acme",priority="critical",target="response"} 1.0'
            in metrics
        )
        assert 'upkeep_sla_clocks{client="acme",priority="critical",state="running"} 1.0' in metrics
        assert len(comments()) == 2
