"""Dead letters are visible and can be sent again: the management page's Retry buttons (staff,
CSRF), the API (admin token) and ``upkeep outbox list/retry``, on one seeded store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from collector import admin, notify
from collector.schema import notifications, outbox
from tests.web.kit import World

UPKEEP = shutil.which("upkeep", path=str(Path(sys.executable).parent)) or shutil.which("upkeep")


def bury(world: World) -> list[int]:
    """Every outbox row of the seeded incidents, made dead (as after a permanent failure)."""
    with world.store.write() as conn:
        conn.execute(
            outbox.update().values(state="dead", attempts=3, last_error="HTTP 400: bad field")
        )
        return [r for (r,) in conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id))]


def states(world: World) -> dict[int, str]:
    with world.store.read() as conn:
        return dict(conn.execute(sa.select(outbox.c.id, outbox.c.state)).all())


def test_the_retry_button_needs_staff_and_csrf(world: World, browser: Any) -> None:
    first, *rest = bury(world)
    tech = browser("tech")
    page = tech.get("/ui/management/connectors")
    assert page.status_code == 200
    assert f'action="/ui/outbox/{first}/retry"' in page.text and "Retry" in page.text
    assert 'action="/ui/outbox/retry"' in page.text
    # Without the session's CSRF token, or as a client viewer: refused, nothing changes.
    assert tech.post(f"/ui/outbox/{first}/retry", csrf=False).status_code == 403
    viewer = browser("viewer-a")
    assert viewer.post(f"/ui/outbox/{first}/retry").status_code == 403
    assert set(states(world).values()) == {"dead"}
    answer = tech.post(f"/ui/outbox/{first}/retry")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/management/connectors"
    assert states(world)[first] == "pending" and {states(world)[r] for r in rest} == {"dead"}
    assert tech.post("/ui/outbox/retry").status_code == 303
    assert set(states(world).values()) == {"pending"}


def test_a_dead_notification_has_a_retry_button_too(world: World, browser: Any) -> None:
    with world.store.write() as conn:
        nid = notify.queue(
            conn,
            kind="low_balance",
            recipients=["jane@acme.example"],
            subject="Points low",
            body_text="b",
            now=0,
        )
        conn.execute(notifications.update().values(state="dead", last_error="SMTP 550"))
    tech = browser("tech")
    assert f'action="/ui/notifications/{nid}/retry"' in tech.get("/ui/management/connectors").text
    assert tech.post(f"/ui/notifications/{nid}/retry").status_code == 303
    with world.store.read() as conn:
        assert conn.execute(sa.select(notifications.c.state)).scalar() == "pending"


def test_the_api_lists_and_retries_dead_letters(world: World) -> None:
    ids = bury(world)
    _, token = admin.create_token(world.store, admin=True)
    http = TestClient(world.app)
    auth = {"Authorization": f"Bearer {token}"}
    dead = http.get("/api/v1/outbox", params={"state": "dead"}, headers=auth).json()
    assert sorted(r["id"] for r in dead) == ids
    assert {r["connector"] for r in dead} == {"psa"} and dead[0][
        "last_error"
    ] == "HTTP 400: bad field"
    assert http.get("/api/v1/outbox", params={"state": "lost"}, headers=auth).status_code == 422
    assert http.get("/api/v1/outbox").status_code == 401
    assert http.post(f"/api/v1/outbox/{ids[0]}/retry", headers=auth).json() == {"retried": [ids[0]]}
    # Not dead any more: left alone.
    assert http.post(f"/api/v1/outbox/{ids[0]}/retry", headers=auth).json() == {"retried": []}
    assert http.post("/api/v1/outbox/999999/retry", headers=auth).status_code == 404
    assert http.post("/api/v1/outbox/retry", headers=auth).json() == {"retried": ids[1:]}
    assert (
        http.get("/api/v1/outbox", params={"failed": "true"}, headers=auth).json() != []
    )  # errors kept
    assert http.get("/api/v1/outbox", params={"state": "dead"}, headers=auth).json() == []


def test_the_cli_lists_and_retries_dead_letters(world: World, db_url: str, tmp_path: Path) -> None:
    if UPKEEP is None:
        import pytest

        pytest.skip("the upkeep console script is not installed")
    ids = bury(world)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env.update(UPKEEP_DATABASE_URL=db_url, UPKEEP_DATA_DIR=str(tmp_path / "cli"), COLUMNS="250")

    def upkeep(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([UPKEEP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, f"{args} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc

    listed = [
        json.loads(line)
        for line in upkeep("outbox", "list", "--failed", "--json").stdout.splitlines()
    ]
    assert sorted(r["id"] for r in listed) == ids and {r["state"] for r in listed} == {"dead"}
    table = upkeep("outbox", "list", "--failed").stdout
    assert "HTTP 400: bad field" in table and "dead" in table
    upkeep("outbox", "retry", code=2)  # neither ids nor --all
    assert "no dead outbox row" in upkeep("outbox", "retry", "999999", code=3).stderr
    assert "1 dead letter(s) queued again" in upkeep("outbox", "retry", str(ids[0])).stdout
    assert f"{len(ids) - 1} dead letter(s)" in upkeep("outbox", "retry", "--all").stdout
    assert upkeep("outbox", "list", "--state", "dead", "--json").stdout == ""
    assert "--state" in upkeep("outbox", "list", "--state", "lost", code=2).stderr
