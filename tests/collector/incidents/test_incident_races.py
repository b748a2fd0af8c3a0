"""Incidents stay single across replicas (issue 14), on PostgreSQL with real concurrent
transactions: the per-client counter, one active incident per fingerprint, row locks on state
changes.

Each race is made deterministic: a transaction of the test holds the lock the racers meet,
the test waits until every racer is blocked on it (``pg_stat_activity``), then lets go. So the
racers really are at the same point at the same instant, every run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from collector import admin
from collector.connectors import ConnectorsConfig
from collector.connectors.webhook import WebhookConfig
from collector.incidents.pipeline import AlertSignal
from collector.incidents.service import IncidentService
from collector.schema import incident_counters, incident_events, incidents, outbox
from collector.store import Store
from tests.conftest import _postgres_schema_url, postgres_unavailable

pytestmark = pytest.mark.postgres

CONFIG = ConnectorsConfig(
    connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
)


@pytest.fixture
def pg() -> Iterator[tuple[Store, str]]:
    """A migrated store on a fresh schema; its connections carry a unique application_name."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    for url in _postgres_schema_url():
        name = f"race-{uuid.uuid4().hex[:8]}"
        store = Store.from_url(url, connect_args={"application_name": name}, pool_size=25)
        store.upgrade()
        try:
            yield store, name
        finally:
            store.dispose()


def _signal(client_id: int, fingerprint: str, **kw: Any) -> AlertSignal:
    values: dict[str, Any] = {
        "fingerprint": fingerprint,
        "name": "disk_full",
        "client_id": client_id,
        "client": "newco",
        "status": "firing",
        "ts": time.time(),
        "severity": "warning",
        "priority": "minor",
        "summary": "Disk / is 91% full",
        "value": 91.0,
        "asset": "srv1",
    }
    return AlertSignal(**{**values, **kw})


def _waiting(store: Store, app: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = :app AND wait_event_type = 'Lock'"
            ),
            {"app": app},
        ).scalar_one()


def _race(
    store: Store,
    app: str,
    hold: Callable[[sa.Connection], None],
    racers: list[Callable[[], Any]],
) -> list[BaseException]:
    """Run ``racers`` in threads while a transaction that did ``hold`` is open; end it (roll
    back) once all of them wait on its locks. Returns the racers' exceptions."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(racer: Callable[[], Any]) -> None:
        try:
            racer()
        except BaseException as exc:  # collected and asserted by the test
            with lock:
                errors.append(exc)

    holder = store.engine.connect()
    tx = holder.begin()
    hold(holder)
    threads = [threading.Thread(target=run, args=(r,)) for r in racers]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while _waiting(store, app) < len(racers):
            assert not errors, errors
            assert time.monotonic() < deadline, "the racers never met the lock"
            time.sleep(0.02)
    finally:
        tx.rollback()
        holder.close()
        for t in threads:
            t.join(60)
    return errors


def test_twenty_concurrent_first_incidents_of_a_new_client_get_distinct_keys(pg) -> None:
    store, app = pg
    client = admin.create_client(store, "newco")
    service = IncidentService(store, CONFIG)

    def first(n: int) -> Callable[[], Any]:
        def open_one() -> None:
            with store.write() as conn:
                service.apply_signal(conn, _signal(client.id, f"fp-{n}"), time.time())

        return open_one

    def hold(conn: sa.Connection) -> None:
        # Another replica is creating the counter right now (not committed yet).
        conn.execute(incident_counters.insert().values(client_id=client.id, last_number=0))

    errors = _race(store, app, hold, [first(n) for n in range(20)])
    assert errors == []
    with store.read() as conn:
        rows = conn.execute(sa.select(incidents.c.key, incidents.c.number)).all()
        last = conn.execute(sa.select(incident_counters.c.last_number)).scalar_one()
    assert len(rows) == 20
    assert sorted(r.number for r in rows) == list(range(1, 21))
    assert len({r.key for r in rows}) == 20 and last == 20


def test_the_same_fingerprint_firing_on_two_connections_at_once_is_one_incident(pg) -> None:
    store, app = pg
    client = admin.create_client(store, "newco")
    service = IncidentService(store, CONFIG)
    applied: list[Any] = []

    def fire() -> None:
        with store.write() as conn:
            applied.append(service.apply_signal(conn, _signal(client.id, "fp-x"), time.time()))

    with store.write() as conn:  # the client's counter exists: both racers reach its row lock
        conn.execute(incident_counters.insert().values(client_id=client.id, last_number=0))

    def hold(conn: sa.Connection) -> None:
        # Both racers have found no active incident and wait to number theirs.
        conn.execute(
            incident_counters.update()
            .where(incident_counters.c.client_id == client.id)
            .values(last_number=incident_counters.c.last_number)
        )

    errors = _race(store, app, hold, [fire, fire])
    assert errors == []
    with store.read() as conn:
        rows = conn.execute(sa.select(incidents)).all()
        events = conn.execute(sa.select(incident_events.c.type)).scalars().all()
        opens = conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.action == "open")
        ).scalar_one()
    assert len(rows) == 1 and rows[0].count == 2  # the second is a repeat of the first
    assert sorted(a.event for a in applied) == ["opened", "repeated"]
    assert events.count("opened") == 1 and opens == 1


def test_two_concurrent_closes_from_the_ticket_system_queue_one_resolve(pg) -> None:
    store, app = pg
    client = admin.create_client(store, "newco")
    service = IncidentService(store, CONFIG)
    with store.write() as conn:
        key = service.apply_signal(conn, _signal(client.id, "fp-x"), time.time()).key
    with store.read() as conn:
        incident_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.key == key)
        ).scalar_one()

    def close() -> None:
        service.close_from_ticket(incident_id, "desk", time.time())

    def hold(conn: sa.Connection) -> None:
        # A technician's change holds the row: both closes read it and then wait.
        conn.execute(
            incidents.update().where(incidents.c.id == incident_id).values(assignee="jane")
        )

    errors = _race(store, app, hold, [close, close])
    assert errors == []
    with store.read() as conn:
        closed = conn.execute(
            sa.select(sa.func.count())
            .select_from(incident_events)
            .where(incident_events.c.type == "closed")
        ).scalar_one()
        actions = conn.execute(sa.select(outbox.c.action).order_by(outbox.c.id)).scalars().all()
        state = conn.execute(
            sa.select(incidents.c.state).where(incidents.c.id == incident_id)
        ).scalar_one()
    assert state == "closed" and closed == 1
    assert actions.count("open") == 1 and len(actions) == 2  # the opening, and one close/resolve
