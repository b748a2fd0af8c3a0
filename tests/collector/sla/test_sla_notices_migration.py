"""Migration 0012 moves the SLA notices already sent from the incident's event log into the
SLA domain's ``sla_notices`` (nothing sent is lost from the timeline); SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from collector.store import Store, alembic_config


def test_sla_events_move_to_sla_notices_and_stay_in_the_timeline(db_url) -> None:
    store = Store.from_url(db_url)
    try:
        from collector import admin
        from collector.incidents.service import IncidentService

        store.upgrade()
        admin.create_client(store, "acme")
        service = IncidentService(store)
        key = service.report(client="acme", title="Router down", actor="alice", priority="critical")
        # Back to the release before, which wrote SLA notices as incident events.
        with store.engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0011")
            conn.commit()
        with store.engine.begin() as conn:
            incident_id = conn.execute(
                sa.text("SELECT id FROM incidents WHERE key = :k"), {"k": key}
            ).scalar_one()
            for ts, type_, target in (
                (10.0, "sla_warning", "response"),
                (20.0, "sla_breached", "response"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO incident_events (incident_id, ts, actor, type, data) "
                        "VALUES (:i, :ts, 'upkeep', :t, :d)"
                    ),
                    {
                        "i": incident_id,
                        "ts": ts,
                        "t": type_,
                        "d": f'{{"target": "{target}", "body": "{type_}"}}',
                    },
                )
        store.upgrade()
        with store.read() as conn:
            moved = conn.execute(
                sa.text("SELECT target, kind, ts FROM sla_notices ORDER BY id")
            ).all()
            left = conn.execute(
                sa.text("SELECT count(*) FROM incident_events WHERE type LIKE 'sla_%'")
            ).scalar()
        assert [tuple(r) for r in moved] == [
            ("response", "warning", 10.0),
            ("response", "breach", 20.0),
        ]
        assert left == 0
        types = [e["type"] for e in service.get(key)["events"]]
        assert types.count("sla_warning") == 1 and types.count("sla_breached") == 1
    finally:
        store.dispose()
