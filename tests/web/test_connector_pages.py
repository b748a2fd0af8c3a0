"""Saving a connector from the web UI (collector/web/connector_pages.py, mounted alone with the
onboarding router on a bare app; SQLite and PostgreSQL): create with field-named errors,
secrets write-only (stored in their own 0600 file, never shown back, kept when left empty),
edit, disable and enable; every change audited; the collector reads the saved file; staff and
client viewers are refused; connectors set inline in the configuration are not written."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.connectors.saved import audit_rows
from collector.web import connector_pages, onboarding
from tests.web.bare import Session, bare_app
from tests.web.kit import World

SECRET = "0123456789abcdef-very-secret"


@pytest.fixture
def app(world: World, tmp_path: Path) -> Any:
    from fastapi import APIRouter

    both = APIRouter()
    both.include_router(connector_pages.router)
    both.include_router(onboarding.router)
    app = bare_app(world, both)
    # No inline connectors: saved ones go to connectors.yaml in the data directory.
    app.state.settings = world.settings.model_copy(update={"connectors": None})
    return app


def test_create_edit_disable_with_write_only_secrets(world: World, app: Any) -> None:
    settings = app.state.settings
    root = Session(app, world.store, "root")
    form = root.get("/ui/onboarding/connectors/new?type=redmine")
    assert form.status_code == 200 and 'name="secret_api_key"' in form.text
    base = {"name": "rm", "type": "redmine", "create": "1"}
    # Field-named errors; nothing written.
    bad = root.post(
        "/ui/onboarding/connectors/save",
        {**base, "options": "url: ftp://x\ndefault_project: support", "secret_api_key": SECRET},
    )
    assert bad.status_code == 400 and "url: String should match pattern" in bad.text
    assert SECRET not in bad.text  # a secret is never sent back, not even after an error
    missing = root.post(
        "/ui/onboarding/connectors/save",
        {**base, "options": "url: https://rm.example.net\ndefault_project: support"},
    )
    assert missing.status_code == 400 and "api_key is required" in missing.text
    typo = root.post(
        "/ui/onboarding/connectors/save",
        {
            **base,
            "options": "url: https://rm.example.net\ndefault_projekt: support",
            "secret_api_key": SECRET,
        },
    )
    assert typo.status_code == 400 and "default_projekt: Extra inputs" in typo.text
    inline = root.post(
        "/ui/onboarding/connectors/save",
        {**base, "options": f"url: https://rm.example.net\napi_key: {SECRET}"},
    )
    assert inline.status_code == 400 and "api_key: a secret goes in its own field" in inline.text
    named = root.post("/ui/onboarding/connectors/save", {**base, "name": "Bad Name!"})
    assert named.status_code == 400 and "name: lower-case letters" in named.text
    yaml_error = root.post("/ui/onboarding/connectors/save", {**base, "options": "url: [unclosed"})
    assert yaml_error.status_code == 400 and "options:" in yaml_error.text
    path = Path(settings.data_dir) / "connectors.yaml"
    assert not path.exists()
    # Created.
    good = root.post(
        "/ui/onboarding/connectors/save",
        {
            **base,
            "options": "url: https://rm.example.net\ndefault_project: support",
            "secret_api_key": SECRET,
        },
    )
    assert good.status_code == 303, good.text
    saved = yaml.safe_load(path.read_text())
    entry = saved["connectors"]["rm"]
    assert "api_key" not in entry and SECRET not in path.read_text()
    secret_file = Path(entry["api_key_file"])
    assert secret_file.read_text().strip() == SECRET
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    config = settings.connectors_config()
    assert config.connectors["rm"].api_key.get_secret_value() == SECRET  # type: ignore[attr-defined]
    assert config.for_client("acme") == ["rm"]
    again = root.post(
        "/ui/onboarding/connectors/save",
        {
            **base,
            "options": "url: https://rm.example.net\ndefault_project: x",
            "secret_api_key": "k",
        },
    )
    assert again.status_code == 400 and "name: a connector named &#39;rm&#39; exists" in again.text
    # The edit form shows the options, that a key is stored, never the key.
    edit = root.get("/ui/onboarding/connectors/rm/edit")
    assert edit.status_code == 200 and "default_project: support" in edit.text
    assert "stored — leave empty to keep it" in edit.text and SECRET not in edit.text
    assert str(secret_file) not in edit.text
    # Edited with the secret left empty: kept.
    edited = root.post(
        "/ui/onboarding/connectors/save",
        {
            "name": "rm",
            "type": "redmine",
            "options": "url: https://rm2.example.net\ndefault_project: ops",
        },
    )
    assert edited.status_code == 303, edited.text
    config = settings.connectors_config()
    assert config.connectors["rm"].url == "https://rm2.example.net"  # type: ignore[attr-defined]
    assert config.connectors["rm"].api_key.get_secret_value() == SECRET  # type: ignore[attr-defined]
    # Disabled: still defined, gets no incidents, not built; enabled again.
    assert root.post("/ui/onboarding/connectors/rm/disable").status_code == 303
    config = settings.connectors_config()
    assert "rm" in config.connectors and config.for_client("acme") == [] and config.build() == {}
    listing = root.get("/ui/onboarding/connectors")
    assert "disabled" in listing.text and "/ui/onboarding/connectors/rm/edit" in listing.text
    assert root.post("/ui/onboarding/connectors/rm/enable").status_code == 303
    assert settings.connectors_config().for_client("acme") == ["rm"]
    assert root.post("/ui/onboarding/connectors/nope/disable").status_code == 404
    # Every change audited, who and what, never the secret.
    rows = audit_rows(world.store, "rm")
    assert [r["action"] for r in rows] == [
        "connector.enable",
        "connector.disable",
        "connector.edit",
        "connector.create",
    ]
    assert {r["actor"] for r in rows} == {"web:root"}
    assert rows[-1]["detail"]["secrets_changed"] == ["api_key"]
    assert rows[1 + 1]["detail"]["secrets_changed"] == []
    assert SECRET not in repr(rows)


def test_only_admins_and_not_inline_config(world: World, app: Any) -> None:
    for username in ("tech", "viewer-a"):
        other = Session(app, world.store, username)
        assert other.get("/ui/onboarding/connectors/new?type=redmine").status_code == 403
        answer = other.post(
            "/ui/onboarding/connectors/save",
            {"name": "rm", "type": "redmine", "create": "1", "options": ""},
        )
        assert answer.status_code == 403
    # The world's own settings carry connectors inline: the UI says where to edit them.
    app.state.settings = world.settings
    root = Session(app, world.store, "root")
    answer = root.post(
        "/ui/onboarding/connectors/save",
        {"name": "rm", "type": "redmine", "create": "1", "options": "", "secret_api_key": "k"},
    )
    assert (
        answer.status_code == 400
        and "set inline in the collector&#39;s configuration" in answer.text
    )
