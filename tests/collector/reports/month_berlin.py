"""A second hand-computed month (issue 16): November 2026 for "nordwind", a Europe/Berlin
client (CET, UTC+1 all month), in English or Russian. Rows are written straight into the
tables as the collector's writers leave them; every figure the test asserts is worked out by
hand in its comments (tests/collector/reports/test_month_berlin.py).

- N1 proactive, rule backup-too-old (title kept with its source: said in the client's
  language), minor, opened 3 Nov 07:00 UTC (08:00 Berlin), resolved 09:00 UTC; a preventive
  fix with evidence (backup age 259289.27 s → 2.48 s); SLA response and resolution met.
- N2 reported by the client, major, client_error: 90 min of work, 15.00 points charged;
  opened 10 Nov 13:00 UTC, resolved 16:30 UTC; SLA met. Rated 4.
- N3 proactive, major, opened 20 Nov 08:00 UTC, resolved 21 Nov 10:00 UTC (26 h against 8 h):
  resolution breached (flag set by the sweep). Rated 5.
- N4 reported, minor, opened 28 Nov 09:00 UTC, still acknowledged: its resolution clock runs
  past its due time (29 Nov 09:00 UTC) without the flag — a breach all the same.
- Points: October allotment 20.00, charge 15.00 → opening 5.00; November allotment 20.00,
  N2 15.00 → closing 10.00, charged 15.00.
- A maintenance task "Verify backups" (45 min), no evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.rules.engine import render, summary_value, title_source
from collector.schema import incident_closings, preventive_work, time_entries
from collector.store import Store
from tests.collector.reports.scenario import Builder

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC).timestamp()
OCT = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
BACKUP_SUMMARY = "{asset}: newest file in {path} is {value:duration} old"


def at(day: int, hour: int = 0, minute: int = 0) -> float:
    """November 2026, in UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC).timestamp()


def contract(language: str) -> Contract:
    return Contract.model_validate(
        {
            "client": "nordwind",
            "plan": {"name": "Office Care", "monthly_fee": "900.00", "currency": "EUR"},
            "language": language,
            "calendar": {"timezone": "Europe/Berlin"},
            "sla": {
                "major": {"response": "1h", "resolution": "8h"},
                "minor": {"response": "4h", "resolution": "24h"},
            },
            "points": {"allotment": 20, "rates": {"default": 10}},
            "contacts": [{"name": "Eva", "email": "eva@nordwind.example", "receives": ["reports"]}],
        }
    )


def _backup_title(value: float) -> tuple[str, dict]:
    context = {
        "path": "/srv/backup",
        "asset": "srv1",
        "client": "nordwind",
        "site": "office",
        "rule": "backup-too-old",
        "severity": "critical",
        "value": summary_value(value, "file_age_seconds"),
        "eta": "",
    }
    source = title_source(BACKUP_SUMMARY, context, "file_age_seconds", None)
    assert source is not None
    return render(BACKUP_SUMMARY, context), source


