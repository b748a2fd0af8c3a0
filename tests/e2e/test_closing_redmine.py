"""Closing communication end to end with the real Redmine: a real collector (``upkeep serve``)
pushes the client's incident to Redmine, the resolution closes the issue there, the closing
message reaches a real SMTP server (aiosmtpd), and its "not solved" link with a comment reopens
the incident — the Redmine issue then carries the client's comment in a journal and is back in
an open status. Also: an issue a technician closes in Redmine with a note gives the closing
message its "what was done" from that journal."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.incident_kit import wait_for, write_settings
from tests.servers.collector import CollectorProcess, create_admin_token, create_client
from tests.servers.redmine import RedmineServer
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.slow

CONTRACT = """client: {client}
plan: {{name: Standard}}
language: en
calendar: {{timezone: Europe/Berlin}}
contacts:
  - {{name: Office, email: office@{client}.example, receives: [closing]}}
closing: {{auto_close_after: 5d}}
"""
COMMENT = "The scanner still does not send anything."


def _issue(redmine: RedmineServer, key: str) -> dict | None:
    answer = redmine.api("GET", f"issues.json?status_id=*&subject=~{key}")
    found = [i for i in answer["issues"] if i["subject"].startswith(f"[{key}]")]
    assert len(found) <= 1, found
    if not found:
        return None
    return redmine.api("GET", f"issues/{found[0]['id']}.json?include=journals")["issue"]


def _closed_statuses(redmine: RedmineServer) -> dict[str, bool]:
    return {
        s["name"]: bool(s.get("is_closed"))
        for s in redmine.api("GET", "issue_statuses.json")["issue_statuses"]
    }


def _mail(smtp: SmtpServer, key: str):
    def find():
        for m in smtp.messages:
            if key in str(m.message["Subject"]):
                return m
        return None

    mail = wait_for(find, 30, f"the closing mail of {key}")
    return mail.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def _reopen_link(text: str) -> tuple[str, str]:
    for url in re.findall(r"https?://\S+", text):
        parts = urlsplit(url)
        if parts.path.endswith("/reopen"):
            return parts.path, parse_qs(parts.query)["token"][0]
    raise AssertionError(f"no reopen link in {text!r}")


@pytest.fixture
def world(tmp_path: Path, redmine: RedmineServer):
    client = f"cl{uuid.uuid4().hex[:8]}"
    with SmtpServer(tmp_path / "smtp") as smtp:
        config = write_settings(
            tmp_path / "conf",
            {"connectors": {"redmine-main": redmine.connector_config({client: "acme-support"})}},
            notify_email={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "desk@provider.example",
            },
            notify_retry_base=0.2,
            closing_delay=0,
            closing_interval=0.2,
            outbox_poll_closed_interval=1.0,
        )
        with CollectorProcess(tmp_path / "collector", config=config) as collector:
            token = create_admin_token(collector)
            create_client(collector, client)
            contract = tmp_path / f"{client}.yaml"
            contract.write_text(CONTRACT.format(client=client))
            collector.cli("contract", "apply", str(contract), "--config", str(config))
            http = httpx.Client(
                base_url=collector.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            yield client, collector, smtp, http
            http.close()


def _reported(http: httpx.Client, client: str, title: str, redmine: RedmineServer) -> tuple:
    made = http.post("/api/v1/incidents", json={"client": client, "title": title})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    issue = wait_for(lambda: _issue(redmine, key), 30, f"the Redmine issue of {key}")
    assert issue["project"]["name"] == "acme-support"
    return key, issue


def test_not_solved_with_a_comment_reopens_the_redmine_issue_with_that_comment(
    world, redmine: RedmineServer
) -> None:
    client, collector, smtp, http = world
    closed = _closed_statuses(redmine)
    key, issue = _reported(http, client, "Scanner does not send mail", redmine)
    assert not closed[issue["status"]["name"]]

    answer = http.post(
        f"/api/v1/incidents/{key}/resolve", json={"note": "Re-entered the SMTP password."}
    )
    assert answer.status_code == 200, answer.text
    wait_for(
        lambda: closed[_issue(redmine, key)["status"]["name"]],
        30,
        "the issue closed in Redmine",
        log=collector,
    )

    text = _mail(smtp, key)
    assert "What was done: Re-entered the SMTP password.\n" in text
    path, token = _reopen_link(text)
    done = httpx.post(
        f"{collector.url}{path}", data={"token": token, "rating": "2", "comment": COMMENT}
    )
    assert done.status_code == 200, done.text
    assert http.get(f"/api/v1/incidents/{key}").json()["state"] == "open"

    def reopened_with_the_comment() -> dict | None:
        now = _issue(redmine, key)
        notes = [j.get("notes") or "" for j in now["journals"]]
        if closed[now["status"]["name"]] or not any(COMMENT in n for n in notes):
            return None
        return now

    issue = wait_for(
        reopened_with_the_comment, 30, "the comment and the reopen in Redmine", log=collector
    )
    assert issue["status"]["name"] == "New"  # the connector's reopen_status
    notes = [j["notes"] for j in issue["journals"] if j.get("notes")]
    (said,) = [n for n in notes if COMMENT in n]
    assert said.startswith(
        f"client: The client says it is not solved, via the closing link (rating 2/5):\n\n{COMMENT}"
    ), said
    # The reopen came before the comment, each once.
    reopen_note = notes.index("Upkeep: the problem is back; reopened.")
    assert reopen_note < notes.index(said)
    assert sum(COMMENT in n for n in notes) == 1
    # The status change back to an open one is a journal of the issue too.
    assert any(
        d.get("name") == "status_id" and not closed.get(_status_name(redmine, d["new_value"]))
        for j in issue["journals"]
        for d in j.get("details", [])
    )


def _status_name(redmine: RedmineServer, status_id: str) -> str:
    for s in redmine.api("GET", "issue_statuses.json")["issue_statuses"]:
        if str(s["id"]) == str(status_id):
            return s["name"]
    raise AssertionError(f"no status {status_id}")


def test_a_note_written_when_closing_in_redmine_is_what_the_closing_message_says_was_done(
    world, redmine: RedmineServer
) -> None:
    client, _collector, smtp, http = world
    key, issue = _reported(http, client, "Printer on the 2nd floor jams", redmine)
    closed_id = next(
        s["id"]
        for s in redmine.api("GET", "issue_statuses.json")["issue_statuses"]
        if s.get("is_closed")
    )
    redmine.api(
        "PUT",
        f"issues/{issue['id']}.json",
        {"issue": {"status_id": closed_id, "notes": "Replaced the pickup roller on site."}},
    )
    wait_for(
        lambda: http.get(f"/api/v1/incidents/{key}").json()["state"] in ("resolved", "closed"),
        30,
        "the incident to follow the issue closed in Redmine",
    )
    assert http.get(f"/api/v1/incidents/{key}").json()["resolution_note"] == (
        "Replaced the pickup roller on site."
    )
    text = _mail(smtp, key)
    assert "What was done: Replaced the pickup roller on site.\n" in text
