"""The management pages rendered through a stub ``base.html``: the numbers of the hand-built
October appear, staff only, forms validated, charts drawn as inline SVG without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import jinja2
import markupsafe
import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from fastapi.testclient import TestClient

from collector import admin
from collector.api import create_app
from collector.errors import InvalidArgument, Unauthenticated
from collector.management import TEMPLATES_DIR
from collector.management import pages as management_pages
from collector.management.catalog import VIEWS
from collector.management.deps import current_time
from collector.management.pages import Formatter, ensure_loader, form_query, page_renderer
from collector.settings import Settings
from collector.store import Store
from collector.web import routes as web_routes
from tests.collector.management.scenario import NOW, at

BASE = """<!doctype html>
<html><head><title>{% block title %}{% endblock %} · Upkeep</title></head>
<body><header>signed in as {{ user.username }} <input type="hidden" name="csrf" value="{{ csrf_token }}"></header>
<main>{% block content %}{% endblock %}</main></body></html>"""
OCTOBER = {"since": "2026-10-01", "until": "2026-10-31", "tz": "UTC"}


def require_staff(request: Request) -> dict[str, str]:
    """The stub of the web UI's dependency: the user named by a test header (no session here)."""
    role = request.headers.get("x-test-role")
    if role is None:
        raise Unauthenticated("sign in first")
    return {"username": f"{role}-user", "role": role}


def stub_renderer() -> Any:
    """The stub of the web UI's renderer: the stub layout, the header's user, a fixed token."""
    env = templates().env

    def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200):
        role = request.headers.get("x-test-role")
        user = {"username": f"{role}-user", "role": role}
        full = {**context, "user": user, "csrf_token": "tok-123", "request": request}
        return HTMLResponse(env.get_template(name).render(full), status_code=status_code)

    return render


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.DictLoader({"base.html": BASE}), jinja2.FileSystemLoader(str(TEMPLATES_DIR))]
        ),
        autoescape=True,
    )
    return Jinja2Templates(env=env)


@pytest.fixture
def ui(store: Store, scenario, tmp_path) -> Iterator[TestClient]:
    # One rotation, so the on-call page has nights to draw (they come from the schedule).
    (tmp_path / "oncall").mkdir()
    (tmp_path / "oncall" / "ops.yaml").write_text(
        "channels: {chat: {type: slack, url: 'http://127.0.0.1:9/x'}}\n"
        "people: {anna: {name: Anna, contacts: [{channel: chat}]}}\n"
        "rotations: {primary: {start: 2026-09-07, people: [anna]}}\n"
    )
    settings = Settings.for_data_dir(
        tmp_path / "data",
        database_url=store.engine.url.render_as_string(hide_password=False),
        oncall_paths=[tmp_path / "oncall"],
        # The pages read the seeded scenario: no outbox worker or job may change it meanwhile.
        background=False,
    )
    app = create_app(settings, store=store, migrate=False, run_retention=False)
    # The module-level router's dependencies, overridden the FastAPI way: the stub user (a
    # test header, no session), the stub layout and a fixed "now".
    app.dependency_overrides[web_routes.staff_user] = require_staff
    app.dependency_overrides[page_renderer] = stub_renderer
    app.dependency_overrides[current_time] = lambda: NOW
    with TestClient(app) as client:
        client.headers["x-test-role"] = "admin"
        yield client


class Checker(HTMLParser):
    """Collects tags; fails on unbalanced SVG/table markup and on any script."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag in ("svg", "table", "tr", "figure", "form", "rect", "text"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("svg", "table", "tr", "figure", "form", "rect", "text"):
            assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
            self.stack.pop()


def parsed(html: str) -> Checker:
    checker = Checker()
    checker.feed(html)
    assert checker.stack == [] and "script" not in checker.tags
    return checker


def text(html: str) -> str:
    """The page's text, tags stripped, whitespace squeezed."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def cells(html: str) -> list[str]:
    """The text of every table cell, tags stripped, whitespace squeezed."""
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in found]


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_page_renders_in_the_base_layout_with_a_chart(ui, name):
    response = ui.get(f"/ui/management/{name}", params=OCTOBER)
    assert response.status_code == 200, response.text
    html = response.text
    assert f"<title>{markupsafe.escape(VIEWS[name].title)} · Upkeep</title>" in html
    assert "signed in as admin-user" in html and 'value="tok-123"' in html
    checker = parsed(html)
    assert "svg" in checker.tags and "rect" in checker.tags and "table" in checker.tags


def test_oncall_page_counts_the_nights(ui):
    html = ui.get("/ui/management/oncall", params=OCTOBER).text
    row = cells(html)
    assert row[row.index("Anna") : row.index("Anna") + 3] == ["Anna", "primary", "31"]


