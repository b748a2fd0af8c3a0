"""One active incident per fingerprint, enforced by the database on SQLite and PostgreSQL
(the partial unique index of migration 0010), and the migration's handling of duplicates."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic import command

from collector import admin
from collector.incidents import lifecycle
from collector.incidents.service import IncidentService
from collector.schema import ACTIVE_STATES, incident_events, incidents
from collector.store import Store, alembic_config


def _row(client_id: int, number: int, state: str, fingerprint: str | None = "fp") -> dict:
    now = time.time()
    return {
        "key": f"UPK-acme-{number}",
        "client_id": client_id,
        "number": number,
        "fingerprint": fingerprint,
        "origin": "proactive",
        "state": state,
        "priority": "minor",
        "kind": "problem",
        "title": "t",
        "description": "",
        "labels": {},
        "count": 1,
        "flapping": False,
        "version": 1,
        "opened_at": now,
        "updated_at": now,
    }


def test_the_index_states_are_the_lifecycles_active_states() -> None:
    assert ACTIVE_STATES == lifecycle.ACTIVE


def test_the_database_refuses_a_second_active_incident_of_a_fingerprint(store: Store) -> None:
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        conn.execute(incidents.insert().values(_row(client.id, 1, "open")))
        conn.execute(incidents.insert().values(_row(client.id, 2, "resolved")))  # history: fine
        conn.execute(incidents.insert().values(_row(client.id, 3, "open", None)))  # people: fine
        conn.execute(incidents.insert().values(_row(client.id, 4, "open", None)))
    for state in ACTIVE_STATES:
        with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
            conn.execute(incidents.insert().values(_row(client.id, 9, state)))
    with store.write() as conn:  # resolving frees the fingerprint for a new incident
        conn.execute(incidents.update().where(incidents.c.number == 1).values(state="resolved"))
        conn.execute(incidents.insert().values(_row(client.id, 5, "acknowledged")))


def test_migration_0010_closes_older_duplicates_and_keeps_the_newest(db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        with store.engine.connect() as conn:
            command.upgrade(alembic_config(conn), "0007")
            conn.commit()
        client = admin.create_client(store, "acme")
        with store.write() as conn:
            for number in (1, 2, 3):
                conn.execute(incidents.insert().values(_row(client.id, number, "open")))
            conn.execute(incidents.insert().values(_row(client.id, 4, "open", "other")))
        store.upgrade()
        with store.read() as conn:
            states = dict(conn.execute(sa.select(incidents.c.number, incidents.c.state)).all())
            notes = conn.execute(
                sa.select(incident_events.c.data).where(incident_events.c.type == "closed")
            ).scalars()
            notes = sorted(n["note"] for n in notes)
        assert states == {1: "closed", 2: "closed", 3: "open", 4: "open"}
        assert notes == ["duplicate of UPK-acme-3 (migration 0010)"] * 2
        # And the lifecycle goes on with the one left: a repeat updates incident 3.
        service = IncidentService(store)
        with store.read() as conn:
            active = service._by_fingerprint(conn, "fp", lifecycle.ACTIVE)
        assert active.number == 3
    finally:
        store.dispose()


def test_reopening_an_old_incident_while_a_new_one_of_its_alert_is_active_is_refused(
    store: Store,
) -> None:
    from collector.errors import InvalidArgument

    client = admin.create_client(store, "acme")
    with store.write() as conn:
        conn.execute(incidents.insert().values(_row(client.id, 1, "resolved")))
        conn.execute(incidents.insert().values(_row(client.id, 2, "open")))
    service = IncidentService(store)
    with pytest.raises(InvalidArgument, match="another incident of the same alert is active"):
        service.act("UPK-acme-1", "reopen", "jane")
    with store.read() as conn:
        states = dict(conn.execute(sa.select(incidents.c.number, incidents.c.state)).all())
        reopened = conn.execute(
            sa.select(sa.func.count()).select_from(incident_events)
        ).scalar_one()
    assert states == {1: "resolved", 2: "open"} and reopened == 0  # nothing half written
    service.act("UPK-acme-2", "resolve", "jane")
    assert service.act("UPK-acme-1", "reopen", "jane") == "reopened"
