"""Maintenance windows through the API (``/api/v1/maintenance``) and ``upkeep maintenance``:
add, list (with the maintenance file's windows), delete, errors; an added window holds alerts."""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from collector import admin
from collector.api import create_app
from collector.cli import app as cli_app
from collector.incidents import noise
from collector.settings import Settings

PATH = "/api/v1/maintenance"


@pytest.fixture(autouse=True)
def _restore_noise_control():
    previous = noise.control()
    yield
    noise.configure(previous)


@pytest.fixture
def maintenance_file(tmp_path):
    path = tmp_path / "maintenance.yaml"
    path.write_text(
        textwrap.dedent("""\
        timezones: {acme: Europe/Berlin}
        windows:
          - {name: patch-tuesday, client: acme, cron: "0 22 * * 2", duration: 2h}
        """)
    )
    return path


@pytest.fixture
def http(store, tmp_path, db_url, maintenance_file):
    admin.create_client(store, "acme")
    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, maintenance_file=maintenance_file
    )
    with TestClient(
        create_app(settings, store=store, migrate=False, run_retention=False)
    ) as client:
        yield client


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_add_list_delete(http, admin_token):
    now = datetime.now(UTC)
    body = {
        "name": "router-swap",
        "client": "acme",
        "start": (now - timedelta(minutes=5)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "sites": ["hq"],
        "comment": "ISP visit",
    }
    resp = http.post(PATH, json=body, headers=auth(admin_token))
    assert resp.status_code == 201, resp.text
    added = resp.json()
    assert added["source"] == "api" and added["open_now"] and added["window"]["sites"] == ["hq"]
    listed = http.get(PATH, params={"client": "acme"}, headers=auth(admin_token)).json()
    assert [(w["source"], w["window"]["name"]) for w in listed] == [
        ("file", "patch-tuesday"),
        ("api", "router-swap"),
    ]
    assert listed[0]["id"] is None and listed[0]["next"] is not None
    # the same name again: 409; an unknown client: 404; a bad schedule: 422
    assert http.post(PATH, json=body, headers=auth(admin_token)).status_code == 409
    assert (
        http.post(
            PATH, json={**body, "name": "patch-tuesday"}, headers=auth(admin_token)
        ).status_code
        == 409
    )
    assert (
        http.post(PATH, json={**body, "client": "initech"}, headers=auth(admin_token)).status_code
        == 404
    )
    resp = http.post(
        PATH, json={"name": "x", "client": "acme", "cron": "0 22 * * 2"}, headers=auth(admin_token)
    )
    assert resp.status_code == 422 and "duration" in resp.text
    assert http.delete(f"{PATH}/{added['id']}", headers=auth(admin_token)).status_code == 204
    assert http.delete(f"{PATH}/{added['id']}", headers=auth(admin_token)).status_code == 404
    assert [w["source"] for w in http.get(PATH, headers=auth(admin_token)).json()] == ["file"]


def test_needs_an_admin_token(http, store):
    _, agent = admin.create_token(store, client="acme")
    assert http.get(PATH, headers=auth(agent)).status_code == 403
    assert http.get(PATH).status_code == 401


def test_cli_add_list_delete(tmp_path, maintenance_file):
    env = {k: "" for k in os.environ if k.startswith("UPKEEP_")}
    env.update(UPKEEP_DATA_DIR=str(tmp_path), UPKEEP_MAINTENANCE_FILE=str(maintenance_file))
    runner = CliRunner()

    def upkeep(*args, code=0):
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    upkeep("client", "add", "acme")
    out = upkeep(
        "maintenance",
        "add",
        "--client",
        "acme",
        "--name",
        "backup-night",
        "--cron",
        "0 1 * * *",
        "--duration",
        "90m",
        "--tag",
        "nas",
        "--tag",
        "backup",
    ).stdout
    assert "Added maintenance window 1 'backup-night'" in out
    listed = upkeep("maintenance", "list").stdout
    assert "patch-tuesday" in listed and "backup-night" in listed
    bad = upkeep(
        "maintenance", "add", "--client", "acme", "--name", "x", "--cron", "0 1 * * *", code=2
    )
    assert "needs a duration" in bad.output
    assert (
        "no client named 'initech'"
        in upkeep(
            "maintenance",
            "add",
            "--client",
            "initech",
            "--name",
            "y",
            "--cron",
            "0 1 * * *",
            "--duration",
            "1h",
            code=3,
        ).output
    )
    upkeep("maintenance", "delete", "1")
    assert "backup-night" not in upkeep("maintenance", "list").stdout
    assert "no maintenance window with id 1" in upkeep("maintenance", "delete", "1", code=3).output