def test_created_vs_resolved_page_numbers(ui):
    html = ui.get("/ui/management/created-resolved", params={**OCTOBER, "bucket": "week"}).text
    assert "7 created, 4 resolved (UTC, per week)" in html
    row = cells(html)
    assert row[row.index("2026-10-19") : row.index("2026-10-19") + 4] == [
        "2026-10-19",
        "3",
        "0",
        "3",
    ]
    assert "<rect" in html and 'aria-label="Incidents created and resolved"' in html


def test_open_incidents_page(ui):
    html = ui.get("/ui/management/open-incidents").text
    assert "5 incidents not resolved as of 2026-10-20 12:00" in html
    c = cells(html)
    assert c[c.index("critical") : c.index("critical") + 7] == [
        "critical",
        "0",
        "0",
        "0",
        "1",
        "0",
        "1",
    ]


def test_sla_page(ui):
    html = ui.get("/ui/management/sla", params=OCTOBER).text
    assert "Response met 60.0 %, resolution met 40.0 %" in text(html)
    c = cells(html)
    i = c.index("All clients")
    assert c[i : i + 11] == [
        "All clients",
        "",
        "7",
        "3",
        "2",
        "1",
        "60.0 %",
        "2",
        "3",
        "1",
        "40.0 %",
    ]


def test_technicians_page(ui):
    c = cells(ui.get("/ui/management/technicians", params=OCTOBER).text)
    i = c.index("alice")
    assert c[i : i + 9] == [
        "alice",
        "3 h 00 min",
        "2 h 00 min",
        "5 h 00 min",
        "4",
        "3",
        "1",
        "2",
        "1",
    ]
    assert "upkeep (automatic)" in c


def test_top_problems_page(ui):
    c = cells(ui.get("/ui/management/top-problems", params={**OCTOBER, "limit": "2"}).text)
    i = c.index("srv1")
    assert c[i - 1 : i + 3] == ["acme", "srv1", "3", "1 h 45 min"]
    assert "printer1" not in c  # the third asset, beyond limit=2


def test_time_vs_fee_page_flags_the_loss(ui):
    html = ui.get("/ui/management/time-vs-fee", params={**OCTOBER, "hourly_cost": "60"}).text
    assert "At a loss: acme." in html
    c = cells(html)
    i = c.index("acme")
    assert c[i : i + 9] == [
        "acme",
        "Basic",
        "1 h 45 min",
        "105.00 EUR",
        "100.00 EUR",
        "1.0000",
        "100.00 EUR",
        "-5.00 EUR",
        "loss",
    ]
    assert c[c.index("initech") + 1] == "no contract"
    assert (
        "No client costs more than it pays."
        in ui.get("/ui/management/time-vs-fee", params={**OCTOBER, "hourly_cost": "50"}).text
    )


def test_points_page(ui):
    html = ui.get("/ui/management/points", params=OCTOBER).text
    assert "14.50 points charged in the range." in html and "Overdrawn: acme." in html
    assert "balance at the end: -0.50 (overdraft 0.50)" in text(html)


def test_connectors_page(ui):
    c = cells(ui.get("/ui/management/connectors", params=OCTOBER).text)
    i = c.index("jira")
    assert c[i : i + 8] == ["jira", "2", "0", "1", "1", "2 h 00 min", "12", "HTTP 400: bad field"]
    assert "SMTP 550 mailbox unavailable" in c


def test_overview_page(ui):
    html = ui.get("/ui/management/", params=OCTOBER).text
    parsed(html)
    assert re.search(r'id="open-total">5<', html) and re.search(r'id="loss-count">1<', html)
    assert re.search(r'id="overdrawn-count">1<', html) and re.search(
        r'id="deliveries">4 / 2<', html
    )
    assert all(f'href="/ui/management/{name}"' in html for name in VIEWS)


def test_only_staff_may_see_the_pages(ui):
    assert ui.get("/ui/management/sla", headers={"x-test-role": "technician"}).status_code == 200
    assert ui.get("/ui/management/sla", headers={"x-test-role": "client_viewer"}).status_code == 403
    assert ui.get("/ui/management/", headers={"x-test-role": "client_viewer"}).status_code == 403
    anonymous = TestClient(ui.app)
    assert anonymous.get("/ui/management/points").status_code == 401


def test_a_bad_form_shows_the_error_and_keeps_what_was_typed(ui):
    response = ui.get(
        "/ui/management/created-resolved", params={"tz": "Mars/Olympus", "since": "2026-10-01"}
    )
    assert response.status_code == 400
    assert "tz: unknown time zone &#39;Mars/Olympus&#39;" in response.text
    assert 'value="Mars/Olympus"' in response.text and "<rect" not in response.text


