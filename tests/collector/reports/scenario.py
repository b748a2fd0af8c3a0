"""A hand-computed month for the report tests: October 2026 for client "acme" (UTC contract).

Every number the tests assert is worked out by hand in the comments here, from these rows
(inserted straight into the store's tables, as the collector's writers would leave them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.ingest import canonical_labels, labels_hash
from collector.schema import (
    assets,
    events,
    incident_sla,
    incidents,
    ledger_entries,
    preventive_work,
    rollups_hourly,
    series,
    service_requests,
    sites,
    time_entries,
)
from collector.store import Store

H0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())  # the period starts here (UTC contract)
HOURS = 744  # October: 31 days
NOW = datetime(2026, 11, 5, tzinfo=UTC).timestamp()
SEPT = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())


def at(day: int, hour: int = 0, minute: int = 0) -> float:
    """October 2026, day ``day``, in UTC."""
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC).timestamp()


CONTRACT = {
    "client": "acme",
    "plan": {"name": "Office Care", "monthly_fee": "1200.00", "currency": "EUR"},
    "language": "en",
    "calendar": {"timezone": "UTC"},
    "sla": {
        "critical": {"response": "15m", "resolution": "2h"},
        "major": {"response": "1h", "resolution": "4h"},
        "minor": {"response": "4h", "resolution": "8h"},
    },
    "points": {"allotment": 20, "rates": {"default": 10}},
    "contacts": [
        {"name": "Ann Manager", "email": "ann@acme.example", "receives": ["reports"]},
        {"name": "Bob Tech", "email": "bob@acme.example", "receives": ["sla"]},
    ],
}


class Builder:
    def __init__(self, conn: Any, client_id: int) -> None:
        self.conn, self.client_id = conn, client_id
        self.site = conn.execute(
            sites.insert().values(client_id=client_id, name="office", created_at=SEPT)
        ).inserted_primary_key[0]

    def asset(self, name: str, kind: str, first_seen: float = SEPT) -> int:
        return self.conn.execute(
            assets.insert().values(
                client_id=self.client_id,
                site_id=self.site,
                name=name,
                kind=kind,
                tags=[],
                attributes={},
                first_seen=first_seen,
                last_seen=NOW,
            )
        ).inserted_primary_key[0]

    def series(
        self,
        asset_id: int,
        metric: str,
        rows: dict[int, tuple[float, float, float, int, float]],
        **labels: str,
    ) -> int:
        """``rows``: hour index (from H0) → (min, max, sum, count, last)."""
        canonical = canonical_labels(labels)
        sid = self.conn.execute(
            series.insert().values(
                asset_id=asset_id,
                metric=metric,
                labels=canonical,
                labels_hash=labels_hash(canonical),
            )
        ).inserted_primary_key[0]
        self.conn.execute(
            rollups_hourly.insert(),
            [
                {
                    "series_id": sid,
                    "hour": H0 + h * 3600,
                    "min": r[0],
                    "max": r[1],
                    "sum": r[2],
                    "count": r[3],
                    "last": r[4],
                    "last_ts": H0 + h * 3600 + 3000,
                }
                for h, r in sorted(rows.items())
            ],
        )
        return sid

    @staticmethod
    def const(value: float, hours: range = range(HOURS), count: int = 12) -> dict[int, tuple]:
        return {h: (value, value, value * count, count, value) for h in hours}

    def incident(self, number: int, **values: Any) -> int:
        base = {
            "client_id": self.client_id,
            "number": number,
            "key": f"UPK-acme-{number}",
            "origin": "proactive",
            "state": "resolved",
            "priority": "minor",
            "kind": "fault",
            "description": "",
            "labels": {},
            "count": 1,
            "flapping": False,
            "version": 1,
            "updated_at": NOW,
        }
        base.update(values)
        return self.conn.execute(incidents.insert().values(**base)).inserted_primary_key[0]

    def sla(self, incident_id: int, priority: str, **values: Any) -> None:
        base = {
            "incident_id": incident_id,
            "client_id": self.client_id,
            "priority": priority,
            "state": "stopped",
            "response_elapsed": 0.0,
            "response_breached": False,
            "resolution_elapsed": 0.0,
            "resolution_breached": False,
            "paused_seconds": 0.0,
            "notified": [],
            "updated_at": NOW,
        }
        base.update(values)
        self.conn.execute(incident_sla.insert().values(**base))

    def ledger(self, period: str, kind: str, centipoints: int, ts: float, **values: Any) -> None:
        self.conn.execute(
            ledger_entries.insert().values(
                client_id=self.client_id,
                period=period,
                kind=kind,
                centipoints=centipoints,
                ts=ts,
                actor="upkeep",
                reason=values.pop("reason", kind),
                data={},
                **values,
            )
        )


def build(store: Store, *, language: str = "en") -> dict[str, int]:
    admin.create_client(store, "acme")
    admin.create_client(store, "other")  # another tenant's data must never show
    with store.write() as conn:
        client_id = admin.get_client(conn, "acme").id
        other_id = admin.get_client(conn, "other").id
        put_contract(
            conn,
            client_id,
            Contract.model_validate({**CONTRACT, "language": language}),
            source="test",
            actor="test",
            now=SEPT,
        )
        b = Builder(conn, client_id)
        srv1 = b.asset("srv1", "host")
        srv2 = b.asset("srv2", "host", first_seen=H0 + 400 * 3600 + 1800)  # joined mid-month
        printer1 = b.asset("printer1", "printer")
        ups1 = b.asset("ups1", "ups")

        # --- availability ------------------------------------------------------------
        # srv1's agent delivered nothing in hours 100–104: 5 h down, 739/744 = 99.328 %.
        b.series(
            srv1,
            "upkeep_check_up",
            b.const(1.0, range(0, 100)) | b.const(1.0, range(105, HOURS)),
            check="cpu",
        )
        b.series(
            srv1,
            "upkeep_check_up",
            b.const(1.0, range(0, 100)) | b.const(1.0, range(105, HOURS)),
            check="disk",
        )
        # srv2: every hour from its first one (hour 400) present: 344 of 344 = 100 %.
        b.series(srv2, "upkeep_check_up", b.const(1.0, range(400, HOURS)), check="cpu")
        # printer1: snmp_up 0 in hours 200–201, half the polls failed in hour 300:
        # 744 − 2 − 0.5 = 741.5 up hours of 744 = 99.664 %, 9000 s down in two windows.
        up = b.const(1.0)
        up[200] = up[201] = (0.0, 0.0, 0.0, 12, 0.0)
        up[300] = (0.0, 1.0, 6.0, 12, 1.0)
        b.series(printer1, "snmp_up", up)
        b.series(ups1, "snmp_up", b.const(1.0))
        # A website checked from srv1, down in hour 10: 743/744 = 99.866 %.
        web = b.const(1.0)
        web[10] = (0.0, 0.0, 0.0, 60, 0.0)
        b.series(srv1, "http_up", web, target="https://shop.acme.example")
        # Overall: (739 + 344 + 741.5 + 744) / (744 + 344 + 744 + 744) = 2568.5 / 2576 = 99.709 %.

        # --- updates, disks ----------------------------------------------------------
        pending = {
            h: (v, v, v * 12, 12, v)
            for h in range(HOURS)
            for v in [10.0 if h < 300 else 4.0 if h < 600 else 6.0]
        }
        b.series(srv1, "os_updates_pending", pending)  # applied: 10 → 4 = 6; pending at the end: 6
        b.series(
            srv1,
            "os_security_updates_pending",
            b.const(3.0, range(0, 300)) | b.const(1.0, range(300, HOURS)),
        )
        b.series(srv1, "os_reboot_required", b.const(1.0))
        b.series(srv2, "os_updates_pending", b.const(0.0, range(400, HOURS)))
        b.series(
            srv1, "smart_healthy", b.const(1.0), device="/dev/sda", model="WDC WD40", serial="S1"
        )
        b.series(
            srv1,
            "smart_reallocated_sectors",
            b.const(0.0, range(0, 500)) | b.const(8.0, range(500, HOURS)),
            device="/dev/sda",
        )  # +8 sectors: "watch"

        # --- risks -------------------------------------------------------------------
        # "/" grows 1 % a day (hourly average 50 + h/24): 81 % at the end (hour 744), full in 19.0 days.
        b.series(
            srv1,
            "disk_used_percent",
            {
                h: (50 + h / 24, 50 + h / 24, (50 + h / 24) * 2, 2, 50 + h / 24)
                for h in range(HOURS)
            },
            mountpoint="/",
            device="/dev/sda1",
            fstype="ext4",
        )
        # A tmpfs filling up is not a risk.
        b.series(
            srv1,
            "disk_used_percent",
            {h: (h / 10, h / 10, h / 10, 1, h / 10) for h in range(HOURS)},
            mountpoint="/run/user",
            device="tmpfs",
            fstype="tmpfs",
        )
        # Black toner falls 2 % a day (100 − h/12): 38 % at the end, empty in 19.0 days.
        b.series(
            printer1,
            "printer_supply_level_percent",
            {h: (100 - h / 12, 100 - h / 12, 100 - h / 12, 1, 100 - h / 12) for h in range(HOURS)},
            supply="Black toner",
            supply_type="toner",
            color="black",
        )
        # The shop's certificate: 10 days left at the last reading.
        b.series(
            srv1,
            "tls_cert_expiry_seconds",
            {HOURS - 1: (864000.0, 864000.0, 864000.0, 1, 864000.0)},
            target="shop.acme.example:443",
        )
        b.series(
            ups1,
            "ups_battery_status",
            b.const(2.0, range(0, 700)) | b.const(3.0, range(700, HOURS)),
        )

        # --- consumables -------------------------------------------------------------
        # Page counter: hour h from 10000 + 5h to 10000 + 5h + 5: 3720 pages in the month.
        b.series(
            printer1,
            "printer_page_count_total",
            {
                h: (10000 + 5 * h, 10005 + 5 * h, (10002 + 5 * h) * 12, 12, 10005 + 5 * h)
                for h in range(HOURS)
            },
            marker="1",
        )
        for ts, supply, before, after in (
            (at(12, 9), "Black toner", 3.0, 100.0),
            (at(25, 14), "Cyan ink", 5.0, 98.0),
        ):
            conn.execute(
                events.insert().values(
                    client_id=client_id,
                    asset_id=printer1,
                    type="supply_replaced",
                    ts=ts,
                    message=f"{supply}: {before:.0f}% → {after:.0f}%",
                    data={"supply": supply, "before_percent": before, "after_percent": after},
                    received_at=ts,
                )
            )
        conn.execute(
            events.insert().values(
                client_id=client_id,
                asset_id=printer1,
                type="supply_replaced",
                ts=SEPT + 3600,
                message="x",
                data={"supply": "Old"},
                received_at=SEPT,
            )
        )

        # --- incidents (4 in October, 1 in September) ----------------------------------
        i1 = b.incident(
            1,
            title="srv1: / is 93% full",
            asset="srv1",
            asset_id=srv1,
            site="office",
            rule="disk-space",
            priority="major",
            kind="capacity",
            cause="wear",
            resolution_note="Rotated and compressed old logs.",
            opened_at=at(3, 10),
            acknowledged_at=at(3, 10, 20),
            resolved_at=at(3, 12),
        )
        i2 = b.incident(
            2,
            title="Printer jams on every job",
            asset="printer1",
            asset_id=printer1,
            site="office",
            origin="user_reported",
            priority="minor",
            cause="client_error",
            resolution_note="Wrong paper weight loaded; replaced and explained.",
            opened_at=at(10, 9),
            acknowledged_at=at(10, 9, 30),
            resolved_at=at(10, 19),
        )
        i3 = b.incident(
            3,
            title="printer1 does not answer SNMP",
            asset="printer1",
            asset_id=printer1,
            site="office",
            origin="external",
            rule="snmp-unreachable",
            priority="critical",
            kind="outage",
            cause="hardware",
            resolution_note="Replaced the network card.",
            opened_at=at(9, 8),
            acknowledged_at=at(9, 8, 25),
            resolved_at=at(9, 10),
        )
        i4 = b.incident(
            4,
            title="printer1: black toner at 12%",
            asset="printer1",
            asset_id=printer1,
            site="office",
            rule="toner-low",
            state="acknowledged",
            opened_at=at(20, 7),
            acknowledged_at=at(20, 8),
        )
        b.incident(
            5,
            title="printer1: paper jam",
            asset="printer1",
            asset_id=printer1,
            rule="paper-jam",
            opened_at=SEPT + 14 * 86400,
            resolved_at=SEPT + 14 * 86400 + 600,
        )
        conn.execute(
            time_entries.insert(),
            [
                {
                    "incident_id": i1,
                    "actor": "tech",
                    "minutes": 45,
                    "note": "logs",
                    "created_at": at(3, 12),
                },
                {
                    "incident_id": i2,
                    "actor": "tech",
                    "minutes": 60,
                    "note": "visit",
                    "created_at": at(10, 12),
                },
                {
                    "incident_id": i2,
                    "actor": "tech",
                    "minutes": 30,
                    "note": "explain",
                    "created_at": at(10, 19),
                },
            ],
        )
        # SLA: met 5 (i1 ×2, i2 response, i3 resolution, i4 response), missed 2 → 71.43 %.
        b.sla(
            i1,
            "major",
            response_target=3600,
            responded_at=at(3, 10, 20),
            response_elapsed=1200,
            resolution_target=14400,
            resolved_at=at(3, 12),
            resolution_elapsed=7200,
        )
        b.sla(
            i2,
            "minor",
            response_target=14400,
            responded_at=at(10, 9, 30),
            response_elapsed=1800,
            resolution_target=28800,
            resolved_at=at(10, 19),
            resolution_elapsed=34200,
            resolution_breached=True,
            paused_seconds=1800,
            resolution_due_at=at(10, 17, 30),
        )
        b.sla(
            i3,
            "critical",
            response_target=900,
            responded_at=at(9, 8, 25),
            response_elapsed=1500,
            response_breached=True,
            response_due_at=at(9, 8, 15),
            resolution_target=7200,
            resolved_at=at(9, 10),
            resolution_elapsed=7200,
        )
        b.sla(
            i4,
            "minor",
            state="running",
            response_target=14400,
            responded_at=at(20, 8),
            response_elapsed=3600,
            resolution_target=28800,
            resolution_elapsed=10000,
        )

        # --- points --------------------------------------------------------------------
        # September: +20.00 − 5.00 → opening 15.00. October: +20.00, −15.00 (i2: 1.5 h × 10),
        # −8.00 (REQ-acme-1), +50.00 top-up → closing 62.00; charged 23.00.
        req = conn.execute(
            service_requests.insert().values(
                key="REQ-acme-1",
                client_id=client_id,
                number=1,
                title="Set up a new laptop",
                description="",
                requested_by="ann@acme.example",
                standard=False,
                state="done",
                created_at=at(14),
                updated_at=at(15),
            )
        ).inserted_primary_key[0]
        b.ledger("2026-09", "allotment", 2000, SEPT)
        b.ledger("2026-09", "charge", -500, SEPT + 20 * 86400)
        b.ledger("2026-10", "allotment", 2000, at(1))
        b.ledger(
            "2026-10", "charge", -1500, at(10, 19), incident_id=i2, reason="1.5 h × 10 points/h"
        )
        b.ledger("2026-10", "charge", -800, at(15, 16), request_id=req, reason="approved estimate")
        b.ledger("2026-10", "topup", 5000, at(20, 9), reason="top-up ordered by Ann")

        # --- preventive work: 45 + 30 = 75 min in October (1.25 h); 60 min in September --
        conn.execute(
            preventive_work.insert(),
            [
                {
                    "client_id": client_id,
                    "kind": "incident",
                    "incident_id": i1,
                    "task_id": None,
                    "title": "Freed space on srv1",
                    "asset": "srv1",
                    "done_at": at(3, 12),
                    "actor": "tech",
                    "minutes": 45,
                    "note": "",
                    "evidence": {"metric": "disk_used_percent", "before": 93, "after": 61},
                    "created_at": at(3, 12),
                },
                {
                    "client_id": client_id,
                    "kind": "task",
                    "incident_id": None,
                    "task_id": "backups",
                    "title": "Verify backups",
                    "asset": None,
                    "done_at": at(5, 15),
                    "actor": "tech",
                    "minutes": 30,
                    "note": "restore test OK",
                    "evidence": {"restored_files": 12},
                    "created_at": at(5, 15),
                },
                {
                    "client_id": client_id,
                    "kind": "task",
                    "incident_id": None,
                    "task_id": "backups",
                    "title": "Verify backups",
                    "asset": None,
                    "done_at": SEPT + 27 * 86400,
                    "actor": "tech",
                    "minutes": 60,
                    "note": "",
                    "evidence": {},
                    "created_at": SEPT + 27 * 86400,
                },
            ],
        )

        # --- the other tenant: must not leak into acme's report ------------------------
        ob = Builder(conn, other_id)
        other_host = ob.asset("other-srv", "host")
        ob.series(other_host, "upkeep_check_up", ob.const(1.0, range(0, 10)), check="cpu")
        ob.incident(1, title="other", key="UPK-other-1", opened_at=at(4))
        ob.ledger("2026-10", "charge", -99900, at(4))
        conn.execute(
            sa.update(incidents).where(incidents.c.key == "UPK-other-1").values(client_id=other_id)
        )
    return {"client_id": client_id, "srv1": srv1, "printer1": printer1}
