"""A hand-built month for the management views (rows written straight into the tables).

October 2026, "now" is 2026-10-20 12:00 UTC. Three clients with activity (acme, globex with
contracts; initech without) and a disabled one (oldco). Every number the tests expect is
worked out by hand in the comments next to the rows and in the test modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.schema import (
    clients,
    incident_closings,
    incident_events,
    incident_sla,
    incidents,
    ledger_entries,
    notifications,
    outbox,
    service_requests,
    time_entries,
)
from collector.store import Store


def at(text: str) -> float:
    """``"2026-10-02 10:00"`` (UTC) → epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


NOW = at("2026-10-20 12:00")
SINCE = at("2026-10-01 00:00")
UNTIL = at("2026-11-01 00:00")


@dataclass
class Scenario:
    """Ids of what was written, by name (incident "A1" → its id, client "acme" → its id)."""

    clients: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


def _client(conn: Any, sc: Scenario, name: str, enabled: bool = True) -> None:
    sc.clients[name] = conn.execute(
        clients.insert().values(name=name, enabled=enabled, created_at=at("2026-01-01 00:00"))
    ).inserted_primary_key[0]


def _incident(
    conn: Any,
    sc: Scenario,
    name: str,
    client: str,
    number: int,
    asset: str | None,
    priority: str,
    opened: str,
    state: str,
    resolved: str | None = None,
    origin: str = "proactive",
) -> None:
    resolved_at = at(resolved) if resolved else None
    sc.incidents[name] = conn.execute(
        incidents.insert().values(
            key=f"UPK-{client}-{number}",
            client_id=sc.clients[client],
            number=number,
            fingerprint=None,
            site=None,
            asset_id=None,
            asset=asset,
            rule=None,
            origin=origin,
            state=state,
            priority=priority,
            severity=None,
            kind="threshold",
            title=f"incident {name}",
            description="",
            labels={},
            first_value=None,
            last_value=None,
            count=1,
            flapping=False,
            assignee=None,
            cause=None,
            resolution_note=None,
            version=1,
            last_notified_at=None,
            reminders_sent=0,
            opened_at=at(opened),
            acknowledged_at=None,
            resolved_at=resolved_at,
            closed_at=None,
            updated_at=at(opened),
        )
    ).inserted_primary_key[0]


def _sla(
    conn: Any, sc: Scenario, name: str, client: str, priority: str, response: str, resolution: str
) -> None:
    """``response`` / ``resolution``: met | breached | pending | overdue (running, past due, flag
    not set yet: a breach) | none (no target)."""

    def target(kind: str, outcome: str) -> dict[str, Any]:
        done = "responded_at" if kind == "response" else "resolved_at"
        return {
            f"{kind}_target": None if outcome == "none" else 3600.0,
            f"{kind}_due_at": {"overdue": NOW - 60, "pending": NOW + 3600}.get(outcome),
            done: NOW - 100
            if outcome == "met" or (outcome == "breached" and kind == "resolution")
            else None,
            f"{kind}_elapsed": 10.0,
            f"{kind}_breached": outcome == "breached",
        }

    conn.execute(
        incident_sla.insert().values(
            incident_id=sc.incidents[name],
            client_id=sc.clients[client],
            priority=priority,
            state="running",
            paused_seconds=0.0,
            notified=[],
            updated_at=NOW,
            **target("response", response),
            **target("resolution", resolution),
        )
    )


def _time(
    conn: Any,
    actor: str,
    minutes: int,
    *,
    incident: int | None = None,
    request: int | None = None,
    spent: str | None = None,
    created: str,
) -> None:
    conn.execute(
        time_entries.insert().values(
            incident_id=incident,
            request_id=request,
            actor=actor,
            minutes=minutes,
            work_type=None,
            note="",
            spent_at=at(spent) if spent else None,
            created_at=at(created),
        )
    )


def _event(conn: Any, incident: int, actor: str, type_: str, ts: str) -> None:
    conn.execute(
        incident_events.insert().values(
            incident_id=incident, ts=at(ts), actor=actor, type=type_, data={}
        )
    )