def test_names_are_escaped(ui, store):
    from collector.schema import clients

    with store.write() as conn:
        conn.execute(
            clients.insert().values(
                name="<b>evil</b>", enabled=True, created_at=at("2026-01-01 00:00")
            )
        )
    html = ui.get("/ui/management/time-vs-fee", params=OCTOBER).text
    assert "&lt;b&gt;evil&lt;/b&gt;" in html and "<b>evil</b>" not in html


def test_management_templates_are_added_to_a_loader_that_lacks_them():
    env = jinja2.Environment(loader=jinja2.DictLoader({"base.html": BASE}), autoescape=True)
    ensure_loader(env)
    assert env.get_template("management/sla.html") is not None
    assert env.get_template("base.html") is not None  # the web UI's own templates still come first


@pytest.mark.parametrize(
    ("params", "since", "until"),
    [
        ({}, NOW - 30 * 86400, NOW),
        (
            {"since": "2026-10-01", "until": "2026-10-31"},
            at("2026-10-01 00:00"),
            at("2026-11-01 00:00"),
        ),
        (
            {"since": "2026-10-01", "until": "2026-10-31", "tz": "Europe/Berlin"},
            at("2026-09-30 22:00"),
            at("2026-10-31 23:00"),
        ),
        (
            {"since": "2026-10-01T08:00", "until": "2026-10-01T17:30"},
            at("2026-10-01 08:00"),
            at("2026-10-01 17:30"),
        ),
    ],
)
def test_form_dates_are_local_and_until_is_inclusive(params, since, until):
    query, shown = form_query(params, NOW, Decimal(60))
    assert (query.span.since, query.span.until) == (since, until)
    if not params:
        assert (shown["since"], shown["until"]) == ("2026-09-20", "2026-10-20")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
        ({"until": "2026-13-01"}, "until:"),
        ({"bucket": "month"}, "bucket: day or week"),
        ({"limit": "many"}, "limit: a whole number"),
        ({"limit": "0"}, "limit: a whole number"),
        ({"hourly_cost": "NaN"}, "hourly_cost: between"),
        ({"hourly_cost": "abc"}, "hourly_cost: a number"),
        ({"tz": "x" * 65}, "tz: at most 64 characters"),
        ({"since": "2026-10-05", "until": "2026-10-01"}, "since must be before until"),
    ],
)
def test_form_errors_name_the_field(params, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        form_query(params, NOW, Decimal(60))


@pytest.mark.parametrize(
    ("minutes", "text"), [(0, "0 min"), (45, "45 min"), (60, "1 h 00 min"), (605, "10 h 05 min")]
)
def test_formatter_minutes(minutes, text):
    assert Formatter.minutes(minutes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (1800, "30 min"), (7200, "2 h 00 min"), (3 * 86400 + 3600, "3 d 1 h")],
)
def test_formatter_age(seconds, text):
    assert Formatter.age(seconds) == text


def test_admin_token_is_not_a_page_login(ui, store):
    """The pages trust only the web UI's dependency, never the API's bearer token."""
    token = admin.create_token(store, admin=True)[1]
    anonymous = TestClient(ui.app)
    assert (
        anonymous.get(
            "/ui/management/sla", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


def test_overview_answers_without_the_trailing_slash(ui):
    response = ui.get("/ui/management", follow_redirects=False)
    assert response.status_code == 200 and 'id="open-total"' in response.text


def test_a_renderer_of_the_web_ui_replaces_the_default(store, scenario, tmp_path):
    """The page renderer is a dependency: the web UI's by default, another one when an app
    overrides it; it gets the template name, the context and the status. The router is
    mounted alone on a bare app (no collector app around it)."""
    from fastapi import FastAPI

    from collector.api import build_runtime

    seen: list[tuple[str, int]] = []
    env = templates().env

    def render(request, name, context, *, status_code=200):
        seen.append((name, status_code))
        html = env.get_template(name).render(
            {**context, "user": {"username": "web"}, "csrf_token": "web-csrf"}
        )
        return HTMLResponse(html, status_code=status_code)

    settings = Settings.for_data_dir(
        tmp_path,
        database_url=store.engine.url.render_as_string(hide_password=False),
        background=False,
    )
    app = FastAPI()
    app.state.runtime = build_runtime(settings, store)
    app.include_router(management_pages.router)
    app.dependency_overrides[web_routes.staff_user] = require_staff
    app.dependency_overrides[page_renderer] = lambda: render
    app.dependency_overrides[current_time] = lambda: NOW
    with TestClient(app) as client:
        page = client.get(
            "/ui/management/points", params=OCTOBER, headers={"x-test-role": "technician"}
        )
        bad = client.get(
            "/ui/management/points", params={"since": "soon"}, headers={"x-test-role": "admin"}
        )
    assert (
        page.status_code == 200
        and 'value="web-csrf"' in page.text
        and "Overdrawn: acme." in page.text
    )
    assert bad.status_code == 400
    assert seen == [("management/points.html", 200), ("management/points.html", 400)]
