"""Incidents and the outbox on SQLite and PostgreSQL: one transaction, claims, retries, order."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from collector import admin
from collector.connectors import Connector, ConnectorError, ConnectorsConfig, TicketRef
from collector.connectors.webhook import WebhookConfig
from collector.incidents.outbox import BacklogCollector, OutboxWorkers, claim, list_rows, retry
from collector.incidents.pipeline import AlertSignal, suppress
from collector.incidents.service import IncidentService
from collector.schema import incident_events, incidents, outbox
from collector.settings import Settings

CONFIG = ConnectorsConfig(
    connectors={
        "desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s"),
        "mail": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s"),
    },
    clients={"globex": ["mail"]},
)


class Recorder(Connector):
    """An in-process connector that records deliveries and fails as told."""

    def __init__(self, name: str, failures: list[ConnectorError] | None = None) -> None:
        super().__init__(name, WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s"))
        self.failures = list(failures or [])
        self.calls: list[tuple[str, str, int, TicketRef | None]] = []

    def deliver(self, action, subject, ref):
        if self.failures:
            raise self.failures.pop(0)
        self.calls.append((str(action), subject.key, subject.version, ref))
        return ref or TicketRef(self.name, f"T-{subject.key}")


def signal(status: str = "firing", client_id: int = 1, client: str = "acme", **kw) -> AlertSignal:
    values = {
        "fingerprint": f"fp-{client}",
        "name": "disk_full",
        "client_id": client_id,
        "client": client,
        "status": status,
        "ts": time.time(),
        "severity": "warning",
        "priority": "minor",
        "summary": "Disk / is 91% full",
        "value": 91.0,
        "asset": "srv1",
    }
    return AlertSignal(**{**values, **kw})


@pytest.fixture
def clients_(store):
    return {name: admin.create_client(store, name).id for name in ("acme", "globex")}


@pytest.fixture
def service(store):
    return IncidentService(store, CONFIG, reopen_window=3600.0, stages=[])


def apply(store, service, sig):
    with store.write() as conn:
        return service.apply_signal(conn, sig, time.time())


def outbox_rows(store):
    with store.read() as conn:
        return conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()


def test_transition_writes_incident_event_and_outbox_rows_per_connector(
    store, service, clients_
) -> None:
    applied = apply(store, service, signal(client_id=clients_["acme"]))
    assert applied.key == "UPK-acme-1" and applied.event == "opened"
    rows = outbox_rows(store)
    assert [(r.connector, r.action, r.state) for r in rows] == [
        ("desk", "open", "pending"),
        ("mail", "open", "pending"),
    ]
    apply(store, service, signal(client="globex", client_id=clients_["globex"]))
    assert [r.connector for r in outbox_rows(store)][2:] == ["mail"]  # globex: mail only
    assert service.get("UPK-globex-1")["origin"] == "proactive"


def test_a_failing_transaction_leaves_nothing(store, service, clients_) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        service.apply_signal(conn, signal(client_id=clients_["acme"]), time.time())
        raise RuntimeError("the rule state write failed")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0


def test_lifecycle_sequence_and_reopen(store, service, clients_) -> None:
    cid = clients_["acme"]
    apply(store, service, signal(client_id=cid))
    apply(
        store,
        service,
        signal(client_id=cid, value=95.0, severity="critical", priority="critical", escalated=True),
    )
    apply(store, service, signal("resolved", client_id=cid, value=40.0))
    apply(store, service, signal(client_id=cid))
    detail = service.get("UPK-acme-1")
    assert [e["type"] for e in detail["events"]] == ["opened", "escalated", "resolved", "reopened"]
    assert detail["state"] == "open" and detail["priority"] == "critical" and detail["count"] == 3
    assert [o["action"] for o in detail["outbox"] if o["connector"] == "desk"] == [
        "open",
        "escalate",
        "resolve",
        "reopen",
    ]
    assert service.list(client="acme", state="open")[0]["key"] == "UPK-acme-1"


def test_refire_after_the_reopen_window_opens_a_new_incident(store, clients_) -> None:
    """Past the reopen window a re-fire is a new incident with its own key and ``open``;
    it used to rewrite the resolved incident as opened again (same key, a second open)."""
    service = IncidentService(store, CONFIG, reopen_window=0.0, stages=[])
    cid = clients_["acme"]
    apply(store, service, signal(client_id=cid))
    apply(store, service, signal("resolved", client_id=cid, value=40.0))
    applied = apply(store, service, signal(client_id=cid))
    assert (applied.key, applied.event) == ("UPK-acme-2", "opened")
    first, second = service.get("UPK-acme-1"), service.get("UPK-acme-2")
    assert [e["type"] for e in first["events"]] == ["opened", "resolved"]
    assert first["state"] == "resolved"
    assert [e["type"] for e in second["events"]] == ["opened"] and second["state"] == "open"
    assert [(o["action"], o["version"]) for o in first["outbox"] if o["connector"] == "desk"] == [
        ("open", 1),
        ("resolve", 2),
    ]
    assert [o["action"] for o in second["outbox"] if o["connector"] == "desk"] == ["open"]


def test_suppressing_stage_opens_nothing(store, clients_) -> None:
    quiet = IncidentService(store, CONFIG, stages=[lambda conn, s, now: suppress("maintenance")])
    applied = apply(store, quiet, signal(client_id=clients_["acme"]))
    assert applied.key is None and applied.decision.reason == "maintenance"
    assert outbox_rows(store) == []


def test_technician_actions_are_events_with_who(store, service, clients_) -> None:
    key = service.report(client="acme", title="Printer jams", actor="alice", priority="major")
    assert service.get(key)["origin"] == "user_reported"
    service.act(key, "acknowledge", "bob")
    service.act(key, "comment", "bob", body="on my way")
    service.act(key, "time_entry", "bob", minutes=45, work_type="onsite", note="cleaned rollers")
    service.act(key, "cause", "bob", cause="wear")
    service.act(key, "resolve", "bob", note="rollers replaced")
    service.act(key, "close", "alice")
    detail = service.get(key)
    assert [(e["type"], e["actor"]) for e in detail["events"]] == [
        ("opened", "alice"),
        ("acknowledged", "bob"),
        ("commented", "bob"),
        ("time_logged", "bob"),
        ("cause_set", "bob"),
        ("resolved", "bob"),
        ("closed", "alice"),
    ]
    assert detail["cause"] == "wear" and detail["time_entries"][0]["minutes"] == 45
    comment = [o for o in outbox_rows(store) if o.action == "comment"][0]
    assert comment.payload["comment"]["body"] == "on my way"


def workers(store, tmp_path, connectors, **kw):
    settings = Settings.for_data_dir(tmp_path, outbox_retry_base=0.01, outbox_retry_max=0.02, **kw)
    return OutboxWorkers(store, settings, connectors)


def drain(w, limit=50):
    for _ in range(limit):
        if not w.run_once("t"):
            due = [r for r in outbox_rows(w.store) if r.state == "pending"]
            if not due:
                return
            time.sleep(0.03)


def test_delivery_in_order_with_retry_and_stored_ref(store, service, clients_, tmp_path) -> None:
    cid = clients_["acme"]
    desk = Recorder(
        "desk", [ConnectorError("503", permanent=False), ConnectorError("timeout", permanent=False)]
    )
    mail = Recorder("mail")
    apply(store, service, signal(client_id=cid))
    apply(store, service, signal("resolved", client_id=cid))
    w = workers(store, tmp_path, {"desk": desk, "mail": mail})
    drain(w)
    assert [c[0] for c in desk.calls] == ["open", "resolve"]  # never resolve before open
    assert desk.calls[1][3] == TicketRef("desk", "T-UPK-acme-1")  # the stored ref is passed back
    rows = outbox_rows(store)
    assert all(r.state == "done" for r in rows)
    assert [r.attempts for r in rows if r.connector == "desk"] == [3, 1]
    assert service.get("UPK-acme-1")["tickets"][0]["external_id"] == "T-UPK-acme-1"


def test_permanent_and_too_old_failures_are_dead_letters(
    store, service, clients_, tmp_path
) -> None:
    apply(store, service, signal(client_id=clients_["acme"]))
    desk = Recorder("desk", [ConnectorError("401 unauthorized", permanent=True)])
    mail = Recorder("mail", [ConnectorError("down", permanent=False)] * 500)
    w = workers(store, tmp_path, {"desk": desk, "mail": mail}, outbox_max_age=0.2)
    drain(w)
    by = {r.connector: r for r in outbox_rows(store)}
    assert (by["desk"].state, by["desk"].attempts) == ("dead", 1) and "401" in by["desk"].last_error
    assert by["mail"].state == "dead" and by["mail"].attempts > 3
    assert "failing for" in by["mail"].last_error and by["mail"].first_failed_at is not None
    assert w.metrics.failed.labels("desk")._value.get() == 1


def test_a_dead_letter_holds_back_later_rows_until_it_is_retried(
    store, service, clients_, tmp_path
) -> None:
    """A comment never lands before the ticket exists: the rows behind a dead open wait, and a
    retry sends the open first, then the rest in order."""
    apply(store, service, signal(client="globex", client_id=clients_["globex"]))
    service.act("UPK-globex-1", "comment", "bob", body="on my way")
    service.act("UPK-globex-1", "resolve", "bob", note="done")
    mail = Recorder("mail", [ConnectorError("550 mailbox unavailable", permanent=True)])
    w = workers(store, tmp_path, {"mail": mail})
    drain(w)
    assert mail.calls == []
    assert [(r.action, r.state) for r in outbox_rows(store)] == [
        ("open", "dead"),
        ("comment", "pending"),
        ("resolve", "pending"),
    ]
    with store.read() as conn:
        listed = list_rows(conn, failed=True)
        waiting = {r["action"]: r["waiting_for"] for r in list_rows(conn)}
    assert [r["action"] for r in listed] == ["open"]
    dead_id = listed[0]["id"]
    settings = Settings.for_data_dir(tmp_path, connectors=CONFIG)
    families = {f.name: f for f in BacklogCollector(store, settings).collect()}
    assert {
        s.labels["connector"]: s.value for s in families["upkeep_outbox_dead_letters"].samples
    } == {
        "desk": 0,
        "mail": 1,
    }
    assert {s.labels["state"]: s.value for s in families["upkeep_outbox_backlog"].samples} == {
        "pending": 2,
        "in_flight": 0,
        "dead": 1,
    }
    assert waiting == {"open": None, "comment": dead_id, "resolve": dead_id}
    with store.write() as conn:
        assert retry(conn, None, time.time()) == [dead_id]
    drain(w)
    assert [c[0] for c in mail.calls] == ["open", "comment", "resolve"]
    assert all(r.state == "done" and r.first_failed_at is None for r in outbox_rows(store))
    with store.write() as conn:
        assert retry(conn, [dead_id], time.time()) == []  # only dead rows are revived


def test_crashed_workers_claim_is_taken_over_after_its_lease(store, service, clients_) -> None:
    apply(store, service, signal(client="globex", client_id=clients_["globex"]))
    now = time.time()
    first = claim(store, "dead-worker", now, lease=30)
    assert first is not None and claim(store, "other", now, lease=30) is None
    again = claim(store, "other", now + 31, lease=30)
    assert again is not None and again.id == first.id and again.attempts == 2


def test_concurrent_claims_never_share_a_row(store, service, clients_) -> None:
    for n in range(20):
        apply(
            store,
            service,
            signal(client="globex", client_id=clients_["globex"], fingerprint=f"fp{n}"),
        )
    won: list[int] = []
    lock = threading.Lock()

    def grab(name: str) -> None:
        while (row := claim(store, name, time.time(), 30)) is not None:
            with lock:
                won.append(row.id)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(set(won)) and len(won) == 20


def test_events_are_append_only_rows(store, service, clients_) -> None:
    apply(store, service, signal(client_id=clients_["acme"]))
    with store.read() as conn:
        assert conn.execute(sa.select(incident_events.c.type)).scalars().all() == ["opened"]


def test_backoff_stays_capped_after_days_of_attempts() -> None:
    """Retries go on until outbox_max_age: thousands of attempts must not overflow the delay."""
    import random

    from collector.incidents.outbox import backoff

    rng = random.Random(1)
    assert 1.0 <= backoff(1, 2.0, 600.0, rng) <= 2.0
    assert 4.0 <= backoff(3, 2.0, 600.0, rng) <= 8.0
    for attempts in (30, 1100, 10_000):
        assert 300.0 <= backoff(attempts, 2.0, 600.0, rng) <= 600.0
