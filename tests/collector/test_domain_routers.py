"""Each domain's module-level router on its own (issue 17): mounted on a bare FastAPI app with
a Runtime built for the test (a real, migrated store; SQLite and PostgreSQL), never the whole
collector app. A handler that still reached for a closure of ``create_app`` would fail here.

Every admin API answers an admin token, refuses a client's (agent) token with 403 — a
client's token sees no client's data, not even its own — and answers 401 without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from collector import admin, timeutil
from collector.contracts import api as contracts_api
from collector.incidents import alertmanager, maintenance_api, outbox_api
from collector.incidents import api as incidents_api
from collector.ledger import api as ledger_api
from collector.management import api as management_api
from collector.management import pages as management_pages
from collector.oncall import api as oncall_api
from collector.preventive import api as preventive_api
from collector.reports import api as reports_api
from collector.rules import api as rules_api
from collector.runtime import Runtime
from collector.sla import api as sla_api
from collector.web import auth
from collector.web import routes as web_routes
from tests.collector.test_routers import bare_app, client_for, runtime

__all__ = ["client_for", "runtime"]  # the fixtures, shared with test_routers.py

NOW_DT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Tokens:
    """Two clients; an admin token, acme's agent token and an alertmanager token."""

    def __init__(self, runtime: Runtime) -> None:
        store = runtime.store
        for name in ("acme", "globex"):
            admin.create_client(store, name)
        self.admin = admin.create_token(store, admin=True)[1]
        self.agent = admin.create_token(store, client="acme")[1]
        self.alertmanager = admin.create_token(store, alertmanager=True)[1]


@pytest.fixture
def tokens(runtime: Runtime) -> Tokens:
    return Tokens(runtime)


#: (router, method, path, JSON body, the admin's status): one admin route of each router.
ADMIN_ROUTES: list[tuple[APIRouter, str, str, Any, int]] = [
    (rules_api.router, "GET", "/api/v1/rules/status", None, 200),
    (rules_api.router, "GET", "/api/v1/alerts?client=acme", None, 200),
    (incidents_api.router, "GET", "/api/v1/incidents?client=acme", None, 200),
    (
        incidents_api.router,
        "POST",
        "/api/v1/incidents",
        {"client": "acme", "title": "printer jams"},
        201,
    ),
    (sla_api.router, "GET", "/api/v1/sla/compliance?client=acme&period=2026-10", None, 404),
    (contracts_api.router, "GET", "/api/v1/contracts", None, 200),
    (contracts_api.router, "GET", "/api/v1/contracts/acme", None, 404),
    (preventive_api.router, "GET", "/api/v1/clients/acme/preventive/tasks", None, 200),
    (ledger_api.router, "GET", "/api/v1/requests?client=acme", None, 200),
    (ledger_api.router, "GET", "/api/v1/clients/acme/ledger", None, 404),  # no contract
    (reports_api.router, "GET", "/api/v1/reports?client=acme", None, 200),
    (maintenance_api.router, "GET", "/api/v1/maintenance?client=acme", None, 200),
    (outbox_api.router, "GET", "/api/v1/outbox", None, 200),
    (management_api.router, "GET", "/api/v1/management/open-incidents", None, 200),
    (oncall_api.router, "GET", "/api/v1/oncall/who", None, 200),
    (oncall_api.router, "GET", "/api/v1/oncall/overrides", None, 200),
]


