"""End to end with a real collector: a critical incident pages A (Slack), nobody answers, B is
paged 3 s later (Telegram and Mattermost), B acknowledges through the signed link in the
Mattermost page, the climb stops (the lead is never paged), the SLA response clock stops.
Then a second incident: A resolves it with the Telegram button (the collector's webhook,
checked by Telegram's secret-token header, answers with answerCallbackQuery).

Telegram, Slack, Mattermost and Teams cannot run here: local fake servers record the exact
requests. The intervals are shortened through settings (steps of seconds, a 0.2 s job).
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

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

TOKEN = "4242:e2e-bot-token"
HOOK_SECRET = "tg-webhook-secret"
CONTRACT = {
    "client": "acme",
    "plan": {"name": "24x7"},
    "calendar": {"timezone": "Europe/Berlin", "always_on": ["critical"]},
    "sla": {"critical": {"response": "1h", "resolution": "4h"}},
}


class Recorder:
    """One fake server for every chat service, routed by path (each asserts its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server = FakeHttpServer(self.handle)

    def handle(self, request: RecordedRequest) -> Reply:
        if request.route == f"/bot{TOKEN}/sendMessage":
            return Reply(200, {"ok": True, "result": {"message_id": len(self.server.requests)}})
        if request.route == f"/bot{TOKEN}/answerCallbackQuery":
            return Reply(200, {"ok": True, "result": True})
        return Reply(200, b"ok")

    def to(self, route: str) -> list[RecordedRequest]:
        return [r for r in list(self.server.requests) if r.route == route]


def oncall_yaml(url: str) -> str:
    return f"""
channels:
  slack: {{type: slack, url: "{url}/slack/hook", deadline: 2}}
  mm: {{type: mattermost, url: "{url}/mm/hook", deadline: 2}}
  teams: {{type: teams, url: "{url}/teams/hook", deadline: 2}}
  tg: {{type: telegram, api_url: "{url}", bot_token: "{TOKEN}", webhook_secret: "{HOOK_SECRET}", deadline: 2}}
people:
  anna: {{name: Anna, contacts: [{{channel: slack, to: UANNA}}, {{channel: tg, to: "1001"}}]}}
  boris: {{name: Boris, contacts: [{{channel: tg, to: "1002"}}, {{channel: mm, to: boris}}]}}
  lead: {{name: Lea, contacts: [{{channel: teams}}]}}
rotations:
  primary: {{timezone: Europe/Berlin, start: 2026-01-05, people: [anna], handover: {{every: week}}}}
  secondary: {{timezone: Europe/Berlin, start: 2026-01-05, people: [boris], handover: {{every: week}}}}
policies:
  standard:
    critical:
      steps:
        - {{after: 0, page: [{{rotation: primary}}]}}
        - {{after: 3s, page: [{{rotation: secondary}}]}}
        - {{after: 8s, page: [{{person: lead}}]}}
escalation: {{default: standard}}
"""


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_critical_incident_climbs_to_b_who_acknowledges_from_the_phone(tmp_path) -> None:
    fake = Recorder()
    oncall_dir = tmp_path / "oncall"
    oncall_dir.mkdir()
    with fake.server:
        (oncall_dir / "ops.yaml").write_text(oncall_yaml(fake.server.url))
        settings = write_settings(
            tmp_path / "conf",
            {},
            oncall_paths=[str(oncall_dir)],
            oncall_interval=0.2,
            sla_sweep_interval=0.5,
        )
        with CollectorProcess(tmp_path / "c", config=settings) as collector:
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

            # A is paged at once (Slack, mentioning her; Telegram with the buttons)
            wait_for(lambda: fake.to("/slack/hook"), 15, "A's Slack page")
            slack = fake.to("/slack/hook")[0].json
            assert slack["text"].startswith(
                f"<@UANNA> Critical incident {key} at acme\nCore switch down\n"
            )
            # nobody answers: B is paged after 3 s
            wait_for(lambda: fake.to("/mm/hook"), 15, "B's Mattermost page")
            detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")
            paged = [e for e in detail["events"] if e["type"] == "paged"]
            assert [(e["data"]["step"], e["data"]["person"]) for e in paged] == [
                (1, "anna"),
                (2, "boris"),
            ]
            opened = ts(detail["opened_at"])
            assert 3.0 <= ts(paged[1]["ts"]) - opened < 6.0
            wait_for(
                lambda: len(fake.to(f"/bot{TOKEN}/sendMessage")) == 2, 10, "both Telegram pages"
            )
            chats = sorted(r.json["chat_id"] for r in fake.to(f"/bot{TOKEN}/sendMessage"))
            assert chats == ["1001", "1002"]

            # B acknowledges through the signed link of the Mattermost page, from a phone (no login)
            text = fake.to("/mm/hook")[0].json["text"]
            ack_url = re.search(r"\[Acknowledge\]\((\S+)\)", text).group(1)
            assert ack_url.startswith(f"{collector.url}/oncall/page?token=")
            shown = httpx.get(ack_url, timeout=10)
            assert (
                shown.status_code == 200 and 'id="confirm"' in shown.text
            )  # a GET changes nothing
            assert (
                api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")["state"]
                == "open"
            )
            token = re.search(r'name="token" value="([^"]+)"', shown.text).group(1)
            done = httpx.post(f"{collector.url}/oncall/page", data={"token": token}, timeout=10)
            assert done.status_code == 200 and "Acknowledged. The escalation stops." in done.text
            again = httpx.post(f"{collector.url}/oncall/page", data={"token": token}, timeout=10)
            assert again.status_code == 409  # single use

            # the climb stops: an escalation_stopped event, and no page to the lead at 8 s
            wait_for(
                lambda: any(
                    e["type"] == "escalation_stopped"
                    for e in api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")[
                        "events"
                    ]
                ),
                10,
                "the escalation_stopped event",
            )
            while time.time() < opened + 9.5:
                time.sleep(0.2)
            assert fake.to("/teams/hook") == []
            detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key}")
            assert detail["state"] == "acknowledged"
            types = [e["type"] for e in detail["events"]]
            assert types == ["opened", "paged", "paged", "acknowledged", "escalation_stopped"]
            ack = next(e for e in detail["events"] if e["type"] == "acknowledged")
            assert ack["actor"] == "boris"
            assert detail["sla"]["response"]["state"] == "stopped"
            assert ts(detail["sla"]["response"]["stopped_at"]) == pytest.approx(
                ts(ack["ts"]), abs=0.01
            )

            metrics = httpx.get(f"{collector.url}/metrics", timeout=10).text
            assert 'upkeep_oncall_pages_total{channel="slack",result="sent"} 1.0' in metrics
            assert 'upkeep_oncall_pages_total{channel="tg",result="sent"} 2.0' in metrics
            assert (
                'upkeep_oncall_ack_seconds_count{person="boris",priority="critical"} 1.0' in metrics
            )

            # who is on call, through the API
            who = api(collector, creds.admin_token, "GET", "/api/v1/oncall/who")
            assert {w["rotation"]: w["person"]["id"] for w in who} == {
                "primary": "anna",
                "secondary": "boris",
            }

            # a second incident: A resolves it with the Telegram button
            key2 = api(
                collector,
                creds.admin_token,
                "POST",
                "/api/v1/incidents",
                json={"client": "acme", "title": "UPS on battery", "priority": "critical"},
            )["key"]
            wait_for(lambda: len(fake.to(f"/bot{TOKEN}/sendMessage")) == 3, 15, "A's Telegram page")
            page = fake.to(f"/bot{TOKEN}/sendMessage")[2].json
            assert page["chat_id"] == "1001" and key2 in page["text"]
            resolve = page["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
            update = {
                "update_id": 1,
                "callback_query": {
                    "id": "cbq-77",
                    "from": {"id": 1001, "is_bot": False, "first_name": "Anna"},
                    "message": {"message_id": 3, "chat": {"id": 1001, "type": "private"}},
                    "data": resolve,
                },
            }
            hook = f"{collector.url}/api/v1/oncall/telegram/tg"
            wrong = httpx.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}, timeout=10
            )
            assert wrong.status_code == 403
            answered = httpx.post(
                hook,
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET},
                timeout=10,
            )
            assert answered.status_code == 200 and answered.json()["done"] is True
            [callback] = fake.to(f"/bot{TOKEN}/answerCallbackQuery")
            assert callback.json == {
                "callback_query_id": "cbq-77",
                "text": "Resolved. The escalation ends.",
            }
            detail2 = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{key2}")
            assert detail2["state"] == "resolved"
            assert next(e for e in detail2["events"] if e["type"] == "resolved")["actor"] == "anna"
