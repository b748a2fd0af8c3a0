"""The technician's closing note read back from the ticket system when a ticket was closed
there: Jira's comments against a local fake of Jira Cloud that asserts the exact requests
(Redmine's journals are read against the real Redmine in tests/e2e/test_incidents_redmine.py),
through the ticket poll into the incident's resolution note."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from collector import admin
from collector.connectors import ConnectorsConfig
from collector.connectors.base import technician_note
from collector.connectors.jira import adf, adf_text
from collector.incidents.outbox import OutboxWorkers
from collector.incidents.service import IncidentService
from collector.schema import incidents, outbox, tickets
from collector.settings import Settings
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

AUTH = "Basic " + base64.b64encode(b"bot@msp.example:jira-token-123").decode()
DONE = {"name": "Done", "statusCategory": {"key": "done"}}
COMMENTS = [
    {"id": "1", "body": adf("upkeep: disk almost full\n[upkeep:UPK-acme-1-c1]")},
    {"id": "2", "body": adf("Moved the old backups to the archive volume.\nFreed 40 GB.")},
    {"id": "3", "body": adf("Resolved by Upkeep at 2026-10-05 09:30 UTC.\n[upkeep:resolve-3]")},
]


def jira(request: RecordedRequest) -> Reply:
    if request.headers.get("authorization") != AUTH:
        return Reply(401, {"errorMessages": ["Client must be authenticated"]})
    if request.method == "POST" and request.route == "/rest/api/3/search/jql":
        return Reply(200, {"issues": [{"id": "10007", "key": "OPS-7", "fields": {"status": DONE}}]})
    if request.method == "GET" and request.route == "/rest/api/3/issue/OPS-7/comment":
        return Reply(200, {"comments": COMMENTS, "total": 3})
    return Reply(404, {"errorMessages": ["unexpected"]})


def _connectors(url: str) -> ConnectorsConfig:
    return ConnectorsConfig.model_validate(
        {
            "connectors": {
                "jira": {
                    "type": "jira",
                    "url": url,
                    "email": "bot@msp.example",
                    "api_token": "jira-token-123",
                    "default_project": "OPS",
                    "timeout": 5,
                }
            }
        }
    )


def test_technician_note_skips_what_upkeep_wrote() -> None:
    assert technician_note(["fixed", "Upkeep: priority changed to major.", "[upkeep:x] y"]) == (
        "fixed"
    )
    assert technician_note(["Resolved by Upkeep.", "  "]) is None
    assert adf_text(adf("a\nb")) == "a\nb" and adf_text("plain") == "plain"


def test_a_jira_ticket_closed_there_brings_its_comment_as_the_resolution_note(
    store, tmp_path
) -> None:
    admin.create_client(store, "acme")
    with FakeHttpServer(jira) as server:
        config = _connectors(server.url)
        service = IncidentService(store, config)
        key = service.report(client="acme", title="Backup volume full", actor="jane")
        with store.write() as conn:
            incident_id = conn.execute(
                sa.select(incidents.c.id).where(incidents.c.key == key)
            ).scalar_one()
            conn.execute(
                tickets.insert().values(
                    incident_id=incident_id,
                    connector="jira",
                    external_id="OPS-7",
                    url=f"{server.url}/browse/OPS-7",
                    created_at=0.0,
                    updated_at=0.0,
                )
            )
            # The open was delivered (that is how the ticket exists): nothing undelivered.
            conn.execute(
                outbox.update().where(outbox.c.incident_id == incident_id).values(state="done")
            )
        workers = OutboxWorkers(
            store,
            Settings.for_data_dir(tmp_path / "data"),
            config.build(),
            on_closed=service.close_from_ticket,
        )
        assert workers.poll_closed() == 1
    search, read = server.requests
    assert (search.method, search.route) == ("POST", "/rest/api/3/search/jql")
    assert search.json["jql"] == "key in (OPS-7) AND statusCategory = Done"
    assert (read.method, read.path) == (
        "GET",
        "/rest/api/3/issue/OPS-7/comment?orderBy=created&maxResults=100",
    )
    assert read.headers["authorization"] == AUTH and read.body == b""
    detail = service.get(key)
    assert detail["state"] == "closed"
    assert detail["resolution_note"] == "Moved the old backups to the archive volume.\nFreed 40 GB."
    assert detail["events"][-1]["data"]["from_ticket"] == "jira"


def test_no_note_when_the_connector_cannot_read_one(store, tmp_path) -> None:
    """A failing read never keeps the incident from closing (the note is then generic)."""

    def broken(request: RecordedRequest) -> Reply:
        if request.route == "/rest/api/3/search/jql":
            return Reply(200, {"issues": [{"id": "1", "key": "OPS-7", "fields": {"status": DONE}}]})
        return Reply(503, {"errorMessages": ["down"]})

    admin.create_client(store, "acme")
    with FakeHttpServer(broken) as server:
        config = _connectors(server.url)
        service = IncidentService(store, config)
        key = service.report(client="acme", title="Backup volume full", actor="jane")
        with store.write() as conn:
            incident_id = conn.execute(
                sa.select(incidents.c.id).where(incidents.c.key == key)
            ).scalar_one()
            conn.execute(
                tickets.insert().values(
                    incident_id=incident_id,
                    connector="jira",
                    external_id="OPS-7",
                    url=None,
                    created_at=0.0,
                    updated_at=0.0,
                )
            )
            # The open was delivered (that is how the ticket exists): nothing undelivered.
            conn.execute(
                outbox.update().where(outbox.c.incident_id == incident_id).values(state="done")
            )
        connector = config.build()["jira"]
        workers = OutboxWorkers(
            store,
            Settings.for_data_dir(tmp_path / "data"),
            {"jira": connector},
            on_closed=service.close_from_ticket,
        )
        assert workers.poll_closed() == 1
    detail = service.get(key)
    assert (detail["state"], detail["resolution_note"]) == ("closed", "closed in jira")