@pytest.mark.parametrize(
    ("router", "method", "path", "body", "status"),
    ADMIN_ROUTES,
    ids=[f"{m} {p}" for _, m, p, _, _ in ADMIN_ROUTES],
)
def test_each_admin_router_alone_answers_admins_and_refuses_client_tokens(
    tokens: Tokens,
    client_for: Any,
    router: APIRouter,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    http = client_for(router)

    def call(headers: dict[str, str]) -> Any:
        return http.request(method, path, json=body, headers=headers)

    as_admin = call(bearer(tokens.admin))
    as_client = call(bearer(tokens.agent))
    as_receiver = call(bearer(tokens.alertmanager))
    anonymous = call({})

    assert as_admin.status_code == status, as_admin.text
    # A client's token (acme's agent) sees nothing of any client, acme's own included.
    assert as_client.status_code == 403 and as_client.json()["error"] == "forbidden"
    assert as_receiver.status_code == 403
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"


def test_rules_router_alone_reports_the_runtimes_rules(
    runtime: Runtime, tokens: Tokens, client_for: Any
) -> None:
    runtime.rules.reload()  # the shipped packs
    http = client_for(rules_api.router)
    status = http.get("/api/v1/rules/status", headers=bearer(tokens.admin)).json()
    assert status["last_reload_success"] is True
    assert status["rules"] == runtime.rules.status().rules > 0
    # Only this router: the incidents API is not mounted here.
    assert http.get("/api/v1/incidents", headers=bearer(tokens.admin)).status_code == 404


def test_incidents_router_alone_reports_lists_and_acts_per_client(
    runtime: Runtime, tokens: Tokens, client_for: Any
) -> None:
    http = client_for(incidents_api.router)
    auth_admin = bearer(tokens.admin)
    made = http.post(
        "/api/v1/incidents", json={"client": "acme", "title": "printer jams"}, headers=auth_admin
    )
    other = http.post(
        "/api/v1/incidents", json={"client": "globex", "title": "vpn down"}, headers=auth_admin
    )
    assert made.status_code == 201 and other.status_code == 201
    key = made.json()["key"]

    acme = http.get("/api/v1/incidents", params={"client": "acme"}, headers=auth_admin).json()
    assert [i["key"] for i in acme] == [key]  # one client's filter shows that client only
    done = http.post(f"/api/v1/incidents/{key}/resolve", json={"note": "fixed"}, headers=auth_admin)
    assert done.status_code == 200 and done.json() == {"key": key, "event": "resolved"}
    assert runtime.incident_service.get(key)["state"] == "resolved"
    unknown = http.post(
        "/api/v1/incidents", json={"client": "initech", "title": "x"}, headers=auth_admin
    )
    assert unknown.status_code == 404
    bad = http.post(f"/api/v1/incidents/{key}/charge", json={"reason": "r"}, headers=auth_admin)
    assert bad.status_code == 400
    assert bad.json()["detail"] == "give mode (free or charged) or points, not both"


def test_sla_and_contracts_routers_alone_name_the_missing_contract(
    tokens: Tokens, client_for: Any
) -> None:
    sla = client_for(sla_api.router).get(
        "/api/v1/sla/compliance",
        params={"client": "acme", "period": "2026-10"},
        headers=bearer(tokens.admin),
    )
    contract = client_for(contracts_api.router).get(
        "/api/v1/contracts/acme", headers=bearer(tokens.admin)
    )
    assert sla.status_code == 404 and "acme" in sla.json()["detail"]
    assert contract.status_code == 404
    assert contract.json()["detail"] == "client 'acme' has no contract"


def test_preventive_and_ledger_routers_alone_read_the_clients_store(
    runtime: Runtime, tokens: Tokens, client_for: Any
) -> None:
    from tests.collector.ledger.ledgerkit import give_contract

    preventive = client_for(preventive_api.router)
    no_contract = preventive.get(
        "/api/v1/clients/acme/preventive/tasks", headers=bearer(tokens.admin)
    )
    missing = preventive.get(
        "/api/v1/clients/initech/preventive/tasks", headers=bearer(tokens.admin)
    )
    assert no_contract.status_code == 200 and no_contract.json() == []
    assert missing.status_code == 404

    give_contract(runtime.store, "acme")
    give_contract(runtime.store, "globex")
    ledger = client_for(ledger_api.router)

    def balance(client: str) -> int:
        answer = ledger.get(f"/api/v1/clients/{client}/ledger", headers=bearer(tokens.admin))
        assert answer.status_code == 200, answer.text
        return int(answer.json()["closing_balance"])

    acme, globex = balance("acme"), balance("globex")
    topup = ledger.post(
        "/api/v1/clients/acme/ledger/topups",
        json={"points": "10", "by": "anna", "reason": "prepaid"},
        headers=bearer(tokens.admin),
    )
    assert topup.status_code == 201, topup.text
    assert topup.json()["closing_balance"] == acme + 1000 == balance("acme")  # centipoints
    assert balance("globex") == globex  # acme's top-up is not globex's


def test_ledger_router_alone_serves_the_clients_link_page_without_a_token(
    client_for: Any,
) -> None:
    page = client_for(ledger_api.router).get("/approve", params={"token": "forged"})
    assert page.status_code == 400 and "Link not valid" in page.text


def test_reports_router_alone_lists_one_clients_reports(tokens: Tokens, client_for: Any) -> None:
    http = client_for(reports_api.router)
    listed = http.get("/api/v1/reports", params={"client": "acme"}, headers=bearer(tokens.admin))
    gone = http.get("/api/v1/reports/99/download", headers=bearer(tokens.admin))
    assert listed.status_code == 200 and listed.json() == []
    assert gone.status_code == 404


def test_maintenance_router_alone_adds_lists_and_deletes_a_window(
    tokens: Tokens, client_for: Any
) -> None:
    http = client_for(maintenance_api.router)
    start = NOW_DT + timedelta(days=1)
    window = {
        "name": "patch night",
        "client": "acme",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
    }
    added = http.post("/api/v1/maintenance", json=window, headers=bearer(tokens.admin))
    assert added.status_code == 201, added.text
    acme = http.get(
        "/api/v1/maintenance", params={"client": "acme"}, headers=bearer(tokens.admin)
    ).json()
    globex = http.get(
        "/api/v1/maintenance", params={"client": "globex"}, headers=bearer(tokens.admin)
    ).json()
    assert [w["window"]["name"] for w in acme if w["source"] != "file"] == ["patch night"]
    assert [w for w in globex if w["window"]["client"] == "acme"] == []
    deleted = http.delete(f"/api/v1/maintenance/{added.json()['id']}", headers=bearer(tokens.admin))
    assert deleted.status_code == 204


def test_outbox_router_alone_names_a_missing_row(tokens: Tokens, client_for: Any) -> None:
    http = client_for(outbox_api.router)
    missing = http.post("/api/v1/outbox/99/retry", headers=bearer(tokens.admin))
    everything = http.post("/api/v1/outbox/retry", headers=bearer(tokens.admin))
    assert missing.status_code == 404 and missing.json()["detail"] == "no outbox row 99"
    assert everything.status_code == 200 and everything.json() == {"retried": []}


def test_management_router_alone_counts_open_incidents_at_the_overridden_now(
    runtime: Runtime, tokens: Tokens
) -> None:
    from collector.management.deps import current_time

    runtime.incident_service.report(client="acme", title="printer jams", actor="anna")
    app = bare_app(runtime, management_api.router)
    # "now" is a dependency: a day later, the incident is a day old.
    app.dependency_overrides[current_time] = lambda: timeutil.now() + 86400
    with TestClient(app) as http:
        view = http.get("/api/v1/management/open-incidents", headers=bearer(tokens.admin))
        bad = http.get(
            "/api/v1/management/created-resolved",
            params={"tz": "No/Where"},
            headers=bearer(tokens.admin),
        )
    assert view.status_code == 200, view.text
    assert view.json()["total"] == 1 and view.json()["totals"]["1-3d"] == 1
    assert bad.status_code in (400, 422) and "tz" in bad.text


def test_alertmanager_router_alone_applies_alerts_of_known_clients(
    runtime: Runtime, tokens: Tokens, client_for: Any
) -> None:
    http = client_for(alertmanager.router)
    payload = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "upkeep",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "client": client, "instance": "srv1"},
                "annotations": {"summary": "Disk almost full"},
                "startsAt": NOW_DT.isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": f"fp-{client}",
            }
            for client in ("acme", "initech")
        ],
    }
    before = runtime.metrics.alertmanager_unknown._value.get()
    accepted = http.post(alertmanager.PATH, json=payload, headers=bearer(tokens.alertmanager))
    as_client = http.post(alertmanager.PATH, json=payload, headers=bearer(tokens.agent))

    assert accepted.status_code == 200, accepted.text
    assert [u["client"] for u in accepted.json()["unknown"]] == ["initech"]
    assert runtime.metrics.alertmanager_unknown._value.get() == before + 1
    assert [i["client"] for i in runtime.incident_service.list(client="acme")] == ["acme"]
    assert as_client.status_code == 403  # an agent token may not feed alerts


