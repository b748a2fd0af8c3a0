"""``upkeep tasks …`` run as the real console script (a subprocess) against a real store
(SQLite and PostgreSQL) holding an incident whose rule names a fix: Run fix, list, show,
audit, key, and each refusal with its message and exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from collector import timeutil
from collector.api import create_app
from collector.remediation.keys import TaskSigner, generate_key
from collector.schema import incidents, remediation_tasks
from collector.settings import load_settings
from tests.collector.conftest import add_tenant, make_batch, sample

pytestmark = pytest.mark.slow  # about 20 runs of the console script per store

UPKEEP = shutil.which("upkeep", path=str(Path(sys.executable).parent)) or shutil.which("upkeep")

RULES = """
rules:
  - id: app-down
    metric: plugin_state
    critical: "== 2"
    priority: major
    kind: outage
    summary: "{asset}: {name} down"
    remediate: {action: restart-service, params: {service: "{name}"}, policy: technician}
"""


@pytest.fixture
def world(store: Any, db_url: str, tmp_path: Path) -> Any:
    """A settings file (store, rules, signing key) and an open incident of rule app-down."""
    if UPKEEP is None:
        pytest.skip("the upkeep console script is not installed")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "app.yaml").write_text(RULES)
    key = generate_key()
    config = tmp_path / "collector.yaml"
    values = {
        "database_url": db_url,
        "data_dir": str(tmp_path / "data"),
        "rules_paths": [str(rules)],
        "rules_watch_interval": 0,
        "task_signing_key": key,
    }
    config.write_text(yaml.safe_dump(values))
    os.chmod(config, 0o600)  # it holds a secret
    settings = load_settings(config, environ={}).model_copy(
        update={"background": not store.is_sqlite}  # PostgreSQL: rules run on the shard owner
    )
    acme = add_tenant(store, "acme")
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as app:
        batch = make_batch([sample("srv1", "plugin_state", 2, timeutil.now(), name="nginx")])
        answer = app.post(
            "/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {acme.token}"}
        )
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while not (incidents := app.app.state.incidents.service.list()):
            assert time.monotonic() < deadline, "no incident"
            time.sleep(0.05)
    [incident] = incidents
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env["COLUMNS"] = "200"

    def run(*args: str, code: int = 0, conf: Path = config) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [UPKEEP, "tasks", *args, "--config", str(conf)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == code, f"{args} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc

    return type(
        "World",
        (),
        {"run": staticmethod(run), "incident": incident, "key": key, "config": config},
    )


def tasks_in(store: Any) -> list[Any]:
    with store.read() as conn:
        return conn.execute(sa.select(remediation_tasks)).all()


def test_run_fix_list_show_audit_and_refusals(world: Any, store: Any, tmp_path: Path) -> None:
    run, key = world.run, world.incident["key"]
    # Refusals first: nothing is queued by any of them.
    unknown = run("fix", "UPK-acme-999", "--by", "ann", code=3)
    assert "no incident UPK-acme-999" in unknown.stderr
    wrong_action = run("fix", key, "--by", "ann", "--action", "format-disk", code=2)
    assert "no action 'format-disk'" in wrong_action.stderr
    assert "restart-service" in wrong_action.stderr  # the known ones are listed
    bad_params = run(
        "fix", key, "--by", "ann", "--action", "clean-temp", "--params", '{"path": "tmp"}', code=2
    )
    assert "is not an absolute path" in bad_params.stderr
    not_json = run("fix", key, "--by", "ann", "--params", "service=nginx", code=2)
    assert "--params: not JSON" in not_json.stderr
    no_key = tmp_path / "nokey.yaml"
    values = yaml.safe_load(world.config.read_text())
    del values["task_signing_key"]
    no_key.write_text(yaml.safe_dump(values))
    unsigned = run("fix", key, "--by", "ann", code=2, conf=no_key)
    assert "task_signing_key is not configured" in unsigned.stderr
    assert tasks_in(store) == []

    # Run fix: the rule's action with the alert's label filled in, queued and signed.
    task = json.loads(run("fix", key, "--by", "ann").stdout)
    assert task["action"] == "restart-service" and task["params"] == {"service": "nginx"}
    assert task["state"] == "queued" and task["policy"] == "technician"
    with store.read() as conn:
        incident_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.key == key)
        ).scalar_one()
    assert task["incident_id"] == incident_id
    [row] = tasks_in(store)
    assert row.id == task["id"] and row.created_by == "ann" and row.payload
    # A second Run fix while the first waits is refused.
    again = run("fix", key, "--by", "bob", code=2)
    assert f"{key} already has a fix waiting or running" in again.stderr
    assert len(tasks_in(store)) == 1

    listed = json.loads(run("list").stdout)
    assert [t["id"] for t in listed] == [task["id"]]
    assert json.loads(run("list", "--client", "acme", "--state", "queued").stdout) == listed
    assert json.loads(run("list", "--state", "succeeded").stdout) == []
    assert "--state: one of awaiting_approval" in run("list", "--state", "done", code=2).stderr
    assert "no client named 'globex'" in run("list", "--client", "globex", code=3).stderr

    shown = json.loads(run("show", task["id"]).stdout)
    assert shown["id"] == task["id"] and shown["state"] == "queued"
    missing = "00000000-0000-0000-0000-000000000000"
    assert f"no task {missing}" in run("show", missing, code=3).stderr

    audit = json.loads(run("audit", task["id"]).stdout)
    assert [(a["event"], a["actor"]) for a in audit] == [("created", "ann")]
    assert audit[0]["detail"]["params"] == {"service": "nginx"}
    assert f"no task {missing}" in run("audit", missing, code=3).stderr
    assert len(json.loads(run("audit").stdout)) == 1

    # The public key agents pin: the configured key's, never the private key.
    printed = run("key").stdout.strip()
    assert printed == TaskSigner(world.key).public_key() and world.key not in printed
