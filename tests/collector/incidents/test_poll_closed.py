"""Two-way close against the real Redmine: the ticket poll follows a close made there by a
person, never the echo of Upkeep's own resolve, and never a close that a queued reopen is about
to undo (CI once saw the reopened incident closed again by the stale close, and the Redmine
issue with it)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from collector import admin
from collector.connectors import ConnectorsConfig
from collector.incidents.outbox import OutboxWorkers
from collector.incidents.service import IncidentService
from collector.schema import incidents, tickets
from collector.settings import Settings
from tests.servers.redmine import RedmineServer


def _issue(redmine: RedmineServer, external_id: str) -> dict:
    return redmine.api("GET", f"issues/{external_id}.json")["issue"]


def _closed_status(redmine: RedmineServer) -> int:
    return next(
        s["id"]
        for s in redmine.api("GET", "issue_statuses.json")["issue_statuses"]
        if s.get("is_closed")
    )


def test_the_poll_follows_a_close_there_not_our_resolve_nor_a_close_a_reopen_will_undo(
    store, tmp_path, redmine: RedmineServer
) -> None:
    admin.create_client(store, "acme")
    config = ConnectorsConfig.model_validate(
        {"connectors": {"redmine-main": redmine.connector_config({"acme": "acme-support"})}}
    )
    service = IncidentService(store, config)
    workers = OutboxWorkers(
        store,
        Settings.for_data_dir(tmp_path / "data"),
        config.build(),
        on_closed=service.close_from_ticket,
    )

    def drain() -> None:
        while workers.run_once():
            pass

    def state() -> str:
        return service.get(key)["state"]

    key = service.report(client="acme", title="Scanner does not send mail", actor="phone")
    drain()
    with store.read() as conn:
        incident_id, external_id = conn.execute(
            sa.select(tickets.c.incident_id, tickets.c.external_id)
            .join(incidents, incidents.c.id == tickets.c.incident_id)
            .where(incidents.c.key == key)
        ).one()

    # Our resolve closes the issue there: its echo is not a technician's close.
    service.act(key, "resolve", "tech", note="Re-entered the SMTP password.")
    drain()
    assert _issue(redmine, external_id)["status"]["is_closed"]
    assert workers.poll_closed() == 0 and state() == "resolved"

    # The client says it is not solved: the reopen is queued, the issue there still closed.
    with store.write() as conn:
        service.client_answer(
            conn, incident_id, "reopened", "client", time.time(), via="link", comment="still broken"
        )
    assert state() == "open" and _issue(redmine, external_id)["status"]["is_closed"]
    assert workers.poll_closed() == 0 and state() == "open"  # the stale close is not followed
    drain()
    assert not _issue(redmine, external_id)["status"].get("is_closed")
    assert workers.poll_closed() == 0 and state() == "open"

    # A technician closes it in Redmine: followed, once.
    redmine.api(
        "PUT",
        f"issues/{external_id}.json",
        {"issue": {"status_id": _closed_status(redmine), "notes": "fixed on site"}},
    )
    assert workers.poll_closed() == 1
    detail = service.get(key)
    assert (detail["state"], detail["resolution_note"]) == ("closed", "fixed on site")
    assert workers.poll_closed() == 0
