"""The web UI's pages and forms do what they say, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from collector.schema import (
    incident_comments,
    incidents,
    outbox,
    request_events,
    service_requests,
    time_entries,
)
from collector.web import management_router
from collector.web.routes import render
from tests.web.kit import World


def _incident(world: World, key: str) -> Any:
    with world.store.read() as conn:
        return conn.execute(sa.select(incidents).where(incidents.c.key == key)).one()


def _outbox(world: World, incident_id: int) -> list[tuple[str, str]]:
    with world.store.read() as conn:
        return [
            (r.connector, r.action)
            for r in conn.execute(
                sa.select(outbox).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
            )
        ]


def test_working_an_incident_goes_through_the_lifecycle_and_the_outbox(
    world: World, browser: Any
) -> None:
    tech = browser("tech")
    key = world.a.incident
    row = _incident(world, key)
    queued = _outbox(world, row.id)
    assert queued == [("psa", "open")]
    steps = [
        ("acknowledge", {}),
        ("comment", {"body": "replaced the drum"}),
        ("time", {"minutes": "25", "work_type": "onsite", "note": "drive + fix"}),
        ("cause", {"cause": "wear"}),
        ("resolve", {"note": "drum replaced"}),
    ]
    for action, form in steps:
        response = tech.post(f"/ui/incidents/{key}/{action}", form)
        assert (
            response.status_code == 303 and response.headers["location"] == f"/ui/incidents/{key}"
        ), action
    row = _incident(world, key)
    assert (row.state, row.cause, row.resolution_note) == ("resolved", "wear", "drum replaced")
    assert row.acknowledged_at is not None and row.resolved_at is not None
    # The same outbox rows the API's actions queue (the cause is not sent to ticket systems).
    assert _outbox(world, row.id) == [
        ("psa", "open"),
        ("psa", "update"),
        ("psa", "comment"),
        ("psa", "time_entry"),
        ("psa", "resolve"),
    ]
    with world.store.read() as conn:
        assert conn.execute(
            sa.select(incident_comments.c.actor, incident_comments.c.body)
        ).all() == [("tech", "replaced the drum")]
        assert conn.execute(sa.select(time_entries.c.minutes, time_entries.c.work_type)).all() == [
            (25, "onsite")
        ]
    page = tech.get(f"/ui/incidents/{key}").text
    for text in (
        "acknowledged",
        "commented",
        "time logged",
        "resolved",
        "replaced the drum",
        "drum replaced",
        "psa",
        "pending",
    ):
        assert text in page, text
    assert 'id="incident-state">resolved<' in page
    # An action the lifecycle refuses is a clear 400 page, and nothing is written.
    refused = tech.post(f"/ui/incidents/{key}/acknowledge")
    assert (
        refused.status_code == 400 and "only an open incident can be acknowledged" in refused.text
    )
    bad_minutes = tech.post(f"/ui/incidents/{key}/time", {"minutes": "-3"})
    assert bad_minutes.status_code == 400 and "minutes" in bad_minutes.text
    assert len(_outbox(world, row.id)) == 5


def test_waiting_and_priority_when_the_lifecycle_offers_them(world: World, browser: Any) -> None:
    from collector.incidents import lifecycle

    if "wait" not in lifecycle.TECHNICIAN_ACTIONS:
        pytest.skip(
            "this lifecycle has no wait/resume/priority actions yet (they come with the SLA clocks)"
        )
    tech = browser("tech")
    key = world.a.incident
    assert 'id="wait"' in tech.get(f"/ui/incidents/{key}").text
    assert (
        tech.post(
            f"/ui/incidents/{key}/wait", {"reason": "waiting_for_client", "note": "asked"}
        ).status_code
        == 303
    )
    assert _incident(world, key).state == "waiting_for_client"
    assert 'id="resume"' in tech.get(f"/ui/incidents/{key}").text
    assert tech.post(f"/ui/incidents/{key}/resume").status_code == 303
    assert _incident(world, key).state == "acknowledged"
    assert tech.post(f"/ui/incidents/{key}/priority", {"priority": "critical"}).status_code == 303
    assert _incident(world, key).priority == "critical"
    assert tech.post(f"/ui/incidents/{key}/wait", {"reason": "nap"}).status_code == 400


def test_incident_list_filters(world: World, browser: Any) -> None:
    tech = browser("tech")
    tech.post(f"/ui/incidents/{world.b.incident}/resolve", {"note": "done"})
    both = tech.get("/ui/incidents").text
    assert world.a.incident in both and world.b.incident in both
    only_a = tech.get("/ui/incidents?client=acme").text
    assert world.a.incident in only_a and world.b.incident not in only_a
    active = tech.get("/ui/incidents?state=active").text
    assert world.a.incident in active and world.b.incident not in active
    resolved = tech.get("/ui/incidents?state=resolved&priority=major&origin=user_reported").text
    assert world.b.incident in resolved and world.a.incident not in resolved
    assert world.a.incident not in tech.get("/ui/incidents?origin=proactive").text
    assert tech.get("/ui/incidents?priority=urgent").status_code == 400
    assert tech.get("/ui/incidents?client=nope").status_code == 404


def test_dashboard_shows_sla_risk_silent_agents_and_open_incidents(
    world: World, browser: Any
) -> None:
    page = browser("tech").get("/ui/").text
    assert (
        "overdue by" in page and "due in" in page
    )  # response overdue, resolution due within the hour
    assert "agent-anvil" in page and "agent-zeppelin" in page
    assert "<strong>2</strong> open incidents" in page
    assert "<strong>2</strong> requests awaiting approval" in page


def test_client_page_contract_balance_and_assets(world: World, browser: Any) -> None:
    from collector.contracts.model import Contract
    from collector.contracts.store import put_contract

    contract = Contract.model_validate(
        {
            "client": "acme",
            "plan": {"name": "Gold", "monthly_fee": "900", "currency": "EUR"},
            "sla": {"major": {"response": "1h", "resolution": "8h"}},
            "points": {"allotment": "1000"},
            "contacts": [{"name": "Boss", "email": "boss@acme.example", "receives": ["reports"]}],
        }
    )
    with world.store.write() as conn:
        put_contract(conn, world.a.id, contract, source="test", actor="test", now=0)
    tech = browser("tech")
    listing = tech.get("/ui/clients").text
    assert "Gold" in listing and "997.50" in listing and "no contract" in listing  # globex has none
    page = tech.get("/ui/clients/acme").text
    for text in (
        "Gold",
        "900 EUR",
        "1 h",
        "8 h",
        "boss@acme.example",
        "997.50",
        "srv-anvil",
        "printer fix anvil",
        world.a.incident,
    ):
        assert text in page, text


def test_asset_page_lists_series_with_units_charts_and_alerts(world: World, browser: Any) -> None:
    page = browser("tech").get(f"/ui/assets/{world.a.asset_id}").text
    # The asset overview (collector/web/asset_pages.py): units from the metric catalog, a
    # chart button for every series (charts are drawn from the JSON endpoint).
    assert "disk_used_percent" in page and "mount=/" in page and "81.5 %" in page
    assert page.count('class="show-chart"') == 1 and "no history" not in page
    assert "disk-anvil" in page and "firing" in page
    assert browser("tech").get("/ui/assets/999999").status_code == 404


def test_rules_page_shows_status_and_firing_alerts(world: World, browser: Any) -> None:
    world.app.state.rules.reload()
    page = browser("tech").get("/ui/rules").text
    assert "Rules loaded" in page and "disk-anvil" in page and "disk-zeppelin" in page
    assert "Reload the rule files" not in page  # admins only
    admin = browser("root")
    assert "Reload the rule files" in admin.get("/ui/rules").text
    assert admin.post("/ui/rules/reload").status_code == 303


def test_reports_download_and_generation(
    world: World, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tech = browser("tech")
    download = tech.get(f"/ui/reports/{world.a.report_id}/download")
    assert download.status_code == 200 and "report anvil" in download.text
    assert "attachment" in download.headers["content-disposition"]
    assert "sandbox" in download.headers["content-security-policy"]
    # A row pointing outside the archive is not served.
    from collector.schema import reports

    with world.store.write() as conn:
        conn.execute(
            reports.update()
            .where(reports.c.id == world.a.report_id)
            .values(path="../../etc/passwd")
        )
    assert tech.get(f"/ui/reports/{world.a.report_id}/download").status_code == 404

    calls: list[dict[str, Any]] = []
    if "collector.reports.archive" not in sys.modules:
        try:
            import collector.reports.archive  # noqa: F401 - the real module, once it exists
        except ImportError:
            page = tech.get("/ui/reports").text
            assert "Reports not available" in page
            refused = tech.post("/ui/reports/generate", {"client": "acme", "period": "2026-10"})
            assert refused.status_code == 404 and "reports are not available" in refused.text
    # With a generator present, the form calls it once with what was chosen.
    fake = types.ModuleType("collector.reports.archive")

    def archive(store: Any, data_dir: Any, client: str, period: str, fmt: str, **kw: Any) -> int:
        calls.append({"data_dir": data_dir, "client": client, "period": period, "fmt": fmt, **kw})
        return 1

    fake.archive = archive  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "collector.reports.archive", fake)
    page = tech.get("/ui/reports").text
    assert 'id="generate"' in page
    response = tech.post(
        "/ui/reports/generate", {"client": "acme", "period": "2026-10", "format": "pdf"}
    )
    assert response.status_code == 303
    assert calls == [
        {
            "data_dir": world.settings.data_dir,
            "client": "acme",
            "period": "2026-10",
            "fmt": "pdf",
            "actor": "tech",
            # the UI passes the artefact size limit of its settings (report files are in the DB)
            "max_bytes": world.settings.artefact_max_bytes,
        }
    ]
    assert (
        tech.post(
            "/ui/reports/generate", {"client": "acme", "period": "2026-10", "format": "docx"}
        ).status_code
        == 400
    )
    assert tech.post("/ui/reports/generate", {"client": "acme", "period": "Oct"}).status_code == 400


def test_a_client_viewer_approves_or_rejects_their_estimates(world: World, browser: Any) -> None:
    viewer = browser("viewer-a")
    page = viewer.get("/ui/requests").text
    assert "Approve" in page and world.a.request in page
    assert (
        viewer.post(f"/ui/requests/{world.a.request}/approve", {"note": "go ahead"}).status_code
        == 303
    )
    with world.store.read() as conn:
        row = conn.execute(
            sa.select(service_requests).where(service_requests.c.key == world.a.request)
        ).one()
        events = conn.execute(
            sa.select(request_events.c.actor, request_events.c.type).where(
                request_events.c.request_id == row.id
            )
        ).all()
    assert (
        row.state,
        row.decided_by,
        row.decided_via,
        row.approved_centipoints,
        row.decision_note,
    ) == ("approved", "viewer-a", "portal", 150_00, "go ahead")
    assert events == [("viewer-a", "approved")]
    again = viewer.post(f"/ui/requests/{world.a.request}/reject")
    assert again.status_code == 400 and "awaiting approval" in again.text
    other = browser("viewer-b")
    assert other.post(f"/ui/requests/{world.b.request}/reject").status_code == 303
    with world.store.read() as conn:
        assert (
            conn.execute(
                sa.select(service_requests.c.state).where(service_requests.c.key == world.b.request)
            ).scalar_one()
            == "rejected"
        )


def test_decisions_go_through_the_ledger_when_it_is_installed(
    world: World, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    ledger = types.ModuleType("collector.ledger.requests")
    ledger.approve = lambda conn, key, **kw: (
        calls.append(("approve", key, kw)) or {"state": "approved"}
    )  # type: ignore[attr-defined]
    ledger.reject = lambda conn, key, **kw: (
        calls.append(("reject", key, kw)) or {"state": "rejected"}
    )  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "collector.ledger.requests", ledger)
    viewer = browser("viewer-a")
    assert (
        viewer.post(f"/ui/requests/{world.a.request}/reject", {"note": "too dear"}).status_code
        == 303
    )
    assert len(calls) == 1 and calls[0][:2] == ("reject", world.a.request)
    assert {k: v for k, v in calls[0][2].items() if k != "now"} == {
        "actor": "viewer-a",
        "via": "portal",
        "note": "too dear",
    }
    # The scope is checked before the ledger is asked.
    assert viewer.post(f"/ui/requests/{world.b.request}/approve").status_code == 404
    assert len(calls) == 1


def test_admins_manage_users_in_the_ui(world: World, browser: Any) -> None:
    admin = browser("root")
    response = admin.post(
        "/ui/users",
        {
            "username": "carol",
            "password": "a long password",
            "role": "client_viewer",
            "client": "globex",
            "display_name": "Carol",
        },
    )
    assert response.status_code == 303
    page = admin.get("/ui/users").text
    assert "carol" in page and "Carol" in page and "$argon2" not in page
    dup = admin.post(
        "/ui/users", {"username": "carol", "password": "a long password", "role": "admin"}
    )
    assert dup.status_code == 409
    carol = browser("carol", "a long password")
    assert world.b.incident in carol.get("/ui/incidents").text
    assert admin.post("/ui/users/carol/disable").status_code == 303
    assert carol.get("/ui/").status_code == 303  # her session ended
    assert admin.post("/ui/users/root/disable").status_code == 400  # not yourself


def test_api_errors_stay_json_and_ui_errors_are_pages(world: World, browser: Any) -> None:
    http = TestClient(world.app)
    api = http.get("/api/v1/incidents")
    assert api.status_code == 401 and api.json()["error"] == "unauthenticated"
    assert http.get("/api/v1/nope").json()["error"] == "not_found"
    page = browser("tech").get("/ui/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Back to the dashboard" in page.text
    assert "/ui" not in str(world.app.openapi())  # the UI is not part of the API contract


def test_management_views_plug_in(
    world: World, browser: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    router = APIRouter()

    @router.get("/ui/management")
    def overview(request: Request) -> Any:
        return render(request, "base.html", {})

    module = types.ModuleType("collector.management.web")
    module.router = router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "collector.management.web", module)
    assert management_router() is router
    from collector.api import create_app

    app = create_app(world.settings, store=world.store, migrate=False, run_retention=False)
    world.app = app
    tech = browser("tech")
    page = tech.get("/ui/management")
    assert (
        page.status_code == 200 and 'href="/ui/management"' in page.text and "Log out" in page.text
    )
    assert (
        browser("viewer-a").get("/ui/management").status_code == 403
    )  # staff only, enforced by install()
    assert TestClient(app, follow_redirects=False).get("/ui/management").status_code == 303
