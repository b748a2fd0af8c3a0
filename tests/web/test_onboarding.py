"""The onboarding router (collector/web/onboarding.py) mounted alone on a bare app, on SQLite
and PostgreSQL: an admin creates a client, an agent token shown once with install commands
(that authenticate as the client's agent), revokes it, validates and applies a contract with
problems at file:line:col, and tests a connector (the exact error when it cannot connect).
Staff and client viewers are refused every route; the connector test against the real
Redmine is in tests/web/test_connector_probe.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collector import admin
from collector.errors import Unauthenticated
from collector.schema import contracts, tokens
from collector.web import onboarding
from tests.web.bare import Session, anonymous, bare_app
from tests.web.kit import World

SAMPLE = (
    Path(__file__).resolve().parents[2] / "collector/contracts/sample-contract.yaml"
).read_text()


@pytest.fixture
def app(world: World) -> Any:
    return bare_app(world, onboarding.router)


def test_client_token_and_install_commands(world: World, app: Any) -> None:
    root = Session(app, world.store, "root")
    answer = root.post("/ui/onboarding/clients", {"name": "initech"})
    assert (
        answer.status_code == 303 and answer.headers["location"] == "/ui/onboarding/clients/initech"
    )
    again = root.post("/ui/onboarding/clients", {"name": "initech"})
    assert again.status_code == 409 and "initech" in again.text and 'value="initech"' in again.text
    page = root.post(
        "/ui/onboarding/clients/initech/tokens", {"label": "file server", "site": "office-a"}
    )
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    token = re.search(r'<code class="secret" id="token-value">([^<]+)</code>', page.text).group(1)
    # The commands fetch the scripts the collector serves and carry the token and the site.
    assert (
        "curl -fsSL http://testserver/install/agent.sh | "
        f"sudo UPKEEP_AGENT_TOKEN={token} sh -s -- --site office-a"
    ) in page.text
    assert (
        f"$env:UPKEEP_AGENT_TOKEN = &#39;{token}&#39;; "
        "irm &#39;http://testserver/install/agent.ps1&#39; | iex; "
        "Install-UpkeepAgent -Site &#39;office-a&#39;"
    ) in page.text
    with world.store.read() as conn:
        principal = admin.authenticate(conn, token, need="agent")
        assert principal.client_name == "initech"
        row = conn.execute(sa.select(tokens).where(tokens.c.name == "file server")).one()
    # Listed afterwards by prefix only; never again in full.
    listing = root.get("/ui/onboarding/clients/initech").text
    assert token not in listing and row.prefix in listing
    assert root.post(f"/ui/onboarding/clients/initech/tokens/{row.id}/revoke").status_code == 303
    with world.store.read() as conn, pytest.raises(Unauthenticated):
        admin.authenticate(conn, token, need="agent")
    # Another client's token id under this client's path: not found.
    _, other = admin.create_token(world.store, client="acme")
    acme_id = admin.list_tokens(world.store, "acme")[-1].id
    assert root.post(f"/ui/onboarding/clients/initech/tokens/{acme_id}/revoke").status_code == 404
    with world.store.read() as conn:
        assert admin.authenticate(conn, other, need="agent").client_name == "acme"


def test_contract_validate_and_apply(world: World, app: Any) -> None:
    root = Session(app, world.store, "root")
    bad = SAMPLE.replace("client: acme", "client: acme\nplann: {}", 1)
    answer = root.post("/ui/onboarding/clients/acme/contract", {"text": bad, "action": "apply"})
    assert answer.status_code == 400
    assert "contract.yaml:7: plann: unknown key; did you mean &#39;plan&#39;?" in answer.text
    assert bad.replace("'", "&#39;").splitlines()[5] in answer.text  # what was typed is kept
    wrong = SAMPLE.replace("client: acme", "client: globex", 1)
    answer = root.post("/ui/onboarding/clients/acme/contract", {"text": wrong})
    assert (
        answer.status_code == 400
        and "the contract of &#39;globex&#39;, not &#39;acme&#39;" in answer.text
    )
    answer = root.post(
        "/ui/onboarding/clients/acme/contract", {"text": SAMPLE, "action": "validate"}
    )
    assert answer.status_code == 200 and "The contract is valid (not applied yet)." in answer.text
    with world.store.read() as conn:
        assert (
            conn.execute(sa.select(contracts).where(contracts.c.client_id == world.a.id)).first()
            is None
        )
    answer = root.http.post(
        "/ui/onboarding/clients/acme/contract",
        data={"csrf_token": root.csrf, "action": "apply"},
        files={"file": ("acme-contract.yaml", SAMPLE.encode(), "text/yaml")},
    )
    assert answer.status_code == 200 and "Contract applied: version 1." in answer.text
    with world.store.read() as conn:
        row = conn.execute(sa.select(contracts).where(contracts.c.client_id == world.a.id)).one()
    assert row.source == "web"


def test_connector_test_names_the_exact_error(world: World, app: Any) -> None:
    root = Session(app, world.store, "root")
    page = root.get("/ui/onboarding/connectors").text
    assert "psa (webhook)" in page
    # The kit's webhook points at 127.0.0.1:9 (nothing listens): the exact error is shown.
    answer = root.post("/ui/onboarding/connectors/test", {"client": "acme", "connector": "psa"})
    assert answer.status_code == 502
    assert re.search(r'id="connector-exact-error">[^<]*(refused|Connect)', answer.text), (
        answer.text[-1500:]
    )
    answer = root.post(
        "/ui/onboarding/connectors/test",
        {"client": "acme", "definition": "type: redmine\nurl: x\n"},
    )
    assert answer.status_code == 400 and "definition: " in answer.text
    answer = root.post(
        "/ui/onboarding/connectors/test", {"client": "acme", "definition": "type: [\n"}
    )
    assert answer.status_code == 400 and "definition:2:1: not YAML" in answer.text
    answer = root.post("/ui/onboarding/connectors/test", {"client": "acme", "connector": "nope"})
    assert answer.status_code == 400 and "no configured connector named" in answer.text


ROUTES = [
    ("GET", "/ui/onboarding"),
    ("POST", "/ui/onboarding/clients"),
    ("GET", "/ui/onboarding/clients/acme"),
    ("POST", "/ui/onboarding/clients/acme/tokens"),
    ("POST", "/ui/onboarding/clients/acme/tokens/1/revoke"),
    ("POST", "/ui/onboarding/clients/acme/contract"),
    ("GET", "/ui/onboarding/connectors"),
    ("POST", "/ui/onboarding/connectors/test"),
]


def test_only_admins(world: World, app: Any) -> None:
    enumerated = {
        (m, r.path)
        for r in onboarding.router.routes
        for m in getattr(r, "methods", ())
        if m != "HEAD"
    }
    assert len(enumerated) == len(ROUTES)  # every route of the router is checked below
    before = admin.list_tokens(world.store)
    for user in ("tech", "viewer-a"):
        session = Session(app, world.store, user)
        for method, url in ROUTES:
            answer = (
                session.get(url)
                if method == "GET"
                else session.post(url, {"name": "x", "client": "acme"})
            )
            assert answer.status_code == 403, (user, method, url, answer.status_code)
    for method, url in ROUTES:
        assert anonymous(app).request(method, url).status_code == 401
    assert admin.list_tokens(world.store) == before
    with world.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contracts)).scalar_one() == 0
