"""``upkeep user add|list|disable|enable|passwd`` as a subprocess, on SQLite and PostgreSQL.

The password comes from a prompt (standard input here) or --password-file, never argv, and
nothing the commands print contains it or its hash.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.schema import users
from collector.store import Store
from collector.web import auth

SECRET = "a rather long secret 42"


@pytest.fixture
def upkeep(db_url: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env.update(UPKEEP_DATABASE_URL=db_url, UPKEEP_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")

    def run(*args: str, code: int = 0, stdin: str = "") -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "collector.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == code, (
            f"upkeep {args} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
        assert (
            SECRET not in proc.stdout + proc.stderr and "$argon2" not in proc.stdout + proc.stderr
        )
        return proc

    return run


def _hash(db_url: str, username: str) -> str:
    store = Store.from_url(db_url)
    try:
        with store.read() as conn:
            return conn.execute(
                sa.select(users.c.password_hash).where(users.c.username == username)
            ).scalar_one()
    finally:
        store.dispose()


def test_user_commands(upkeep, db_url: str, tmp_path: Path) -> None:
    upkeep("client", "add", "acme")
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n")
    out = upkeep(
        "user",
        "add",
        "ann",
        "--role",
        "technician",
        "--name",
        "Ann",
        "--password-file",
        str(secret_file),
    )
    assert "user ann added (technician)" in out.stdout
    assert auth.verify_password(_hash(db_url, "ann"), SECRET)
    # From the prompt (asked twice); standard input stands in for the terminal.
    upkeep(
        "user",
        "add",
        "cv",
        "--role",
        "client_viewer",
        "--client",
        "acme",
        stdin=f"{SECRET}\n{SECRET}\n",
    )
    assert auth.verify_password(_hash(db_url, "cv"), SECRET)
    upkeep(
        "user", "add", "x", "--role", "client_viewer", "--password-file", str(secret_file), code=2
    )
    upkeep("user", "add", "ann", "--password-file", str(secret_file), code=4)
    short = tmp_path / "short"
    short.write_text("short\n")
    assert "at least 10" in upkeep("user", "add", "y", "--password-file", str(short), code=2).stderr
    # There is no way to pass the password itself as an argument.
    upkeep("user", "add", "z", "--password", SECRET, code=2)

    listed = upkeep("user", "list").stdout
    assert "ann" in listed and "technician" in listed and "cv" in listed and "acme" in listed

    upkeep("user", "passwd", "ann", "--password-file", "-", stdin="another long secret\n")
    assert auth.verify_password(_hash(db_url, "ann"), "another long secret")
    assert "disabled" in upkeep("user", "disable", "ann").stdout
    assert "disabled" in upkeep("user", "list").stdout
    upkeep("user", "enable", "ann")
    upkeep("user", "disable", "nobody", code=3)
