"""Listeners only read the incident (issue 14): the SLA clocks, the preventive-work record and
the points ledger run after every incident change and write their own tables, never the
incident's row, its events, comments, time entries or counters. The incident is written once,
complete, by ``IncidentService`` (pipeline decisions carry labels and events).

Every statement the database receives while a listener (or the SLA sweep, which is not a
listener but keeps the same rule) runs is looked at; a write into an incidents table fails
the test with the listener's name and the statement. Real store: SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from collector import admin, timeutil
from collector.connectors import ConnectorsConfig
from collector.connectors.webhook import WebhookConfig
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.incidents.runtime import attach_contract_listeners
from collector.incidents.service import IncidentService
from collector.schema import incident_sla, ledger_entries, notifications, outbox, sla_notices
from collector.settings import Settings
from collector.store import Store

#: The incidents domain's tables: written only by collector.incidents (service, workers).
INCIDENT_TABLES = frozenset(
    {
        "incidents",
        "incident_events",
        "incident_comments",
        "incident_counters",
        "time_entries",
        "tickets",
    }
)
_WRITE = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.I)

T0 = 1_790_000_000.0  # a Monday, 13:33 UTC
ALL_DAY = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CONTRACT = {
    "client": "acme",
    "plan": {"name": "Standard"},
    "calendar": {"timezone": "UTC", "business_hours": ALL_DAY},
    "sla": {"critical": {"response": "10m", "resolution": "1h"}},
    "points": {"allotment": 20, "rates": {"default": 1}, "at_zero": "allow_negative"},
    "contacts": [{"name": "Ops", "email": "ops@acme.example", "receives": ["sla", "low_balance"]}],
}
DESK = ConnectorsConfig(
    connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
)


class IncidentWriteGuard:
    """Records every write into an incidents table made while ``running`` names a listener."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.running: str | None = None
        self.ran: list[str] = []
        self.violations: list[tuple[str, str]] = []
        sa.event.listen(engine, "before_cursor_execute", self._look)

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._look)

    def _look(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.running is None:
            return
        match = _WRITE.match(statement)
        if match and match.group(1).lower() in INCIDENT_TABLES:
            self.violations.append((self.running, " ".join(statement.split())[:200]))

    def watched(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            self.running, outer = name, self.running
            self.ran.append(name)
            try:
                return func(*args, **kwargs)
            finally:
                self.running = outer

        return run


@pytest.fixture
def guard(store: Store) -> Iterator[IncidentWriteGuard]:
    guard = IncidentWriteGuard(store.engine)
    yield guard
    guard.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [T0]
    monkeypatch.setattr(timeutil, "now", lambda: now[0])
    return now


def _service(store: Store, tmp_path: Any, guard: IncidentWriteGuard) -> tuple[IncidentService, Any]:
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        put_contract(
            conn, client.id, Contract.model_validate(CONTRACT), source="t", actor="t", now=T0
        )
    service = IncidentService(store, DESK)
    clocks, _ledger = attach_contract_listeners(service, Settings.for_data_dir(tmp_path))
    service.listeners[:] = [
        guard.watched(getattr(listener, "__qualname__", type(listener).__name__), listener)
        for listener in service.listeners
    ]
    return service, clocks


def test_no_listener_and_no_sla_sweep_writes_an_incidents_table(
    store: Store, tmp_path: Any, guard: IncidentWriteGuard, clock: list[float]
) -> None:
    service, clocks = _service(store, tmp_path, guard)
    sweep = guard.watched("SlaClocks.sweep", clocks.sweep)

    key = service.report(client="acme", title="Database down", actor="alice", priority="critical")
    clock[0] = T0 + 500  # past 75 % of the 10 min response: a warning
    sweep(store, clock[0])
    clock[0] = T0 + 700  # past the response time: a breach
    sweep(store, clock[0])
    clock[0] = T0 + 800
    service.act(key, "acknowledge", "bob")
    service.act(key, "wait", "bob", reason="waiting_for_client")
    clock[0] = T0 + 900
    service.act(key, "resume", "bob")
    service.act(key, "time_entry", "bob", minutes=45, work_type=None, note="restarted it")
    service.act(key, "cause", "bob", cause="client_error")  # the client's staff: points are charged
    clock[0] = T0 + 3000  # past 75 % of the 1 h resolution (100 s of it paused)
    sweep(store, clock[0])
    clock[0] = T0 + 4000  # the resolution breached too
    sweep(store, clock[0])
    service.act(key, "resolve", "bob", note="fixed")
    service.act(key, "reopen", "alice", note="again")
    service.act(key, "resolve", "bob", note="fixed again")
    service.act(key, "close", "bob")

    assert guard.violations == []
    # The guard watched real work: each listener ran, and the SLA notices, the ledger charge
    # and the clocks were written — into their own tables.
    assert set(guard.ran) == {
        "SlaClocks.on_incident",
        "PreventiveRecorder",
        "Ledger.on_incident_changed",
        "ClosingService.on_incident",
        "Oncall.on_incident",
        "SlaClocks.sweep",
    }
    with store.read() as conn:
        kinds = conn.execute(
            sa.select(sla_notices.c.target, sla_notices.c.kind).order_by(sla_notices.c.id)
        ).all()
        clocks_row = conn.execute(sa.select(incident_sla)).one()
        charged = conn.execute(
            sa.select(sa.func.count())
            .select_from(ledger_entries)
            .where(ledger_entries.c.centipoints < 0)
        ).scalar()
        comments = (
            conn.execute(sa.select(outbox.c.payload).where(outbox.c.action == "comment"))
            .scalars()
            .all()
        )
        mailed = conn.execute(sa.select(notifications.c.kind)).scalars().all()
    assert [tuple(k) for k in kinds] == [
        ("response", "warning"),
        ("response", "breach"),
        ("resolution", "warning"),
        ("resolution", "breach"),
    ]
    assert clocks_row.response_breached and clocks_row.resolution_breached
    assert charged >= 1
    assert [c["comment"]["id"] for c in comments if "sla" in c["comment"]["id"]] == [
        f"{key}-sla-response-warning",
        f"{key}-sla-response-breach",
        f"{key}-sla-resolution-warning",
        f"{key}-sla-resolution-breach",
    ]
    assert mailed.count("sla_warning") == 2 and mailed.count("sla_breached") == 2
    # … and the incident's timeline still shows them, through the SLA read function.
    timeline = [e["type"] for e in service.get(key)["events"]]
    assert timeline[:4] == ["opened", "sla_warning", "sla_breached", "acknowledged"]
    assert timeline.count("sla_breached") == 2


def test_the_guard_catches_a_listener_that_writes_the_incident(
    store: Store, tmp_path: Any, guard: IncidentWriteGuard, clock: list[float]
) -> None:
    """The check can fail: a listener writing back into the incident is named."""
    service, _ = _service(store, tmp_path, guard)

    def writes_back(conn: Any, changed: Any) -> None:
        conn.execute(
            sa.text("UPDATE incidents SET title = 'x' WHERE id = :id"), {"id": changed.incident_id}
        )

    service.listeners.append(guard.watched("writes_back", writes_back))
    service.report(client="acme", title="Printer jammed", actor="alice", priority="critical")
    assert [name for name, _ in guard.violations] == ["writes_back"]
    assert guard.violations[0][1].startswith("UPDATE incidents SET title")
