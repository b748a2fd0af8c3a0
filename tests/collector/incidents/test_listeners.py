"""Incident listeners (SLA clocks, ledger, preventive work hook in here): called after every
event inside its transaction; a failing listener is undone and logged, the incident change kept."""

from __future__ import annotations

import sqlalchemy as sa

from collector import admin
from collector.incidents.service import IncidentService


def test_listeners_hear_every_event_and_a_failing_one_is_undone(store):
    admin.create_client(store, "acme")
    service = IncidentService(store)
    seen = []

    def broken(conn, changed):
        conn.execute(sa.text("UPDATE incidents SET title = 'overwritten'"))
        raise RuntimeError("listener bug")

    service.listeners += [
        lambda conn, changed: seen.append((changed.event, changed.key, changed.actor)),
        broken,
    ]
    key = service.report(client="acme", title="printer jammed", actor="bob")
    service.act(key, "acknowledge", "carol")
    assert seen == [("opened", key, "bob"), ("acknowledged", key, "carol")]
    detail = service.get(key)
    assert detail["title"] == "printer jammed"  # the broken listener's write was rolled back
    assert detail["state"] == "acknowledged"  # … and the incident change itself was kept
