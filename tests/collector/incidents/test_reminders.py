"""Re-notification through the lifecycle: repeats of an open incident produce an outbox
``update`` only when the back-off allows, never more often than configured (SQLite, PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from collector import admin
from collector.connectors import Action, ConnectorsConfig
from collector.connectors.webhook import WebhookConfig
from collector.incidents.lifecycle import Change
from collector.incidents.pipeline import AlertSignal
from collector.incidents.renotify import RenotifyPolicy, remind
from collector.incidents.service import IncidentService
from collector.schema import incidents, outbox

T0 = 1_780_000_000.0
POLICY = RenotifyPolicy(interval=60, factor=2, max_interval=200)
CONFIG = ConnectorsConfig(
    connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
)


def test_remind_is_pure_and_only_touches_repeats():
    repeat = Change("repeated", {"count": 3}, {"count": 3})
    assert remind(repeat, T0, 0, POLICY, T0 + 59) is repeat
    reminder = remind(repeat, T0, 0, POLICY, T0 + 60)
    assert (reminder.event, reminder.action, reminder.fields["reminders_sent"]) == (
        "reminded",
        Action.UPDATE,
        1,
    )
    assert remind(repeat, T0, 1, POLICY, T0 + 119) is repeat  # second reminder: after 120 s
    escalation = Change("escalated", {}, {}, Action.ESCALATE)
    assert remind(escalation, T0, 0, POLICY, T0 + 1000) is escalation
    assert remind(repeat, T0, 0, RenotifyPolicy(interval=0), T0 + 10**6) is repeat  # off


def signal(ts: float, priority: str = "minor") -> AlertSignal:
    return AlertSignal(
        fingerprint="fp-1",
        name="disk_full",
        client_id=1,
        client="acme",
        status="firing",
        ts=ts,
        severity="warning",
        priority=priority,
        summary="Disk / is 91% full",
        value=91.0,
        asset="srv1",
    )


def test_repeats_remind_with_back_off(store):
    admin.create_client(store, "acme")
    service = IncidentService(store, CONFIG, stages=[], renotify_policy=POLICY)
    events = []
    # a repeat every 10 s for 10 minutes
    for i in range(61):
        now = T0 + 10 * i
        with store.write() as conn:
            events.append((now - T0, service.apply_signal(conn, signal(now), now).event))
    reminders = [t for t, e in events if e == "reminded"]
    # after 60 s, then 120 s, then 200 s (the cap), 200 s, ...
    assert reminders == [60, 180, 380, 580]
    with store.read() as conn:
        actions = [r.action for r in conn.execute(sa.select(outbox).order_by(outbox.c.id))]
        row = conn.execute(sa.select(incidents)).one()
    assert actions == ["open"] + ["update"] * 4
    assert row.reminders_sent == 4 and row.last_notified_at == T0 + 580
    # an escalation is news: delivered at once, and reminders start over at the shortest interval
    now = T0 + 605
    with store.write() as conn:
        assert service.apply_signal(conn, signal(now, "critical"), now).event == "escalated"
        assert (
            service.apply_signal(conn, signal(now + 59, "critical"), now + 59).event == "repeated"
        )
        assert (
            service.apply_signal(conn, signal(now + 60, "critical"), now + 60).event == "reminded"
        )
