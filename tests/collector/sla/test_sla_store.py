"""SLA clocks in the store (SQLite and PostgreSQL): the listener keeps ``incident_sla`` and
``sla_pauses`` right through an incident's life; the sweep sends each warning and breach
exactly once (incident event, outbox comment, notification); compliance per period."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from collector import admin, timeutil
from collector.connectors import ConnectorsConfig
from collector.connectors.webhook import WebhookConfig
from collector.contracts.model import Contract
from collector.contracts.store import get_contract, put_contract
from collector.incidents.runtime import attach_listeners
from collector.incidents.service import IncidentService
from collector.metrics import CollectorMetrics
from collector.schema import (
    incident_sla,
    incidents,
    notifications,
    outbox,
    sla_pauses,
)
from collector.settings import Settings
from collector.sla import compliance
from collector.sla.service import notices as sla_notices

T0 = 1_790_000_000.0  # 2026-09-21 13:33:20 UTC, a Monday
ALL_DAY = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "calendar": {"timezone": "UTC", "business_hours": ALL_DAY},
    "sla": {
        "critical": {"response": "10m", "resolution": "1h"},
        "major": {"response": "1h", "resolution": "4h"},
    },
    "contacts": [
        {"name": "Ops", "email": "ops@acme.example", "receives": ["sla"]},
        {"name": "Boss", "email": "boss@acme.example", "receives": ["reports"]},
    ],
}
DESK = ConnectorsConfig(
    connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
)


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.now = T0
        monkeypatch.setattr(timeutil, "now", lambda: self.now)

    def at(self, offset: float) -> float:
        self.now = T0 + offset
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def acme(store):
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        put_contract(
            conn, client.id, Contract.model_validate(CONTRACT), source="test", actor="t", now=T0
        )
    return client


@pytest.fixture
def service(store, acme):
    service = IncidentService(store, DESK)
    service.sla = attach_listeners(service)
    return service


def sla_row(store, key):
    with store.read() as conn:
        return (
            conn.execute(
                sa.select(incident_sla)
                .join(incidents, incidents.c.id == incident_sla.c.incident_id)
                .where(incidents.c.key == key)
            )
            .mappings()
            .first()
        )


def pauses(store):
    with store.read() as conn:
        return [
            (p.reason, p.started_at - T0, None if p.ended_at is None else p.ended_at - T0, p.actor)
            for p in conn.execute(sa.select(sla_pauses).order_by(sla_pauses.c.id))
        ]


def test_listener_follows_open_ack_wait_resume_priority_resolve(store, service, clock):
    key = service.report(client="acme", title="Mail server slow", actor="alice", priority="major")
    row = sla_row(store, key)
    assert (row["state"], row["priority"], row["response_target"], row["resolution_target"]) == (
        "running",
        "major",
        3600,
        4 * 3600,
    )
    assert (row["response_due_at"] - T0, row["resolution_due_at"] - T0) == (3600, 4 * 3600)

    clock.at(600)
    service.act(key, "acknowledge", "bob")
    row = sla_row(store, key)
    assert (row["responded_at"] - T0, row["response_elapsed"], row["response_breached"]) == (
        600,
        600,
        False,
    )

    clock.at(1200)
    service.act(
        key, "wait", "bob", reason="waiting_for_client", note="asked for the admin password"
    )
    assert sla_row(store, key)["state"] == "paused"
    assert pauses(store) == [("waiting_for_client", 1200, None, "bob")]

    clock.at(3000)
    service.act(key, "resume", "bob")
    row = sla_row(store, key)
    assert (row["state"], row["paused_seconds"], row["resolution_due_at"] - T0) == (
        "running",
        1800,
        4 * 3600 + 1800,
    )
    assert pauses(store) == [("waiting_for_client", 1200, 3000, "bob")]

    clock.at(3600)
    assert (
        service.act(key, "priority", "carol", priority="critical", note="CEO affected")
        == "priority_changed"
    )
    row = sla_row(store, key)
    # critical: 1 h resolution from detection, the 30 min pause still excluded; the response
    # (10 min) was met exactly at 600 s.
    assert (row["priority"], row["resolution_target"], row["resolution_due_at"] - T0) == (
        "critical",
        3600,
        5400,
    )
    assert (row["response_breached"], row["resolution_elapsed"], row["paused_seconds"]) == (
        False,
        1800,
        1800,
    )
    assert pauses(store) == [("waiting_for_client", 1200, 3000, "bob")]  # kept across the change

    clock.at(4000)
    service.act(key, "resolve", "bob", note="queue drained")
    row = sla_row(store, key)
    assert (
        row["state"],
        row["resolved_at"] - T0,
        row["resolution_elapsed"],
        row["resolution_breached"],
    ) == ("stopped", 4000, 2200, False)

    detail = service.get(key)
    assert [e["type"] for e in detail["events"]] == [
        "opened",
        "acknowledged",
        "waiting",
        "resumed",
        "priority_changed",
        "resolved",
    ]
    assert detail["events"][4]["data"] == {
        "previous_priority": "major",
        "priority": "critical",
        "note": "CEO affected",
    }
    sla = detail["sla"]
    assert sla["state"] == "stopped" and sla["paused_seconds"] == 1800
    assert sla["resolution"]["elapsed_seconds"] == 2200 and sla["resolution"]["breached"] is False
    assert [(p["reason"], p["seconds"], p["actor"]) for p in sla["pauses"]] == [
        ("waiting_for_client", 1800, "bob")
    ]
    # the ticket systems heard: open, update (wait), update (resume), escalate, resolve
    with store.read() as conn:
        actions = conn.execute(sa.select(outbox.c.action).order_by(outbox.c.id)).scalars().all()
    assert actions == ["open", "update", "update", "update", "escalate", "resolve"]


def test_waiting_on_an_open_incident_is_its_response(store, service, clock):
    key = service.report(client="acme", title="Printer offline", actor="alice", priority="major")
    clock.at(900)
    service.act(key, "wait", "bob", reason="waiting_for_third_party")
    row = sla_row(store, key)
    assert (row["responded_at"] - T0, row["state"]) == (900, "paused")
    clock.at(1000)
    service.act(key, "wait", "bob", reason="waiting_for_client")  # the reason changed: a new pause
    clock.at(1500)
    service.act(key, "resolve", "bob")  # resolving ends the pause
    assert pauses(store) == [
        ("waiting_for_third_party", 900, 1000, "bob"),
        ("waiting_for_client", 1000, 1500, "bob"),
    ]
    assert sla_row(store, key)["resolution_elapsed"] == 900


def test_reopen_does_not_count_the_time_it_was_resolved(store, service, clock):
    key = service.report(client="acme", title="VPN down", actor="alice", priority="major")
    clock.at(1000)
    service.act(key, "resolve", "bob")
    clock.at(5000)
    service.act(key, "reopen", "bob")
    assert pauses(store) == [("resolved", 1000, 5000, "bob")]
    clock.at(6000)
    row = sla_row(store, key)
    # the response stopped at the first resolution and stays stopped after the reopen
    assert (row["state"], row["responded_at"] - T0, row["resolution_elapsed"]) == (
        "running",
        1000,
        1000,
    )
    assert row["resolution_due_at"] - T0 == 4 * 3600 + 4000


def test_no_contract_or_no_target_means_no_clock_but_pauses_are_kept(store, service, clock):
    admin.create_client(store, "globex")
    key = service.report(client="globex", title="Fax broken", actor="alice", priority="minor")
    clock.at(60)
    service.act(key, "wait", "bob", reason="waiting_for_client")
    assert sla_row(store, key) is None and service.get(key)["sla"] is None
    assert pauses(store) == [("waiting_for_client", 60, None, "bob")]
    # acme has no target for minor; raising it to major starts the clock from detection
    key = service.report(client="acme", title="Toner low", actor="alice", priority="minor")
    assert sla_row(store, key) is None
    clock.at(120)
    service.act(key, "priority", "bob", priority="major")
    row = sla_row(store, key)
    assert row["priority"] == "major" and row["response_due_at"] - T0 == 60 + 3600


def events(store, type_):
    """The SLA notices of one kind, through the SLA domain's read function (they are its
    facts, not incident events)."""
    kind = {"sla_warning": "warning", "sla_breached": "breach"}[type_]
    with store.read() as conn:
        return [n["data"] for n in sla_notices(conn) if n["kind"] == kind]


def test_sweep_sends_each_warning_and_breach_once(store, service, clock):
    key = service.report(client="acme", title="Database down", actor="alice", priority="critical")
    for offset in (300, 449):
        service.sla.sweep(store, clock.at(offset))
    assert events(store, "sla_warning") == []
    for offset in (450, 500, 550):  # 75 % of 10 min
        service.sla.sweep(store, clock.at(offset))
    assert [(e["target"], e["priority"]) for e in events(store, "sla_warning")] == [
        ("response", "critical")
    ]
    for offset in (601, 700, 1000):
        service.sla.sweep(store, clock.at(offset))
    breaches = events(store, "sla_breached")
    assert [(e["target"], e["within"], e["due_at"] - T0) for e in breaches] == [
        ("response", 600, 600)
    ]
    assert "SLA breached" in breaches[0]["body"]
    assert sla_row(store, key)["response_breached"] is True

    service.sla.sweep(store, clock.at(2700))  # 75 % of the 1 h resolution
    service.sla.sweep(store, clock.at(3601))
    service.sla.sweep(store, clock.at(3700))
    assert [e["target"] for e in events(store, "sla_warning")] == ["response", "resolution"]
    assert [e["target"] for e in events(store, "sla_breached")] == ["response", "resolution"]
    assert sorted(sla_row(store, key)["notified"]) == [
        "resolution:breach",
        "resolution:warning",
        "response:breach",
        "response:warning",
    ]

    with store.read() as conn:
        rows = conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()
        sent = conn.execute(sa.select(notifications).order_by(notifications.c.id)).all()
    assert [(r.action, r.connector) for r in rows] == [("open", "desk")] + [("comment", "desk")] * 4
    comments = [r.payload["comment"] for r in rows[1:]]
    assert [c["id"] for c in comments] == [
        f"{key}-sla-response-warning",
        f"{key}-sla-response-breach",
        f"{key}-sla-resolution-warning",
        f"{key}-sla-resolution-breach",
    ]
    assert comments[0]["body"].startswith(
        f"SLA warning for {key} (critical): 75% of the response time"
    )
    assert [(n.kind, n.recipients, n.dedupe_key) for n in sent] == [
        ("sla_warning", ["ops@acme.example"], f"sla:{key}:response:warning"),
        ("sla_breached", ["ops@acme.example"], f"sla:{key}:response:breach"),
        ("sla_warning", ["ops@acme.example"], f"sla:{key}:resolution:warning"),
        ("sla_breached", ["ops@acme.example"], f"sla:{key}:resolution:breach"),
    ]
    assert sent[1].subject == f"SLA breached: {key} response"


def test_a_late_acknowledgement_is_a_breach_without_waiting_for_the_sweep(store, service, clock):
    key = service.report(client="acme", title="Router down", actor="alice", priority="critical")
    clock.at(900)
    service.act(key, "acknowledge", "bob")  # 15 min for a 10 min response
    assert [e["target"] for e in events(store, "sla_breached")] == ["response"]
    assert events(store, "sla_warning") == []
    assert [e["type"] for e in service.get(key)["events"]] == [
        "opened",
        "acknowledged",
        "sla_breached",
    ]
    service.sla.sweep(store, clock.at(1000))
    assert len(events(store, "sla_breached")) == 1


def test_paused_clocks_do_not_warn(store, service, clock):
    key = service.report(client="acme", title="Backup failed", actor="alice", priority="critical")
    clock.at(60)
    service.act(key, "acknowledge", "bob")
    clock.at(120)
    service.act(key, "wait", "bob", reason="waiting_for_third_party")
    service.sla.sweep(store, clock.at(5 * 3600))
    assert events(store, "sla_warning") == [] and events(store, "sla_breached") == []
    assert sla_row(store, key)["state"] == "paused"


def test_compliance_per_priority(store, service, clock):
    keys = []
    for priority in ("critical", "critical", "major", "major"):
        keys.append(
            service.report(
                client="acme", title=f"{priority} thing", actor="alice", priority=priority
            )
        )
    clock.at(300)
    service.act(keys[0], "acknowledge", "bob")  # critical: response met
    clock.at(1800)
    service.act(keys[0], "resolve", "bob")  # … resolution met
    service.act(keys[1], "acknowledge", "bob")  # critical: response breached (30 min)
    service.act(keys[2], "acknowledge", "bob")  # major: response met
    clock.at(5 * 3600)
    service.act(keys[2], "resolve", "bob")  # major: resolution breached (5 h of 4 h)
    # keys[3] (major): never acknowledged, past due at 5 h → response and resolution breached
    with store.read() as conn:
        client_id = admin.get_client(conn, "acme").id
        figures = compliance(conn, client_id, T0 - 1, T0 + 86400, now=T0 + 5 * 3600)
        later = compliance(conn, client_id, T0 + 1, T0 + 86400, now=T0 + 5 * 3600)
    crit, major = figures["priorities"]["critical"], figures["priorities"]["major"]
    assert crit == {
        "incidents": 2,
        "response": {"met": 1, "breached": 1, "pending": 0, "percent": 50.0},
        "resolution": {"met": 1, "breached": 1, "pending": 0, "percent": 50.0},
    }
    assert major == {
        "incidents": 2,
        "response": {"met": 1, "breached": 1, "pending": 0, "percent": 50.0},
        "resolution": {"met": 0, "breached": 2, "pending": 0, "percent": 0.0},
    }
    assert list(figures["priorities"]) == ["critical", "major"]
    assert figures["total"]["incidents"] == 4 and figures["total"]["response"]["percent"] == 50.0
    assert later["priorities"] == {} and later["total"]["response"]["percent"] is None


def test_metrics_show_clocks_and_breaches(store, service, clock, tmp_path):
    key = service.report(client="acme", title="Disk full", actor="alice", priority="critical")
    service.report(client="acme", title="Slow", actor="alice", priority="major")
    clock.at(60)
    service.act(key, "wait", "bob", reason="waiting_for_client")
    service.sla.sweep(store, clock.at(3 * 3600))
    metrics = CollectorMetrics(store, Settings.for_data_dir(tmp_path))
    text = metrics.exposition().decode()
    assert 'upkeep_sla_clocks{client="acme",priority="critical",state="paused"} 1.0' in text
    assert 'upkeep_sla_clocks{client="acme",priority="major",state="running"} 1.0' in text
    # the major one is 3 h old: response (1 h) breached, resolution (4 h) not yet
    assert (
        'upkeep_sla_breached_incidents{client="acme",priority="major",target="response"} 1.0'
        in text
    )
    assert 'target="resolution"' not in text
    assert 'upkeep_metrics_scrape_collector_success{collector="sla"} 1.0' in text


def test_a_removed_target_drops_the_clock(store, service, clock, acme):
    key = service.report(client="acme", title="Switch loop", actor="alice", priority="major")
    with store.write() as conn:
        contract = get_contract(conn, acme.id)
        trimmed = contract.model_copy(
            update={"sla": contract.sla.model_copy(update={"major": None})}
        )
        put_contract(conn, acme.id, trimmed, source="test", actor="t", now=T0)
    clock.at(60)
    service.act(key, "comment", "bob", body="looking")
    assert sla_row(store, key) is None
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(incident_sla)).scalar() == 0


def test_concurrent_sweeps_send_each_notice_once(store, service, clock):
    import threading

    keys = [
        service.report(client="acme", title=f"Outage {i}", actor="alice", priority="critical")
        for i in range(5)
    ]
    clock.at(601)
    barrier = threading.Barrier(3)
    errors = []

    def sweep() -> None:
        try:
            barrier.wait()
            service.sla.sweep(store, T0 + 601)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e["target"] for e in events(store, "sla_breached")) == ["response"] * len(keys)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notifications)).scalar() == len(
            keys
        )
        assert conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.action == "comment")
        ).scalar() == len(keys)
