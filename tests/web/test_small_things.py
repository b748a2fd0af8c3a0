"""Issue 17's small things on the real app (SQLite and PostgreSQL): ``GET /`` leads to the UI,
the Users form starts at the least-privileged role, the management pages use the shared layout,
and the dashboard's "agents silent" is the shipped agent-silent rule's definition."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from collector.rules.model import Rule
from collector.schema import agents, users
from collector.settings import Settings
from collector.web import auth
from collector.web.routes import STATIC_DIR
from tests.web.kit import World

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_the_bare_address_redirects_to_the_ui_and_is_no_api_operation(world: World) -> None:
    http = TestClient(world.app, follow_redirects=False)
    answer = http.get("/")
    assert answer.status_code == 307 and answer.headers["location"] == "/ui/"
    # Followed, it ends on the login page (no session), not on a 404.
    assert TestClient(world.app).get("/").url.path == "/ui/login"
    assert "/" not in world.app.openapi()["paths"]


def _add_form(page: str) -> str:
    return page[page.index("<h2>Add a user</h2>") :]


def test_the_users_form_defaults_to_client_viewer_and_wants_its_client(
    world: World, browser: Any
) -> None:
    root = browser("root")
    form = _add_form(root.get("/ui/users").text)
    selected = re.findall(r'<option value="(\w+)" selected>', form)
    assert selected == ["client_viewer"] == [auth.LEAST_PRIVILEGED_ROLE]
    assert "required for a client viewer" in form

    # A viewer without a client: refused on the form, naming the field, typed values kept.
    answer = root.post(
        "/ui/users",
        {"username": "newbie", "password": "long enough password", "role": "client_viewer"},
    )
    assert answer.status_code == 400
    assert "Client: a client viewer sees one client&#39;s pages; choose that client" in answer.text
    assert 'value="newbie"' in answer.text and "long enough password" not in answer.text
    with world.store.read() as conn:
        assert conn.execute(sa.select(users).where(users.c.username == "newbie")).first() is None

    # Without a role field at all the user is a client viewer, never more.
    answer = root.post(
        "/ui/users",
        {"username": "newbie", "password": "long enough password", "client": "acme"},
    )
    assert answer.status_code == 303
    with world.store.read() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == "newbie")).one()
    assert row.role == "client_viewer"

    # Staff with a client: refused clearly too.
    answer = root.post(
        "/ui/users",
        {
            "username": "t2",
            "password": "long enough password",
            "role": "technician",
            "client": "acme",
        },
    )
    assert answer.status_code == 400 and "leave Client empty" in answer.text


def test_management_pages_use_the_shared_layout(world: World, browser: Any) -> None:
    tech = browser("tech")
    css = (STATIC_DIR / "web.css").read_text()
    for path in ("/ui/management", "/ui/management/sla", "/ui/management/top-problems"):
        page = tech.get(path)
        assert page.status_code == 200, path
        html = page.text
        assert '<link rel="stylesheet" href="/ui/static/web.css">' in html
        assert '<nav aria-label="Main">' in html and "Log out" in html
        sub = html[
            html.index('<nav class="subnav"') : html.index("</nav>", html.index('class="subnav"'))
        ]
        assert "<ul" not in sub and "<li" not in sub and 'aria-current="page"' in sub
        assert '<form method="get" class="filters' in html
    # ... and the stylesheet styles both (tabs; fields of a filter row keep their width).
    assert "nav.subnav a[aria-current" in css
    assert "form.filters input" in css


def _silent_rule() -> Rule:
    doc = yaml.safe_load((RULES / "agents.yaml").read_text())
    rule = next(r for r in doc["rules"] if r["id"] == "agent-silent")
    return Rule.model_validate(rule)


def _agent(world: World, hostname: str, silent_for: float) -> None:
    # Now, not kit.NOW (import time): in a long run that is minutes ago already.
    now = time.time()
    with world.store.write() as conn:
        site_id = conn.execute(
            sa.select(agents.c.site_id).where(agents.c.client_id == world.a.id)
        ).scalar()
        conn.execute(
            agents.insert().values(
                id=str(uuid.uuid4()),
                client_id=world.a.id,
                site_id=site_id,
                hostname=hostname,
                version="0.1.0",
                os="linux",
                first_seen=now - 86400,
                last_seen=now - silent_for,
                last_seq=1,
            )
        )


def test_silent_means_what_the_shipped_rule_means(world: World, browser: Any) -> None:
    rule = _silent_rule()
    assert rule.absent is not None and rule.absent.for_ == 300  # "has not reported for 5 minutes"
    # The fallback (rules not loaded) is the same number.
    assert Settings.model_fields["web_agent_silent_after"].default == rule.absent.for_
    service = world.app.state.rules
    service.reload(initial=True)  # the shipped rules, as the server loads them at start
    assert service.silent_after() == rule.absent.for_
    _agent(world, "quiet-6min", 6 * 60)  # the rule has opened its incident: listed
    _agent(world, "busy-4min", 4 * 60)  # not yet silent for the rule: not listed
    page = browser("tech").get("/ui/").text
    silent = page[page.index("<h2>Agents silent</h2>") :]
    assert "quiet-6min" in silent and "busy-4min" not in silent
    assert "Nothing received for 5 min" in silent


def test_silent_follows_the_loaded_rule(world: World, browser: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "silent.yaml").write_text(
        "rules:\n  - id: agent-silent\n    metric: any\n    absent: {for: 20m}\n"
        '    summary: "{asset} has not reported for 20 minutes"\n'
    )
    service = world.app.state.rules
    service.paths = [rules]
    service.reload()
    assert service.silent_after() == 1200
    _agent(world, "quiet-10min", 10 * 60)
    page = browser("tech").get("/ui/").text
    silent = page[page.index("<h2>Agents silent</h2>") :]
    assert "quiet-10min" not in silent and "Nothing received for 20 min" in silent
