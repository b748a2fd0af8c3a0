"""Time entries logged in a real Redmine are mirrored into Upkeep once (source = the connector,
unique external id); entries Upkeep pushed there come back as nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from collector import admin
from collector.connectors import ConnectorsConfig
from collector.connectors.base import marked_id
from collector.incidents.outbox import OutboxWorkers
from collector.incidents.service import IncidentService
from collector.preventive import PreventiveRecorder
from collector.schema import incident_events, preventive_work, tickets, time_entries
from collector.settings import Settings
from tests.servers.redmine import RedmineServer


def test_marked_id() -> None:
    assert marked_id("[upkeep:UPK-acme-1-t7] Cleaned up") == "UPK-acme-1-t7"
    assert marked_id("cleaned up by hand") is None and marked_id(None) is None


def test_time_logged_in_redmine_is_mirrored_once(store, tmp_path, redmine: RedmineServer) -> None:
    client = f"acme{uuid.uuid4().hex[:8]}"
    admin.create_client(store, client)
    config = ConnectorsConfig.model_validate(
        {
            "connectors": {
                "redmine-main": {
                    "type": "redmine",
                    "url": redmine.url,
                    "api_key": redmine.api_key,
                    "default_project": "support",
                    "key_custom_field_id": redmine.custom_field_id,
                    "time_entry_activity": "Maintenance",
                    "timeout": 15,
                }
            }
        }
    )
    service = IncidentService(store, config)
    service.listeners.append(PreventiveRecorder())
    workers = OutboxWorkers(
        store, Settings.for_data_dir(tmp_path), config.build(), incident_listeners=service.listeners
    )
    try:
        key = service.report(client=client, title="Scanner offline", actor="jane")
        service.act(key, "time_entry", "bob", minutes=45, note="reinstalled the driver")
        while workers.run_once():
            pass
        with store.read() as conn:
            issue_id = conn.execute(sa.select(tickets.c.external_id)).scalar_one()
        redmine.api(
            "POST",
            "time_entries.json",
            {
                "time_entry": {
                    "issue_id": int(issue_id),
                    "hours": 0.5,
                    "comments": "on site: replaced the cable",
                    "spent_on": "2026-03-02",
                }
            },
        )
        pushed = redmine.api("GET", f"time_entries.json?issue_id={issue_id}")["time_entries"]
        assert len(pushed) == 2 and any(marked_id(e["comments"]) for e in pushed)

        assert workers.poll_time_entries() == 1
        assert workers.poll_time_entries() == 0  # re-read: nothing new
        with store.read() as conn:
            rows = conn.execute(sa.select(time_entries).order_by(time_entries.c.id)).all()
            events = conn.execute(
                sa.select(incident_events.c.type, incident_events.c.data).where(
                    incident_events.c.type == "time_mirrored"
                )
            ).all()
        assert [(r.source, r.minutes) for r in rows] == [("upkeep", 45), ("redmine-main", 30)]
        mirrored = rows[1]
        assert (
            mirrored.note == "on site: replaced the cable" and mirrored.work_type == "Maintenance"
        )
        assert mirrored.external_id and mirrored.actor  # Redmine's entry id and its user
        assert [e.data["minutes"] for e in events] == [30]
        # A mirrored entry is not pushed back to Redmine.
        while workers.run_once():
            pass
        assert (
            len(redmine.api("GET", f"time_entries.json?issue_id={issue_id}")["time_entries"]) == 2
        )
    finally:
        workers.stop()
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(preventive_work)).scalar() == 0
