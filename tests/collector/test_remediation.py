"""Remediation on the collector (SQLite and PostgreSQL): the action library's errors, the
task API for agents and admins with tenant isolation, signatures the agent's own verifier
accepts, idempotent results, the audit log, expiry, and the secret key never shown."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from agent.tasks import TaskVerifier
from collector import timeutil
from collector.api import create_app
from collector.remediation.actions import ActionsInvalid, load_library
from collector.remediation.keys import TaskSigner, generate_key
from collector.schema import remediation_audit
from collector.settings import Settings
from tests.collector.conftest import add_tenant, make_batch, sample

# ------------------------------------------------------------------ the library


def test_the_shipped_library_loads() -> None:
    library = load_library()
    assert set(library.actions) == {
        "restart-service",
        "clean-temp",
        "rotate-logs",
        "clear-print-spooler",
        "run-script",
    }
    clean = library.get("clean-temp")
    assert clean.expects is not None and clean.expects.metric == "disk_free_bytes"
    assert clean.check_params({"path": "/tmp/x"}) == {
        "path": "/tmp/x",
        "older_than_days": 7,
        "pattern": "*",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "parameter 'path' is required"),
        ({"path": "tmp"}, "is not an absolute path"),
        ({"path": "/tmp", "older_than_days": 1.5}, "a whole number"),
        ({"path": "/tmp", "older_than_days": -1}, "outside"),
        ({"path": "/tmp", "older_than_days": True}, "a number"),
        ({"path": "/tmp", "recurse": True}, "unknown parameter 'recurse'"),
    ],
)
def test_parameters_are_typed(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_library().get("clean-temp").check_params(params)


def test_a_bad_action_file_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "actions:\n"
        "  - name: wipe\n"
        "    kind: format-disk\n"
        "    description: no\n"
        "    os: [linux]\n"
        "  - name: slow\n"
        "    kind: run-script\n"
        "    description: x\n"
        "    os: [linux]\n"
        "    params:\n"
        "      days: {type: int, default: many}\n"
        "  - name: slow\n"
        "    kind: run-script\n"
        "    description: again\n"
        "    os: [linux]\n"
        "    colour: red\n"
    )
    with pytest.raises(ActionsInvalid) as excinfo:
        load_library([tmp_path])
    text = "\n".join(excinfo.value.problems)
    assert f"{tmp_path / 'a.yaml'}:3: actions[0].kind" in text
    assert f"{tmp_path / 'a.yaml'}:16: actions[2].colour: unknown key" in text
    (tmp_path / "a.yaml").write_text(
        "actions:\n"
        "  - name: slow\n"
        "    kind: run-script\n"
        "    description: x\n"
        "    os: [linux]\n"
        "    params:\n"
        "      days: {type: int, default: many}\n"
    )
    with pytest.raises(ActionsInvalid, match=r"a.yaml:7: actions\[0\]\.params\.days\.default"):
        load_library([tmp_path])


# ------------------------------------------------------------------ the API


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def app(store, tmp_path, db_url, key):
    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, task_signing_key=key, task_deadline=60.0
    )
    application = create_app(settings, store=store, migrate=False, run_retention=False)
    with TestClient(application, raise_server_exceptions=True) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tasks_for_agents_and_admins(app, store, admin_token, key, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    acme = add_tenant(store, "acme")
    globex = add_tenant(store, "globex")
    now = timeutil.now()
    for tenant in (acme, globex):
        batch = make_batch([sample("srv1", "memory_used_percent", 50.0, now)])
        assert (
            app.post("/api/v1/batches", json=batch, headers=bearer(tenant.token)).status_code == 200
        )
    # admins only create tasks; an agent token gets 403
    body = {"client": "acme", "asset": "srv1", "action": "clean-temp", "params": {"path": "/tmp/x"}}
    assert app.post("/api/v1/tasks", json=body, headers=bearer(acme.token)).status_code == 403
    bad = app.post("/api/v1/tasks", json={**body, "params": {}}, headers=bearer(admin_token))
    assert bad.status_code == 400 and "'path' is required" in bad.text
    created = app.post("/api/v1/tasks", json=body, headers=bearer(admin_token))
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["state"] == "queued"
    # the key agents pin, and a poll: the agent's own verifier accepts the signature
    public = app.get("/api/v1/agent/tasks/key", headers=bearer(acme.token)).json()["public_key"]
    assert public == TaskSigner(key).public_key()
    polled = app.post(
        "/api/v1/agent/tasks/poll", json={"asset": "srv1"}, headers=bearer(acme.token)
    )
    [envelope] = polled.json()["tasks"]
    signed = TaskVerifier(base64.b64decode(public)).verify(envelope)
    assert signed["action"] == "clean-temp" and signed["params"]["path"] == "/tmp/x"
    assert signed["expires_at"] == pytest.approx(task["expires_at"])
    # globex's token: same asset name, none of acme's tasks; cannot answer for them
    other = app.post(
        "/api/v1/agent/tasks/poll", json={"asset": "srv1"}, headers=bearer(globex.token)
    )
    assert other.json() == {"tasks": []}
    result = {
        "status": "succeeded",
        "exit_code": 0,
        "output": "ok",
        "duration": 0.5,
        "measured": {
            "disk_free_bytes": {
                "before": 2 * 2**30,
                "after": 14 * 2**30,
                "labels": {"path": "/tmp/x"},
            }
        },
        "facts": {"files_removed": 12411},
    }
    url = f"/api/v1/agent/tasks/{task['id']}/result"
    assert app.post(url, json=result, headers=bearer(globex.token)).status_code == 404
    done = app.post(url, json=result, headers=bearer(acme.token)).json()
    assert done["state"] == "succeeded"
    assert done["evidence"] == "/tmp/x free 2 GiB → 14 GiB, 12,411 files removed"
    again = app.post(url, json={**result, "status": "failed"}, headers=bearer(acme.token))
    assert again.status_code == 200 and again.json()["state"] == "succeeded"  # no-op
    # delivered once: a finished task is not handed out again
    assert app.post(
        "/api/v1/agent/tasks/poll", json={"asset": "srv1"}, headers=bearer(acme.token)
    ).json() == {"tasks": []}
    audit = app.get(f"/api/v1/tasks/{task['id']}/audit", headers=bearer(admin_token)).json()
    assert [a["event"] for a in audit] == ["created", "delivered", "result"]
    assert (
        audit[0]["actor"].startswith("admin-token:") and audit[2]["detail"]["status"] == "succeeded"
    )
    # the private key is never logged or returned
    assert key not in caplog.text
    for path in ("/api/v1/tasks", f"/api/v1/tasks/{task['id']}", "/api/v1/actions"):
        assert key not in app.get(path, headers=bearer(admin_token)).text
    # a bad result body names the field
    wrong = app.post(url, json={"status": "done"}, headers=bearer(acme.token))
    assert wrong.status_code == 422 and "status" in wrong.text


def test_a_task_nobody_ran_expires(app, store, admin_token, monkeypatch) -> None:
    acme = add_tenant(store, "acme")
    app.post(
        "/api/v1/batches",
        json=make_batch([sample("srv2", "memory_used_percent", 1.0, timeutil.now())]),
        headers=bearer(acme.token),
    )
    task = app.post(
        "/api/v1/tasks",
        json={
            "client": "acme",
            "asset": "srv2",
            "action": "restart-service",
            "params": {"service": "nginx"},
        },
        headers=bearer(admin_token),
    ).json()
    remediation = app.app.state.remediation
    later = timeutil.now() + 61
    monkeypatch.setattr(timeutil, "now", lambda: later)
    assert remediation.sync() == 1
    assert (
        app.get(f"/api/v1/tasks/{task['id']}", headers=bearer(admin_token)).json()["state"]
        == "expired"
    )
    # and an expired task is not delivered
    assert app.post(
        "/api/v1/agent/tasks/poll", json={"asset": "srv2"}, headers=bearer(acme.token)
    ).json() == {"tasks": []}
    with store.read() as conn:
        events = [
            r.event
            for r in conn.execute(
                sa.select(remediation_audit.c.event).order_by(remediation_audit.c.id)
            )
        ]
    assert events == ["created", "expired"]


def test_without_a_key_no_task_is_created(store, tmp_path, db_url, admin_token) -> None:
    settings = Settings.for_data_dir(tmp_path / "d", database_url=db_url)
    acme = add_tenant(store, "acme")
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as app:
        app.post(
            "/api/v1/batches",
            json=make_batch([sample("srv1", "memory_used_percent", 1.0, timeutil.now())]),
            headers=bearer(acme.token),
        )
        answer = app.post(
            "/api/v1/tasks",
            json={
                "client": "acme",
                "asset": "srv1",
                "action": "restart-service",
                "params": {"service": "x"},
            },
            headers=bearer(admin_token),
        )
        assert answer.status_code == 400 and "task_signing_key" in answer.text
        assert app.get("/api/v1/agent/tasks/key", headers=bearer(acme.token)).status_code == 404


def test_the_signing_key_comes_from_a_file(tmp_path: Path) -> None:
    from collector.settings import load_settings

    secret = tmp_path / "key"
    secret.write_text(generate_key() + "\n")
    settings = load_settings(None, environ={"UPKEEP_TASK_SIGNING_KEY_FILE": str(secret)})
    assert settings.task_signing_key is not None
    assert secret.read_text().strip() not in repr(settings)