def test_oncall_router_alone_refuses_a_forged_page_link(client_for: Any) -> None:
    page = client_for(oncall_api.router).get("/oncall/page", params={"token": "forged"})
    assert page.status_code == 400 and "not valid" in page.text


# ---------------------------------------------------------------------- management pages


def session_cookie(runtime: Runtime, username: str, role: str, client: str | None = None) -> str:
    now = timeutil.now()
    with runtime.store.write() as conn:
        user_id = auth.create_user(
            conn, username, "correct horse battery", role=role, client=client, now=now
        )
        cookie, _ = auth.create_session(conn, user_id, now=now, max_age=3600)
    return cookie


def test_management_pages_router_alone_is_for_staff_only(runtime: Runtime, tokens: Tokens) -> None:
    runtime.incident_service.report(client="acme", title="printer jams", actor="anna")
    tech = session_cookie(runtime, "tech", "technician")
    viewer = session_cookie(runtime, "viewer", "client_viewer", client="acme")
    app: FastAPI = bare_app(runtime, management_pages.router)
    with TestClient(app, follow_redirects=False) as http:
        http.cookies.set(web_routes.SESSION_COOKIE, tech)
        page = http.get("/ui/management/open-incidents")
        http.cookies.set(web_routes.SESSION_COOKIE, viewer)
        refused = http.get("/ui/management/open-incidents")
        overview = http.get("/ui/management")
        http.cookies.clear()
        anonymous = http.get("/ui/management/open-incidents", headers=bearer(tokens.admin))

    assert page.status_code == 200, page.text
    # The runtime's store, rendered in the web UI's layout (its renderer is the default).
    assert "1 incidents not resolved as of" in page.text and "Log out" in page.text
    # A client viewer (even acme's, whose incident it is) sees no management page.
    assert refused.status_code == 403 and overview.status_code == 403
    assert refused.json()["detail"] == "only the service company's staff may do this"
    # An API token is no page login (the web UI's error pages are not on this bare app).
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "login_required"