def _request(conn: Any, sc: Scenario, name: str, client: str, number: int) -> None:
    sc.requests[name] = conn.execute(
        service_requests.insert().values(
            key=f"REQ-{client}-{number}",
            client_id=sc.clients[client],
            number=number,
            title=name,
            description="",
            requested_by="someone",
            standard=False,
            state="done",
            created_at=at("2026-10-01 00:00"),
            updated_at=at("2026-10-01 00:00"),
        )
    ).inserted_primary_key[0]


def _ledger(
    conn: Any, sc: Scenario, client: str, period: str, kind: str, centipoints: int, ts: str
) -> None:
    conn.execute(
        ledger_entries.insert().values(
            client_id=sc.clients[client],
            period=period,
            kind=kind,
            centipoints=centipoints,
            ts=at(ts),
            actor="test",
            reason="",
            data={},
        )
    )


def _outbox(
    conn: Any,
    incident: int,
    connector: str,
    state: str,
    created: str,
    *,
    attempts: int = 1,
    error: str | None = None,
    delivered: str | None = None,
) -> None:
    conn.execute(
        outbox.insert().values(
            incident_id=incident,
            connector=connector,
            action="open",
            version=1,
            payload={},
            state=state,
            attempts=attempts,
            next_attempt_at=at(created) + 60,
            last_error=error,
            created_at=at(created),
            delivered_at=at(delivered) if delivered else None,
        )
    )


def _notification(
    conn: Any,
    kind: str,
    state: str,
    created: str,
    *,
    attempts: int = 1,
    error: str | None = None,
    sent: str | None = None,
) -> None:
    conn.execute(
        notifications.insert().values(
            kind=kind,
            recipients=["boss@acme.example"],
            subject=f"{kind} notice",
            body_text="",
            attachments=[],
            data={},
            state=state,
            attempts=attempts,
            next_attempt_at=at(created) + 60,
            last_error=error,
            created_at=at(created),
            sent_at=at(sent) if sent else None,
        )
    )


def _closing(
    conn: Any,
    sc: Scenario,
    incident: str,
    client: str,
    resolved: str,
    state: str,
    answered: str,
    rating: int | None,
    *,
    via: str = "link",
    comment: str | None = None,
) -> None:
    """A closing message answered at ``answered`` (the satisfaction view's rows)."""
    conn.execute(
        incident_closings.insert().values(
            incident_id=sc.incidents[incident],
            client_id=sc.clients[client],
            token_id=f"tok-{incident}",
            kind="closing",
            state=state,
            resolved_at=at(resolved),
            due_at=at(resolved) + 600,
            sent_at=at(resolved) + 600,
            expires_at=at(resolved) + 7 * 86400,
            answered_at=at(answered),
            answered_by="client" if via == "link" else "jane",
            answered_via=via,
            rating=rating,
            comment=comment,
            created_at=at(resolved),
        )
    )


