"""Tenant isolation and access control of EVERY web UI route, enumerated from the app.

A route added to the web router is covered automatically: its path parameters are filled
with the other client's identifiers (a parameter without a value here fails the test, so a
new kind of parameter cannot slip through), GET pages must answer 403/404 or leave out
every row of the other client, and POST forms must answer 403/404 and change nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from collector.schema import metadata, series
from tests.web.kit import World

#: Routes every visitor may reach (the login form, the stylesheet).
PUBLIC = {("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/static")}
#: Forms whose subject is the user's own session: they succeed for anyone logged in.
OWN_SESSION = {("POST", "/ui/logout")}
#: Admin-only pages: every parameter value is refused alike (403) before anything is looked up,
#: so a 403 there is no existence oracle.
ADMIN_ONLY_PREFIX = "/ui/onboarding"
#: Form fields a POST route needs so that only access control can refuse it.
FORM_FIELDS: dict[str, dict[str, str]] = {
    "/ui/incidents/{key}/{action}": {"body": "x", "minutes": "5", "cause": "wear", "note": "n"},
    "/ui/reports/generate": {"period": "2026-10", "format": "html"},
    "/ui/requests/{key}/{decision}": {"note": "ok"},
    "/ui/users": {"username": "intruder", "password": "long enough password", "role": "admin"},
}


def web_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route under /ui, however FastAPI nests included routers."""

    def walk(routes: Any) -> Any:
        for route in routes:
            if hasattr(
                route, "effective_candidates"
            ):  # FastAPI >= 0.16x keeps included routers nested
                yield from walk(route.effective_candidates())
            elif (
                hasattr(route, "routes")
                and not hasattr(route, "app_name")
                and getattr(route, "path", "") == ""
            ):
                yield from walk(route.routes)
            else:
                yield route

    found = set()
    for route in walk(app.routes):
        path = getattr(route, "path", "") or ""
        if not (path == "/ui" or path.startswith("/ui/")):
            continue
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount (static files) answers GET
        found.update((m, path) for m in methods if m != "HEAD")
    return sorted(found)


def fill(path: str, world: World, *, other: bool = True) -> str:
    """The concrete URL of ``path`` for the other client's (B's) objects, or the own (A's)."""
    t = world.b if other else world.a
    values = {
        "name": t.name,
        "asset_id": str(t.asset_id),
        "report_id": str(t.report_id),
        "action": "acknowledge",
        "decision": "approve",
        "change": "disable",
        "row_id": "1",
        "token_id": "1",
        "key": t.request if path.startswith("/ui/requests/") else t.incident,
    }
    if path.startswith("/ui/users/"):
        values["name"] = "viewer-b" if other else "viewer-a"
    if "{series_id}" in path:  # the series of the tenant's asset (chart data)
        with world.store.read() as conn:
            values["series_id"] = str(
                conn.execute(
                    sa.select(series.c.id).where(series.c.asset_id == t.asset_id)
                ).scalar_one()
            )

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, (
            f"route {path}: no test value for path parameter {{{name}}}; add one in fill()"
        )
        return values[name]

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", one, path)


def snapshot(world: World) -> dict[str, Any]:
    with world.store.read() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in metadata.sorted_tables
            if t.name not in ("web_sessions", "users")
        }


def test_the_web_router_is_enumerated(world: World) -> None:
    routes = web_routes(world.app)
    assert ("GET", "/ui/incidents/{key}") in routes and (
        "POST",
        "/ui/requests/{key}/{decision}",
    ) in routes
    assert len(routes) >= 20


def test_anonymous_visitors_are_sent_to_the_login_page(world: World, browser: Any) -> None:
    from fastapi.testclient import TestClient

    http = TestClient(world.app, follow_redirects=False)
    for method, path in web_routes(world.app):
        if (method, path) in PUBLIC:
            continue
        url = fill(path, world)
        response = http.request(method, url, data={"csrf_token": "x"} if method == "POST" else None)
        assert response.status_code == 303, (method, url, response.status_code)
        assert response.headers["location"].startswith("/ui/login"), (method, url)
    page = http.get("/ui/incidents?state=open")
    assert page.headers["location"] == "/ui/login?next=%2Fui%2Fincidents%3Fstate%3Dopen"


