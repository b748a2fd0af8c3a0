"""The ``upkeep`` console script, run as a subprocess against UPKEEP_DATABASE_URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

UPKEEP = shutil.which("upkeep", path=str(Path(sys.executable).parent)) or shutil.which("upkeep")


@pytest.fixture
def upkeep(db_url, tmp_path):
    if UPKEEP is None:
        pytest.skip("the upkeep console script is not installed (pip install -e .[collector])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env.update(UPKEEP_DATABASE_URL=db_url, UPKEEP_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([UPKEEP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, (
            f"upkeep {args} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
        return proc

    run.env = env
    return run


def test_db_upgrade_then_clients(upkeep, db_url):
    assert "upgraded from empty to revision 0025" in upkeep("db", "upgrade").stdout
    assert "already at revision 0025" in upkeep("db", "upgrade").stdout
    assert "current: 0025; head: 0025" in upkeep("db", "current").stdout
    assert "Created client 'acme'" in upkeep("client", "add", "acme").stdout
    upkeep("client", "add", "globex")
    assert "already exists" in upkeep("client", "add", "acme", code=4).stderr
    listing = upkeep("client", "list").stdout
    assert "acme" in listing and "globex" in listing
    upkeep("client", "disable", "globex")
    assert "no" in [
        line.split("│")[3].strip()
        for line in upkeep("client", "list").stdout.splitlines()
        if "globex" in line
    ]
    assert "no client named 'initech'" in upkeep("client", "disable", "initech", code=3).stderr


def test_tokens_are_printed_once_as_the_last_line_and_stored_hashed(upkeep, db_url):
    upkeep("client", "add", "acme")
    agent = (
        upkeep("token", "create", "--client", "acme", "--name", "srv1").stdout.strip().splitlines()
    )
    admin_token = upkeep("token", "create", "--admin").stdout.strip().splitlines()[-1]
    token = agent[-1]
    assert token.startswith("upk_") and " " not in token
    assert token not in "\n".join(agent[:-1])
    listing = upkeep("token", "list").stdout
    assert token not in listing and admin_token not in listing
    assert token[:10] in listing and "srv1" in listing and "admin" in listing
    assert "acme" in upkeep("token", "list", "--client", "acme").stdout

    from collector import admin
    from collector.store import Store

    store = Store.from_url(db_url)
    try:
        with store.read() as conn:
            assert admin.authenticate(conn, token, need="agent").client_name == "acme"
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM tokens WHERE token_hash = :h"),
                    {"h": admin.hash_token(token)},
                ).scalar()
                == 1
            )
        token_id = [t.id for t in admin.list_tokens(store) if t.kind == "agent"][0]
        upkeep("token", "revoke", str(token_id))
        with store.read() as conn, pytest.raises(admin.Unauthenticated):
            admin.authenticate(conn, token, need="agent")
    finally:
        store.dispose()
    assert "no token with id 999" in upkeep("token", "revoke", "999", code=3).stderr


def test_usage_errors(upkeep):
    assert "either --client" in upkeep("token", "create", code=2).stderr
    assert "either --client" in upkeep("token", "create", "--admin", "--client", "x", code=2).stderr
    assert (
        "no client named 'ghost'" in upkeep("token", "create", "--client", "ghost", code=3).stderr
    )


def test_bad_settings_exit_78_naming_file_and_line(upkeep, tmp_path):
    config = tmp_path / "collector.yaml"
    config.write_text("port: 8427\nretention: 2d\n")
    proc = upkeep("client", "list", "--config", str(config), code=78)
    assert f"{config}:2: retention: unknown key" in proc.stderr


def test_unreachable_database_exits_69_without_leaking_the_password(tmp_path):
    if UPKEEP is None:
        pytest.skip("the upkeep console script is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env["UPKEEP_DATABASE_URL"] = "postgresql+psycopg://u:hunter2@127.0.0.1:1/nope?connect_timeout=2"
    proc = subprocess.run(
        [UPKEEP, "client", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 69, proc.stderr
    assert "database not usable" in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
