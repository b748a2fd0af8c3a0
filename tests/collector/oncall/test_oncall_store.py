"""The escalation climb in the store (SQLite and PostgreSQL) over a simulated clock: a critical
incident pages the on-call engineer at once, the second after 10 min, the lead after 20; the
SLA warning pulls a step forward; acknowledging through the signed link stops the climb (and
the SLA response clock); every step is an incident event; a second sweep never pages again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from collector import admin, timeutil
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.incidents.runtime import attach_contract_listeners
from collector.incidents.service import IncidentService
from collector.oncall.links import InvalidLink
from collector.oncall.model import parse_text
from collector.oncall.service import Oncall
from collector.schema import incident_events, incidents, oncall_escalations, outbox
from collector.settings import Settings
from collector.sla.service import sla_section

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC, a Monday
ALL_DAY = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def contract(response: str) -> dict:
    return {
        "client": "acme",
        "plan": {"name": "Basic"},
        "calendar": {"timezone": "UTC", "business_hours": ALL_DAY},
        "sla": {"critical": {"response": response, "resolution": "4h"}},
    }


ONCALL = """
channels:
  chat: {type: slack, url: "http://127.0.0.1:9/hook"}
  mail: {type: email, host: 127.0.0.1, port: 2525, security: none, from_address: pager@upkeep.example}
people:
  anna: {name: Anna, contacts: [{channel: chat, to: U1}, {channel: mail, to: anna@example.net}]}
  boris: {name: Boris, language: ru, timezone: Europe/Moscow, contacts: [{channel: chat, to: U2}]}
  lead: {name: Lea, contacts: [{channel: mail, to: lead@example.net}]}
rotations:
  primary: {timezone: UTC, start: 2026-09-07, people: [anna, boris], handover: {every: week, at: "09:00"}}
  secondary: {timezone: UTC, start: 2026-09-07, people: [boris, anna], handover: {every: week, at: "09:00"}}
policies:
  standard:
    critical:
      steps:
        - {after: 0, page: [{rotation: primary}]}
        - {after: 10m, page: [{rotation: secondary}]}
        - {after: 20m, page: [{person: lead}]}