def build(store: Store, language: str) -> dict[str, int]:
    admin.create_client(store, "nordwind")
    with store.write() as conn:
        client_id = admin.get_client(conn, "nordwind").id
        put_contract(conn, client_id, contract(language), source="test", actor="test", now=OCT)
        b = Builder(conn, client_id)
        srv1 = b.asset("srv1", "host", first_seen=OCT)
        b.asset("printer1", "printer", first_seen=OCT)
        title, source = _backup_title(259289.27283787727)

        def incident(number: int, **values) -> int:
            return b.incident(number, key=f"UPK-nordwind-{number}", site="office", **values)

        n1 = incident(
            1,
            title=title,
            title_source=source,
            asset="srv1",
            asset_id=srv1,
            rule="backup-too-old",
            kind="preventive",
            first_value=259289.27283787727,
            resolution_note="Restarted the backup job; it ran at once.",
            opened_at=at(3, 7),
            acknowledged_at=at(3, 7, 30),
            resolved_at=at(3, 9),
        )
        n2 = incident(
            2,
            title="Printer on the 2nd floor jams",
            asset="printer1",
            origin="user_reported",
            priority="major",
            cause="client_error",
            resolution_note="Wrong paper loaded; replaced it and showed how.",
            opened_at=at(10, 13),
            acknowledged_at=at(10, 13, 20),
            resolved_at=at(10, 16, 30),
        )
        n3 = incident(
            3,
            title="srv1: the file share is slow",
            asset="srv1",
            asset_id=srv1,
            priority="major",
            cause="hardware",
            resolution_note="Replaced a failing disk of the array.",
            opened_at=at(20, 8),
            acknowledged_at=at(20, 8, 40),
            resolved_at=at(21, 10),
        )
        n4 = incident(
            4,
            title="Outlook asks for the password again",
            origin="user_reported",
            state="acknowledged",
            opened_at=at(28, 9),
            acknowledged_at=at(28, 10),
        )
        conn.execute(
            time_entries.insert(),
            [
                {
                    "incident_id": n1,
                    "actor": "mia",
                    "minutes": 20,
                    "note": "",
                    "created_at": at(3, 9),
                },
                {
                    "incident_id": n2,
                    "actor": "tom",
                    "minutes": 90,
                    "note": "",
                    "created_at": at(10, 16),
                },
                {
                    "incident_id": n3,
                    "actor": "tom",
                    "minutes": 150,
                    "note": "",
                    "created_at": at(21, 10),
                },
            ],
        )
        b.sla(
            n1,
            "minor",
            response_target=14400,
            responded_at=at(3, 7, 30),
            response_elapsed=1800,
            resolution_target=86400,
            resolved_at=at(3, 9),
            resolution_elapsed=7200,
        )
        b.sla(
            n2,
            "major",
            response_target=3600,
            responded_at=at(10, 13, 20),
            response_elapsed=1200,
            resolution_target=28800,
            resolved_at=at(10, 16, 30),
            resolution_elapsed=12600,
        )
        b.sla(
            n3,
            "major",
            response_target=3600,
            responded_at=at(20, 8, 40),
            response_elapsed=2400,
            resolution_target=28800,
            resolved_at=at(21, 10),
            resolution_elapsed=93600,
            resolution_breached=True,
            resolution_due_at=at(20, 16),
        )
        b.sla(
            n4,
            "minor",
            state="running",
            response_target=14400,
            responded_at=at(28, 10),
            response_elapsed=3600,
            resolution_target=86400,
            resolution_due_at=at(29, 9),
            resolution_elapsed=3600,
        )
        b.ledger("2026-10", "allotment", 2000, OCT)
        b.ledger("2026-10", "charge", -1500, OCT + 10 * 86400)
        b.ledger("2026-11", "allotment", 2000, at(1) - 3600)  # midnight in Berlin
        b.ledger(
            "2026-11", "charge", -1500, at(10, 16, 30), incident_id=n2, reason="1.5 h × 10 points/h"
        )
        conn.execute(
            preventive_work.insert(),
            [
                {
                    "client_id": client_id,
                    "kind": "incident",
                    "incident_id": n1,
                    "task_id": None,
                    "title": title,
                    "asset": "srv1",
                    "done_at": at(3, 9),
                    "actor": "mia",
                    "minutes": 20,
                    "note": "",
                    "evidence": {
                        "metric": "file_age_seconds",
                        "labels": {"path": "/srv/backup"},
                        "source": "metric",
                        "before": 259289.27283787727,
                        "after": 2.4769256114959717,
                    },
                    "created_at": at(3, 9),
                },
                {
                    "client_id": client_id,
                    "kind": "task",
                    "incident_id": None,
                    "task_id": "backups",
                    "title": "Verify backups",
                    "asset": None,
                    "done_at": at(16, 14),
                    "actor": "mia",
                    "minutes": 45,
                    "note": "restore test OK",
                    "evidence": {},
                    "created_at": at(16, 14),
                },
            ],
        )
        for n, incident_id, rating, answered, state in (
            (2, n2, 4, at(11, 8), "confirmed"),
            (3, n3, 5, at(22, 12), "confirmed"),
        ):
            conn.execute(
                incident_closings.insert().values(
                    incident_id=incident_id,
                    client_id=client_id,
                    token_id=f"tok-n{n}",
                    kind="closing",
                    state=state,
                    resolved_at=answered - 86400,
                    due_at=answered - 86000,
                    sent_at=answered - 86000,
                    answered_at=answered,
                    answered_by="client",
                    answered_via="link",
                    rating=rating,
                    created_at=answered - 86400,
                )
            )
    return {"client_id": client_id}