def build(store: Store) -> Scenario:
    sc = Scenario()
    with store.write() as conn:
        for name in ("acme", "globex", "initech"):
            _client(conn, sc, name)
        _client(conn, sc, "oldco", enabled=False)
        put_contract(
            conn,
            sc.clients["acme"],
            Contract.model_validate(
                {"client": "acme", "plan": {"name": "Basic", "monthly_fee": 100, "currency": "EUR"}}
            ),
            source="test",
            actor="test",
            now=NOW,
        )
        put_contract(
            conn,
            sc.clients["globex"],
            Contract.model_validate(
                {
                    "client": "globex",
                    "plan": {"name": "Pro", "monthly_fee": "500", "currency": "USD"},
                }
            ),
            source="test",
            actor="test",
            now=NOW,
        )

        # Incidents. Ages at NOW in the comments (open ones).
        _incident(
            conn,
            sc,
            "A1",
            "acme",
            1,
            "srv1",
            "critical",
            "2026-10-02 10:00",
            "resolved",
            "2026-10-02 12:00",
        )
        # 23:30 UTC is 01:30 the next day in Berlin: the day buckets differ by zone.
        _incident(
            conn,
            sc,
            "A2",
            "acme",
            2,
            "srv1",
            "major",
            "2026-10-05 23:30",
            "resolved",
            "2026-10-06 09:00",
        )
        _incident(conn, sc, "A3", "acme", 3, "printer1", "minor", "2026-10-20 10:00", "open")  # 2 h
        _incident(
            conn, sc, "A4", "acme", 4, "srv1", "minor", "2026-10-19 12:00", "acknowledged"
        )  # 24 h
        _incident(
            conn,
            sc,
            "A5",
            "acme",
            5,
            None,
            "technical",
            "2026-09-28 00:00",
            "waiting_for_client",
            origin="user_reported",
        )  # 22.5 d
        _incident(
            conn,
            sc,
            "G1",
            "globex",
            1,
            "nas",
            "major",
            "2026-10-10 08:00",
            "closed",
            "2026-10-12 08:00",
        )
        _incident(conn, sc, "G2", "globex", 2, "nas", "critical", "2026-10-16 12:00", "open")  # 4 d
        _incident(conn, sc, "G3", "globex", 3, "sw1", "major", "2026-10-20 08:00", "open")  # 4 h
        _incident(
            conn,
            sc,
            "G4",
            "globex",
            4,
            "nas",
            "minor",
            "2026-09-30 23:00",
            "resolved",
            "2026-10-01 01:00",
        )

        # SLA clocks (A5 was opened before the range: its breaches must not count).
        for name, client, priority, response, resolution in (
            ("A1", "acme", "critical", "met", "met"),
            ("A2", "acme", "major", "breached", "met"),
            ("A3", "acme", "minor", "pending", "pending"),
            ("A4", "acme", "minor", "met", "breached"),
            ("A5", "acme", "technical", "breached", "breached"),
            ("G1", "globex", "major", "met", "breached"),
            ("G2", "globex", "critical", "breached", "overdue"),
            ("G3", "globex", "major", "none", "none"),
        ):
            _sla(conn, sc, name, client, priority, response, resolution)

        _request(conn, sc, "R1", "initech", 1)
        _request(conn, sc, "R2", "globex", 1)
        i, r = sc.incidents, sc.requests
        # alice: incidents 60+30+90 = 180, request 120 → 300 min in 4 entries.
        _time(
            conn,
            "alice",
            60,
            incident=i["A1"],
            spent="2026-10-02 11:00",
            created="2026-10-02 11:30",
        )
        _time(
            conn, "alice", 30, incident=i["A2"], created="2026-10-06 08:30"
        )  # no spent_at: created_at
        _time(
            conn,
            "alice",
            90,
            incident=i["G1"],
            spent="2026-10-11 09:00",
            created="2026-10-11 10:00",
        )
        _time(
            conn,
            "alice",
            120,
            request=r["R1"],
            spent="2026-10-15 09:00",
            created="2026-10-15 12:00",
        )
        # bob: incidents 45+15 = 60, request 60 → 120 min in 3 entries; the September work is out.
        _time(
            conn, "bob", 45, incident=i["G1"], spent="2026-10-11 14:00", created="2026-10-11 15:00"
        )
        _time(
            conn, "bob", 15, incident=i["A4"], spent="2026-10-19 13:00", created="2026-10-19 13:30"
        )
        _time(
            conn, "bob", 60, request=r["R2"], spent="2026-10-20 09:00", created="2026-10-20 10:00"
        )
        _time(
            conn, "bob", 100, incident=i["A5"], spent="2026-09-25 10:00", created="2026-10-03 10:00"
        )

        _event(conn, i["A1"], "alice", "acknowledged", "2026-10-02 10:10")
        _event(conn, i["A1"], "alice", "resolved", "2026-10-02 12:00")
        _event(conn, i["A2"], "alice", "acknowledged", "2026-10-06 08:00")
        _event(conn, i["A2"], "upkeep", "resolved", "2026-10-06 09:00")
        _event(conn, i["A4"], "bob", "acknowledged", "2026-10-19 13:00")
        _event(conn, i["A4"], "bob", "commented", "2026-10-19 13:05")
        _event(conn, i["G1"], "bob", "resolved", "2026-10-12 08:00")
        _event(conn, i["G4"], "upkeep", "resolved", "2026-10-01 01:00")
        _event(conn, i["A5"], "carol", "acknowledged", "2026-09-28 01:00")  # before the range

        # Points (centipoints). acme's balance at UNTIL: 1000-400-600+1000-250-900+100 = -50.
        _ledger(conn, sc, "acme", "2026-09", "allotment", 1000, "2026-09-01 00:00")
        _ledger(conn, sc, "acme", "2026-09", "charge", -400, "2026-09-15 00:00")
        _ledger(conn, sc, "acme", "2026-09", "expiry", -600, "2026-10-01 00:00")
        _ledger(conn, sc, "acme", "2026-10", "allotment", 1000, "2026-10-01 00:00")
        _ledger(conn, sc, "acme", "2026-10", "charge", -250, "2026-10-06 10:00")
        _ledger(conn, sc, "acme", "2026-10", "charge", -900, "2026-10-19 14:00")
        _ledger(conn, sc, "acme", "2026-10", "topup", 100, "2026-10-20 09:00")
        _ledger(conn, sc, "globex", "2026-10", "allotment", 2000, "2026-10-01 00:00")
        _ledger(conn, sc, "globex", "2026-10", "charge", -300, "2026-10-12 09:00")
        _ledger(
            conn, sc, "globex", "2026-11", "charge", -100, "2026-11-02 00:00"
        )  # after the range

        # Ticket outbox (insertion order = id order: the failed jira row is the newest error).
        _outbox(conn, i["A1"], "jira", "done", "2026-10-02 10:00", delivered="2026-10-02 10:00")
        _outbox(conn, i["A5"], "jira", "done", "2026-09-28 00:00", delivered="2026-09-28 00:01")
        _outbox(conn, i["A3"], "jira", "pending", "2026-10-20 11:00")  # 1 h old
        _outbox(
            conn, i["G3"], "jira", "pending", "2026-10-20 10:00", attempts=3, error="HTTP 503"
        )  # 2 h
        _outbox(
            conn,
            i["G2"],
            "jira",
            "dead",
            "2026-10-16 12:00",
            attempts=12,
            error="HTTP 400: bad field",
        )
        _outbox(conn, i["A3"], "redmine", "in_flight", "2026-10-20 11:30")  # 30 min
        _outbox(conn, i["G1"], "redmine", "done", "2026-10-10 08:00", delivered="2026-10-12 08:00")
        # Client notifications.
        _notification(conn, "low_balance", "done", "2026-10-19 14:00", sent="2026-10-19 14:01")
        _notification(
            conn,
            "low_balance",
            "dead",
            "2026-10-18 09:00",
            attempts=5,
            error="SMTP 550 mailbox unavailable",
        )
        _notification(conn, "report", "pending", "2026-10-20 06:00")  # 6 h old
        # Closing answers with ratings: A1 (alice resolved it) 5, A2 (cleared by itself) 4,
        # G1 (bob) 2 and reopened; G4's closed automatically without a rating (not counted).
        _closing(conn, sc, "A1", "acme", "2026-10-02 12:00", "confirmed", "2026-10-02 15:00", 5)
        _closing(
            conn,
            sc,
            "A2",
            "acme",
            "2026-10-06 09:00",
            "confirmed",
            "2026-10-07 09:00",
            4,
            via="portal",
        )
        _closing(
            conn,
            sc,
            "G1",
            "globex",
            "2026-10-12 08:00",
            "reopened",
            "2026-10-13 10:00",
            2,
            comment="Still slow.",
        )
        _closing(
            conn, sc, "G4", "globex", "2026-10-01 01:00", "auto_closed", "2026-10-08 01:00", None
        )
    return sc