escalation: {default: standard}
"""


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.now = T0
        monkeypatch.setattr(timeutil, "now", lambda: self.now)

    def at(self, offset: float) -> float:
        self.now = T0 + offset
        return self.now


@pytest.fixture
def setup(store, tmp_path, monkeypatch):
    clock = Clock(monkeypatch)

    def make(response: str = "1h"):
        client = admin.create_client(store, "acme")
        with store.write() as conn:
            put_contract(
                conn,
                client.id,
                Contract.model_validate(contract(response)),
                source="t",
                actor="t",
                now=T0,
            )
        settings = Settings.for_data_dir(tmp_path, public_url="https://upkeep.example")
        service = IncidentService(store)
        oncall = Oncall(store, settings, service, parse_text(ONCALL))
        attach_contract_listeners(service, settings, oncall=oncall)
        return service, oncall

    return clock, make


def events(store, key):
    with store.read() as conn:
        return [
            (r.type, r.ts - T0, r.data)
            for r in conn.execute(
                sa.select(incident_events)
                .join(incidents, incidents.c.id == incident_events.c.incident_id)
                .where(incidents.c.key == key)
                .order_by(incident_events.c.id)
            )
        ]


def pages(store):
    with store.read() as conn:
        return [
            (r.connector, r.payload["page"]["person"], r.payload["page"]["to"])
            for r in conn.execute(
                sa.select(outbox).where(outbox.c.action == "page").order_by(outbox.c.id)
            )
        ]


def paged(store, key):
    return [
        (ts, d["step"], d["person"], d["reason"])
        for kind, ts, d in events(store, key)
        if kind == "paged"
    ]


def test_the_climb_pages_step_by_step_and_the_link_stops_it(store, setup) -> None:
    clock, make = setup
    service, oncall = make(response="1h")
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    assert oncall.sweep() == 2  # anna (primary this week) on both of her channels, at once
    assert pages(store) == [("page:chat", "anna", "U1"), ("page:mail", "anna", "anna@example.net")]
    assert oncall.sweep() == 0  # nothing is paged twice
    clock.at(599)
    assert oncall.sweep() == 0
    clock.at(600)
    assert oncall.sweep() == 1  # boris, secondary
    assert pages(store)[-1] == ("page:chat", "boris", "U2")
    assert paged(store, key) == [(0, 1, "anna", "schedule"), (600, 2, "boris", "schedule")]
    # boris's page is in Russian, with his time zone
    with store.read() as conn:
        boris_page = conn.execute(
            sa.select(outbox.c.payload)
            .where(outbox.c.action == "page")
            .order_by(outbox.c.id.desc())
        ).scalar()
    page = boris_page["page"]
    assert (
        page["ack_label"] == "Принять"
        and "эскалации" in page["text"]
        and "21 сент. 2026, 17:13 +0300" in page["text"]
    )
    token = page["ack_url"].split("token=", 1)[1]
    from urllib.parse import unquote

    token = unquote(token)
    clock.at(660)
    assert oncall.page_info(token)["used"] is False
    result = oncall.use_link(token)
    assert result == {"key": key, "action": "acknowledge", "done": True, "person": "boris"}
    with pytest.raises(InvalidLink, match="used already"):
        oncall.use_link(token)  # single use
    clock.at(1300)
    assert oncall.sweep() == 0  # the lead is never paged
    kinds = [kind for kind, _, _ in events(store, key)]
    assert kinds == ["opened", "paged", "paged", "acknowledged", "escalation_stopped"]
    with store.read() as conn:
        climb = conn.execute(sa.select(oncall_escalations)).one()
        incident_id = conn.execute(sa.select(incidents.c.id).where(incidents.c.key == key)).scalar()
        sla = sla_section(conn, incident_id, clock.now)
    assert (climb.state, climb.stopped_by, climb.stopped_at - T0) == ("acknowledged", "boris", 660)
    assert sla is not None and sla["response"]["state"] == "stopped"
    assert sla["response"]["stopped_at"].timestamp() == T0 + 660


def test_the_sla_warning_pulls_the_next_step_forward(store, setup) -> None:
    clock, make = setup
    service, oncall = make(response="5m")  # warn_at (75 %) is 3m45s after detection
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    oncall.sweep()
    clock.at(224)
    assert oncall.sweep() == 0
    clock.at(225)
    assert oncall.sweep() == 1
    clock.at(600)
    assert oncall.sweep() == 0  # step 3 keeps its own 20 min
    clock.at(1200)
    assert oncall.sweep() == 1
    assert paged(store, key) == [
        (0, 1, "anna", "schedule"),
        (225, 2, "boris", "sla_warning"),
        (1200, 3, "lead", "schedule"),
    ]


def test_resolving_ends_the_climb_and_a_tampered_link_is_refused(store, setup) -> None:
    clock, make = setup
    service, oncall = make()
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    oncall.sweep()
    with store.read() as conn:
        payload = conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.action == "page")
        ).scalar()
    from urllib.parse import unquote

    res = unquote(payload["page"]["resolve_url"].split("token=", 1)[1])
    with pytest.raises(InvalidLink):
        oncall.use_link(res[:-2] + ("AA" if not res.endswith("AA") else "BB"))
    clock.at(100)
    assert oncall.use_link(res)["done"] is True
    clock.at(700)
    assert oncall.sweep() == 0
    assert [k for k, _, _ in events(store, key)] == [
        "opened",
        "paged",
        "resolved",
        "escalation_stopped",
    ]
    clock.at(400_000)  # past oncall_link_max_age (3 days)
    with pytest.raises(InvalidLink, match="expired"):
        oncall.page_info(res)


def test_an_incident_without_a_policy_is_not_paged(store, setup) -> None:
    clock, make = setup
    service, oncall = make()
    service.report(client="acme", title="Printer low on toner", actor="desk", priority="minor")
    assert oncall.sweep() == 0
    assert pages(store) == []


def test_management_view_ack_times_and_nights(store, setup, tmp_path) -> None:
    from collector.management.oncall import oncall_view
    from collector.management.periods import TimeRange

    clock, make = setup
    service, oncall = make()
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    oncall.sweep()
    clock.at(90)
    service.act(key, "acknowledge", "anna")
    (tmp_path / "oncall.yaml").write_text(ONCALL)
    # 14 days from Monday 21 Sept (anna's week from 14 Sept 09:00, boris's from 21 Sept 09:00)
    span = TimeRange(T0 - 86400, T0 + 13 * 86400)
    with store.read() as conn:
        view = oncall_view(conn, span, (str(tmp_path),))
    assert [(a.key, a.count, a.median_seconds) for a in view.by_priority] == [("critical", 1, 90.0)]
    assert [(a.key, a.count) for a in view.by_person] == [("anna", 1)]
    primary = {r.person: r.nights for r in view.nights if r.rotation == "primary"}
    # 03:00 of 21 Sept-4 Oct: 21 Sept anna, 22-28 boris, 29 Sept-4 Oct anna
    assert primary == {"anna": 7, "boris": 7}


def test_a_restart_or_another_replica_continues_without_double_pages(
    store, setup, tmp_path
) -> None:
    import threading

    clock, make = setup
    service, first = make()
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    settings = Settings.for_data_dir(tmp_path, public_url="https://upkeep.example")
    # the other replica (or the collector after a restart): its own objects, the same store
    second = Oncall(store, settings, service, parse_text(ONCALL))
    barrier = threading.Barrier(2)
    written: list[int] = []

    def sweep(replica: Oncall) -> None:
        barrier.wait()
        written.append(replica.sweep())

    threads = [threading.Thread(target=sweep, args=(r,)) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(written) == [0, 2]  # anna's two pages, once
    clock.at(600)
    assert second.sweep() == 1 and first.sweep() == 0
    assert [p for _, p, _ in pages(store)] == ["anna", "anna", "boris"]
    assert [s for _, s, _, _ in paged(store, key)] == [1, 2]


def test_an_acknowledgement_by_a_writer_without_the_files_still_stops_the_climb(
    store, setup, tmp_path
) -> None:
    from collector.oncall.model import OncallConfig

    clock, make = setup
    service, oncall = make()
    key = service.report(client="acme", title="Core switch down", actor="desk", priority="critical")
    oncall.sweep()
    # e.g. `upkeep incident ack` in a shell without the channels' secrets: no on-call files
    settings = Settings.for_data_dir(tmp_path)
    cli_service = IncidentService(store)
    attach_contract_listeners(
        cli_service, settings, oncall=Oncall(store, settings, cli_service, OncallConfig())
    )
    clock.at(60)
    cli_service.act(key, "acknowledge", "anna")
    clock.at(700)
    assert oncall.sweep() == 0
    assert [k for k, _, _ in events(store, key)] == [
        "opened",
        "paged",
        "acknowledged",
        "escalation_stopped",
    ]