@pytest.mark.parametrize("viewer", ["viewer-a", "viewer-b"])
def test_a_client_viewer_never_sees_or_touches_another_clients_data(
    world: World, browser: Any, viewer: str
) -> None:
    if viewer == "viewer-b":  # the same checks the other way round
        world.a, world.b = world.b, world.a
    me = browser(viewer)
    other = world.b
    other_marks = [other.name, other.marker, other.incident, other.request, other.asset]
    before = snapshot(world)
    checked = 0
    for method, path in web_routes(world.app):
        if (method, path) in PUBLIC or (method, path) in OWN_SESSION:
            continue
        url = fill(path, world)
        if method == "GET":
            response = me.get(url)
            if path.startswith(ADMIN_ONLY_PREFIX):
                assert response.status_code == 403, (url, response.status_code)
            elif "{" in path:
                # 404, the same answer as for an id that does not exist: no existence oracle.
                assert response.status_code == 404, (url, response.status_code)
            else:
                assert response.status_code in (200, 403), (url, response.status_code)
            for mark in other_marks:
                if mark not in url:  # an error page may repeat what was asked for, nothing more
                    assert mark not in response.text, (url, mark)
        else:
            form = {**FORM_FIELDS.get(path, {}), "client": other.name}
            response = me.post(url, form)
            assert response.status_code in (403, 404), (
                method,
                url,
                response.status_code,
                response.text[:300],
            )
        checked += 1
    assert checked >= 15
    assert snapshot(world) == before  # nothing of anyone changed


@pytest.mark.parametrize("viewer", ["viewer-a"])
def test_a_client_viewer_sees_their_own_client(world: World, browser: Any, viewer: str) -> None:
    me = browser(viewer)
    own = world.a
    for url in (
        "/ui/",
        "/ui/incidents",
        f"/ui/incidents/{own.incident}",
        f"/ui/clients/{own.name}",
        f"/ui/assets/{own.asset_id}",
        "/ui/reports",
        f"/ui/reports/{own.report_id}/download",
        "/ui/requests",
    ):
        response = me.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert own.incident in me.get("/ui/incidents").text
    assert own.request in me.get("/ui/requests").text
    assert (
        "<strong>997.50</strong> points left" in me.get("/ui/").text
    )  # 1000.00 allotted - 2.50 charged
    # Staff pages stay closed to them.
    assert me.get("/ui/rules").status_code == 403
    assert me.get("/ui/users").status_code == 403
    assert me.get("/ui/clients").status_code == 200  # lists only their own client
    assert world.b.name not in me.get("/ui/clients").text


def test_every_form_refuses_a_missing_or_wrong_csrf_token(world: World, browser: Any) -> None:
    admin = browser("root")
    before = snapshot(world)
    for method, path in web_routes(world.app):
        if method != "POST" or (method, path) in PUBLIC:
            continue
        url = fill(path, world, other=False)
        form = {**FORM_FIELDS.get(path, {}), "client": world.a.name}
        for token in (None, "", "forged-" + admin.csrf[7:]):
            data = dict(form) if token is None else {**form, "csrf_token": token}
            response = admin.post(url, data, csrf=False)
            assert response.status_code == 403, (url, token, response.status_code)
    assert snapshot(world) == before
    assert admin.get("/ui/").status_code == 200  # the session survived (logout refused too)


def test_staff_only_and_admin_only_pages(world: World, browser: Any) -> None:
    tech = browser("tech")
    assert tech.get("/ui/rules").status_code == 200
    assert tech.get("/ui/users").status_code == 403
    assert tech.post("/ui/users", FORM_FIELDS["/ui/users"]).status_code == 403
    assert tech.post("/ui/rules/reload").status_code == 403
    assert tech.post(f"/ui/users/{'viewer-a'}/disable").status_code == 403
    # Staff see every client's rows.
    page = tech.get("/ui/incidents").text
    assert world.a.incident in page and world.b.incident in page
    # Estimates are the client's to approve.
    assert tech.post(f"/ui/requests/{world.a.request}/approve").status_code == 403
