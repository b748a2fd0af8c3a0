"""Helpers of the web UI tests: an app on a real store (SQLite and PostgreSQL) seeded with two
clients (acme and globex) that each own an asset, incidents, an SLA clock, a silent agent, a
firing alert, ledger entries, an archived report and a request awaiting approval; users of
every role; and logged-in HTTP clients.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from collector import admin
from collector.api import create_app
from collector.schema import (
    agents,
    assets,
    incident_sla,
    incidents,
    latest,
    ledger_entries,
    reports,
    rollups_hourly,
    rule_alerts,
    series,
    service_requests,
    sites,
)
from collector.settings import Settings
from collector.store import Store
from collector.web import auth

PASSWORD = "correct horse battery"
#: Import time: a fixed instant for tests that only need "a time" (logins, ratings). The seeded
#: world is relative to when it is made (``World.now``): in a long run the import was long ago.
NOW = time.time()
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Tenant:
    """One seeded client and the identifiers of what it owns."""

    name: str
    id: int
    asset_id: int
    asset: str
    incident: str
    request: str
    report_id: int
    marker: str  # a word that appears only in this client's rows


@dataclass
class World:
    store: Store
    settings: Settings
    app: Any
    a: Tenant
    b: Tenant
    users: dict[str, str] = field(default_factory=dict)  # role label -> user name
    now: float = 0.0  # when the world was seeded: everything in it is relative to this


def _seed_client(store: Store, settings: Settings, name: str, marker: str, now: float) -> Tenant:
    client = admin.create_client(store, name)
    period = time.strftime("%Y-%m", time.gmtime(now))  # the current period (no contract calendar)
    with store.write() as conn:
        site_id = conn.execute(
            sites.insert().values(client_id=client.id, name="hq", created_at=now)
        ).inserted_primary_key[0]
        asset = f"srv-{marker}"
        asset_id = conn.execute(
            assets.insert().values(
                client_id=client.id,
                site_id=site_id,
                name=asset,
                kind="host",
                tags=[],
                attributes={},
                first_seen=now - 86400,
                last_seen=now,
            )
        ).inserted_primary_key[0]
        series_id = conn.execute(
            series.insert().values(
                asset_id=asset_id,
                metric="disk_used_percent",
                labels=json.dumps({"mount": "/"}, separators=(",", ":")),
                labels_hash=hashlib.sha256(marker.encode()).hexdigest(),
            )
        ).inserted_primary_key[0]
        conn.execute(latest.insert().values(series_id=series_id, ts=now, value=81.5))
        hour0 = (int(now) // 3600 - 10) * 3600
        conn.execute(
            rollups_hourly.insert(),
            [
                {
                    "series_id": series_id,
                    "hour": hour0 + 3600 * i,
                    "min": 70 + i,
                    "max": 72 + i,
                    "sum": (71 + i) * 4,
                    "count": 4,
                    "last": 71 + i,
                    "last_ts": hour0 + 3600 * i + 3000,
                }
                for i in range(10)
            ],
        )
        conn.execute(
            agents.insert().values(
                id=f"00000000-0000-0000-0000-00000000000{client.id}",
                client_id=client.id,
                site_id=site_id,
                hostname=f"agent-{marker}",
                version="0.1.0",
                os="linux",
                first_seen=now - 86400,
                last_seen=now - 7200,
                last_seq=1,
            )
        )
        conn.execute(
            rule_alerts.insert().values(
                fingerprint=hashlib.sha256(f"fp-{marker}".encode()).hexdigest(),
                rule_id=f"disk-{marker}",
                client_id=client.id,
                asset_id=asset_id,
                series_id=series_id,
                labels={"mount": "/"},
                status="firing",
                severity="warning",
                state={"firing_since": now - 600, "last_value": 81.5},
                summary=f"disk filling on {asset}",
                updated_at=now,
            )
        )
        conn.execute(
            ledger_entries.insert().values(
                client_id=client.id,
                period=period,
                kind="allotment",
                centipoints=1000_00,
                ts=now - 3600,
                actor="upkeep",
                reason=f"monthly allotment {marker}",
                data={},
            )
        )
        conn.execute(
            ledger_entries.insert().values(
                client_id=client.id,
                period=period,
                kind="charge",
                centipoints=-250,
                ts=now - 60,
                actor="upkeep",
                reason=f"printer fix {marker}",
                data={},
            )
        )
        request_key = f"REQ-{name}-1"
        conn.execute(
            service_requests.insert().values(
                key=request_key,
                client_id=client.id,
                number=1,
                title=f"new laptop {marker}",
                description="",
                requested_by="boss",
                standard=False,
                state="awaiting_approval",
                estimate_minutes=90,
                estimate_centipoints=150_00,
                created_at=now,
                updated_at=now,
            )
        )
        report_dir = settings.data_dir / "reports" / name
        report_dir.mkdir(parents=True, exist_ok=True)
        report_file = report_dir / "2026-10.html"
        report_file.write_text(f"<html><body>report {marker}</body></html>", encoding="utf-8")
        report_id = conn.execute(
            reports.insert().values(
                client_id=client.id,
                period="2026-10",
                format="html",
                language="en",
                path=f"{name}/2026-10.html",
                sha256="0" * 64,
                bytes=report_file.stat().st_size,
                generated_by="upkeep",
                generated_at=now,
            )
        ).inserted_primary_key[0]
    return Tenant(name, client.id, asset_id, asset, "", request_key, report_id, marker)


def _open_incident(world_app: Any, store: Store, tenant: Tenant, now: float) -> str:
    service = world_app.state.incidents.service
    key = service.report(
        client=tenant.name,
        title=f"printer jammed {tenant.marker}",
        actor="phone",
        priority="major",
        asset=tenant.asset,
    )
    with store.write() as conn:
        incident_id = conn.execute(incidents.select().where(incidents.c.key == key)).one().id
        conn.execute(
            incident_sla.insert().values(
                incident_id=incident_id,
                client_id=tenant.id,
                priority="major",
                state="running",
                response_target=3600,
                response_due_at=now - 120,
                responded_at=None,
                response_elapsed=3720,
                response_breached=True,
                resolution_target=14400,
                resolution_due_at=now + 1800,
                resolved_at=None,
                resolution_elapsed=0,
                resolution_breached=False,
                paused_seconds=0,
                notified=[],
                updated_at=now,
            )
        )
    return key


class Browser:
    """A TestClient with a session: ``csrf`` is the session's token, read from a page."""

    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, follow_redirects=False)
        self.csrf = ""

    def login(self, username: str, password: str = PASSWORD) -> Any:
        page = self.http.get("/ui/login")
        token = _CSRF.search(page.text).group(1)
        response = self.http.post(
            "/ui/login", data={"username": username, "password": password, "csrf_token": token}
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.http.get("/ui/").text)
        return response

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def post(self, url: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.http.post(url, data=form)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def make_world(store: Store, tmp_path: Path) -> World:
    # A webhook connector that nobody delivers to (no lifespan, no workers): outbox rows stay
    # pending, so tests see what each action queued.
    settings = Settings.for_data_dir(
        tmp_path / "data",
        connectors={
            "connectors": {
                "psa": {
                    "type": "webhook",
                    "url": "http://127.0.0.1:9/hook",
                    "secret": "s3cret-for-tests",
                }
            }
        },
    )
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    now = time.time()
    a = _seed_client(store, settings, "acme", "anvil", now)
    b = _seed_client(store, settings, "globex", "zeppelin", now)
    a.incident = _open_incident(app, store, a, now)
    b.incident = _open_incident(app, store, b, now)
    world = World(store, settings, app, a, b, now=now)
    with store.write() as conn:
        for username, role, client in (
            ("root", "admin", None),
            ("tech", "technician", None),
            ("viewer-a", "client_viewer", "acme"),
            ("viewer-b", "client_viewer", "globex"),
        ):
            auth.create_user(conn, username, PASSWORD, role=role, client=client, now=now)
            world.users[role if role != "client_viewer" else username] = username
    return world
