"""The preventive-work record on a real store (SQLite and PostgreSQL): proactive incidents resolved
before anyone reported them, with the metric before and after or the supply replaced; maintenance
tasks recorded with evidence, and their status."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from agent.wire import Batch
from collector import preventive
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.errors import NotFound
from collector.incidents.pipeline import AlertSignal
from collector.incidents.service import IncidentService
from collector.ingest import Ingestor
from collector.preventive import PreventiveRecorder
from collector.schema import assets, preventive_work

METRICS = {"disk-space": "disk_used_percent", "toner-low": "printer_supply_level_percent"}


class Agent:
    """One agent pushing batches for acme through the real ingest path."""

    def __init__(self, store, tenant, kit) -> None:
        self.ingestor = Ingestor(store)
        self.tenant, self.kit = tenant, kit
        self.agent_id = str(uuid.uuid4())
        self.seq = 0

    def push(self, samples=(), events=(), assets=None) -> None:
        self.seq += 1
        batch = self.kit.make_batch(
            list(samples), events=list(events), assets=assets, agent_id=self.agent_id, seq=self.seq
        )
        self.ingestor.ingest(self.tenant.principal, Batch.model_validate(batch))


@pytest.fixture
def agent(store, acme, kit) -> Agent:
    return Agent(store, acme, kit)


@pytest.fixture
def service(store) -> IncidentService:
    service = IncidentService(store)
    service.listeners.append(PreventiveRecorder(METRICS.get))
    return service


def asset_id(store, name: str) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(assets.c.id).where(assets.c.name == name)).scalar_one()


def signal(
    store, asset: str, rule: str, status: str, value: float, ts: float, **labels: str
) -> AlertSignal:
    return AlertSignal(
        fingerprint=f"{rule}:{asset}",
        name=rule,
        client_id=1,
        client="acme",
        status=status,
        ts=ts,
        site="default",
        asset_id=asset_id(store, asset),
        asset=asset,
        labels=labels,
        priority="minor",
        summary=f"{rule} on {asset}",
        value=value,
    )


def apply(service: IncidentService, sig: AlertSignal, now: float):
    with service.store.write() as conn:
        return service.apply_signal(conn, sig, now)


def rows(store) -> list:
    with store.read() as conn:
        return conn.execute(sa.select(preventive_work).order_by(preventive_work.c.id)).all()


DISK = {"mountpoint": "/", "device": "sda1", "fstype": "ext4"}


def test_a_disk_incident_resolved_before_anyone_called_is_prevented_work(
    store, agent, service, kit
) -> None:
    t = kit.NOW - 3600
    agent.push(
        [
            kit.sample("srv1", "disk_used_percent", 93.0, t, **DISK),
            kit.sample(
                "srv1",
                "disk_used_percent",
                40.0,
                t,
                mountpoint="/data",
                device="sdb1",
                fstype="ext4",
            ),
        ]
    )
    key = apply(service, signal(store, "srv1", "disk-space", "firing", 93.0, t, **DISK), t).key
    service.act(key, "time_entry", "bob", minutes=25, work_type="remote", note="cleaned /var/log")
    agent.push([kit.sample("srv1", "disk_used_percent", 61.0, t + 600, **DISK)])
    apply(service, signal(store, "srv1", "disk-space", "resolved", 61.0, t + 600, **DISK), t + 600)
    [row] = rows(store)
    assert (
        row.kind == "incident"
        and row.asset == "srv1"
        and row.minutes == 25
        and row.actor == "upkeep"
    )
    assert row.evidence["text"] == "disk / on srv1: 93 % → 61 %"
    assert (row.evidence["before"], row.evidence["after"], row.evidence["unit"]) == (
        93.0,
        61.0,
        "%",
    )
    # Time logged after the resolution still counts; a later close adds no second item.
    service.act(key, "time_entry", "bob", minutes=5, note="report")
    service.act(key, "close", "bob")
    [row] = rows(store)
    assert row.minutes == 30
    # The read the monthly report uses.
    with store.read() as conn:
        [item] = preventive.items(conn, 1, t - 1, t + 3600)
        assert preventive.items(conn, 1, t + 3600, t + 7200) == []
    assert (
        item["incident_key"] == key
        and item["title"] == "disk-space on srv1"
        and item["done_at"] == t + 600
    )
    assert set(item["evidence"]) >= {"text", "before", "after", "unit"}


def test_not_prevented_when_the_client_reported_it_first(store, agent, service, kit) -> None:
    t = kit.NOW - 3600
    agent.push(
        [
            kit.sample("srv1", "disk_used_percent", 95.0, t, **DISK),
            kit.sample("srv2", "disk_used_percent", 95.0, t, **DISK),
        ]
    )
    apply(service, signal(store, "srv1", "disk-space", "firing", 95.0, t, **DISK), t)
    apply(service, signal(store, "srv2", "disk-space", "firing", 95.0, t, **DISK), t)
    service.report(
        client="acme", title="cannot save files", actor="jane", asset="srv1"
    )  # opened now
    now = time.time() + 5
    apply(service, signal(store, "srv1", "disk-space", "resolved", 50.0, now, **DISK), now)
    apply(service, signal(store, "srv2", "disk-space", "resolved", 50.0, now, **DISK), now)
    assert [r.asset for r in rows(store)] == ["srv2"]  # the call was about srv1 only


def test_a_toner_replaced_shows_as_the_evidence(store, agent, service, kit) -> None:
    t = kit.NOW - 7200
    printer = {"name": "printer-2nd-floor", "kind": "printer"}
    toner = {"supply": "Black Toner", "color": "black", "supply_type": "toner"}
    agent.push(
        [kit.sample("printer-2nd-floor", "printer_supply_level_percent", 4.0, t, **toner)],
        assets=[printer],
    )
    apply(service, signal(store, "printer-2nd-floor", "toner-low", "firing", 4.0, t, **toner), t)
    agent.push(
        [kit.sample("printer-2nd-floor", "printer_supply_level_percent", 100.0, t + 300, **toner)],
        events=[
            {
                "asset": "printer-2nd-floor",
                "type": "supply_replaced",
                "ts": t + 300,
                "message": "Black Toner: 4% → 100%",
                "data": {**toner, "before_percent": 4.0, "after_percent": 100.0},
            }
        ],
        assets=[printer],
    )
    apply(
        service,
        signal(store, "printer-2nd-floor", "toner-low", "resolved", 100.0, t + 300, **toner),
        t + 300,
    )
    [row] = rows(store)
    assert row.evidence["text"] == "Black Toner replaced on printer-2nd-floor: 4 % → 100 %"
    assert row.evidence["source"] == "event"


def test_external_and_user_reported_incidents_are_not_preventive(
    store, agent, service, kit
) -> None:
    key = service.report(client="acme", title="printer jammed", actor="jane")
    service.act(key, "resolve", "bob")
    assert rows(store) == []


# ---------------------------------------------------------------------- maintenance tasks

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "maintenance_tasks": [
        {
            "id": "os-updates",
            "title": "Apply OS updates",
            "every": "weekly",
            "evidence": {"metric": "os_updates_pending", "asset": "srv1"},
        },
        {
            "id": "all-updates",
            "title": "Updates everywhere",
            "every": "monthly",
            "evidence": {"metric": "os_updates_pending"},
        },
        {"id": "clean-printers", "title": "Clean the printers", "every": "quarterly"},
    ],
}


def test_tasks_are_recorded_with_evidence_and_have_a_status(store, agent, kit) -> None:
    contract = Contract.model_validate(CONTRACT)
    with store.write() as conn:
        put_contract(conn, 1, contract, source="api", actor="t", now=kit.NOW)
    day = 86400.0
    t = kit.NOW - 10 * day
    agent.push(
        [
            kit.sample("srv1", "os_updates_pending", 14, t),
            kit.sample("srv2", "os_updates_pending", 3, t),
        ]
    )
    with store.write() as conn:
        first = preventive.record_task(
            conn, 1, contract, "os-updates", minutes=30, note="patched", actor="bob", now=t
        )
    assert first["evidence"]["text"] == "pending updates on srv1: 14" and first["asset"] == "srv1"
    agent.push(
        [
            kit.sample("srv1", "os_updates_pending", 0, t + day),
            kit.sample("srv2", "os_updates_pending", 0, t + day),
        ]
    )
    with store.write() as conn:
        second = preventive.record_task(
            conn, 1, contract, "os-updates", minutes=20, note="", actor="bob", now=t + day
        )
        both = preventive.record_task(
            conn, 1, contract, "all-updates", minutes=5, note="", actor="bob", now=t + day
        )
        bare = preventive.record_task(
            conn, 1, contract, "clean-printers", minutes=40, note="", actor="amy", now=t + day
        )
        status = {s["task_id"]: s for s in preventive.task_status(conn, 1, contract, kit.NOW)}
    assert second["evidence"]["text"] == "pending updates on srv1: 14 → 0"
    assert (second["evidence"]["before"], second["evidence"]["after"]) == (14, 0)
    assert both["evidence"]["text"] == "pending updates: srv1 0, srv2 0" and both["asset"] is None
    assert bare["evidence"]["text"] == "Clean the printers"
    assert (
        status["os-updates"]["done"] == 2 and status["os-updates"]["overdue"] is True
    )  # 9 days > weekly
    assert status["os-updates"]["next_due_at"] == t + day + 7 * day
    assert status["clean-printers"]["overdue"] is False
    with (
        store.write() as conn,
        pytest.raises(NotFound, match="no maintenance task 'backups' \\(tasks: os-upd"),
    ):
        preventive.record_task(conn, 1, contract, "backups", minutes=1, note="", actor="bob", now=t)
