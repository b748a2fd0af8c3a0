"""Standard (included) and non-standard fixes per contract (``remediation.standard``), on
SQLite and PostgreSQL, through the collector's API: a rule with policy ``client``, "Run fix",
the client's approval, the agent's poll and result, and the ledger.

* non-standard: quoted in points, waits for approval, charged once on success (a repeated
  result charges nothing more);
* standard: still waits for the client's approval, then runs, and nothing is charged;
* a contract file listing an unknown or repeated action names its file and line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from collector import timeutil
from collector.api import create_app
from collector.contracts.files import check
from collector.remediation.keys import generate_key
from collector.schema import notifications
from collector.settings import Settings
from tests.collector.conftest import add_tenant, make_batch, sample

RULES = """
rules:
  - id: svc-down
    metric: plugin_state
    where: {name: web}
    critical: "== 2"
    priority: major
    kind: outage
    summary: "{asset}: web down"
    remediate: {action: restart-service, params: {service: nginx}, policy: client}
  - id: tmp-full
    metric: disk_used_percent
    warning: "> 90"
    priority: minor
    kind: capacity
    summary: "{asset}: {mountpoint} full"
    remediate:
      action: clean-temp
      params: {path: "{mountpoint}", older_than_days: 1}
      policy: client
"""

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Standard"},
    "points": {"allotment": 20, "rates": {"default": 4}, "rounding": "15m"},
    "remediation": {"standard": ["restart-service"]},
    "contacts": [{"name": "Jane", "email": "jane@acme.example", "receives": ["approvals"]}],
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(store: Any, tmp_path: Path, db_url: str) -> Any:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fixes.yaml").write_text(RULES)
    settings = Settings.for_data_dir(
        tmp_path / "data",
        database_url=db_url,
        task_signing_key=generate_key(),
        rules_paths=[rules],
        rules_watch_interval=0,
        # On PostgreSQL rules run on the shard owner's worker (collector/cluster.py).
        background=not store.is_sqlite,
    )
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as c:
        yield c


def incident_for(app: Any, admin: str, rule: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = app.get("/api/v1/incidents", headers=bearer(admin)).json()
        found = [i for i in listed if i["rule"] == rule]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no incident of {rule}")


def run_to_success(app: Any, admin: str, agent: str, key: str) -> tuple[dict, dict]:
    """Run fix on incident ``key``, approve its request, deliver, report success twice."""
    fix = app.post(f"/api/v1/incidents/{key}/fix", json={}, headers=bearer(admin))
    assert fix.status_code == 201, fix.text
    task = fix.json()
    assert task["state"] == "awaiting_approval" and task["request_key"]
    request = app.get(f"/api/v1/requests/{task['request_key']}", headers=bearer(admin)).json()
    # Not delivered before the approval, whatever the contract says.
    polled = app.post("/api/v1/agent/tasks/poll", json={"asset": "srv1"}, headers=bearer(agent))
    assert polled.json() == {"tasks": []}
    approved = app.post(
        f"/api/v1/requests/{task['request_key']}/approve",
        json={"by": "jane", "via": "phone"},
        headers=bearer(admin),
    )
    assert approved.status_code == 200, approved.text
    app.app.state.remediation.sync()  # the approval queues the task (so does the job)
    queued = app.get(f"/api/v1/tasks/{task['id']}", headers=bearer(admin)).json()
    assert queued["state"] == "queued"
    polled = app.post("/api/v1/agent/tasks/poll", json={"asset": "srv1"}, headers=bearer(agent))
    assert [t["id"] for t in polled.json()["tasks"]] == [task["id"]]
    url = f"/api/v1/agent/tasks/{task['id']}/result"
    for _ in range(2):  # the agent's retry of the same result changes nothing
        done = app.post(url, json={"status": "succeeded", "exit_code": 0}, headers=bearer(agent))
        assert done.status_code == 200 and done.json()["state"] == "succeeded"
    after = app.get(f"/api/v1/requests/{task['request_key']}", headers=bearer(admin)).json()
    return request, after


def test_standard_fixes_are_free_non_standard_ones_charged_once(
    app: Any, store: Any, admin_token: str
) -> None:
    acme = add_tenant(store, "acme")
    put = app.put("/api/v1/contracts/acme", json=CONTRACT, headers=bearer(admin_token))
    assert put.status_code == 200, put.text
    now = timeutil.now()
    batch = make_batch(
        [
            sample("srv1", "plugin_state", 2, now, name="web"),
            sample("srv1", "disk_used_percent", 95.0, now, mountpoint="/srv/tmp"),
        ]
    )
    assert app.post("/api/v1/batches", json=batch, headers=bearer(acme.token)).status_code == 200

    # Non-standard: clean-temp is quoted (15 min at 4 points an hour) and charged once.
    quoted, charged = run_to_success(
        app, admin_token, acme.token, incident_for(app, admin_token, "tmp-full")["key"]
    )
    assert quoted["standard"] is False and quoted["state"] == "awaiting_approval"
    assert quoted["estimate_centipoints"] == 100
    assert charged["state"] == "done"
    ledger = app.get("/api/v1/clients/acme/ledger", headers=bearer(admin_token)).json()
    assert ledger["charged"] == -100 and len(ledger["charges"]) == 1, ledger

    # Standard (the contract includes restart-service): approved first, then free.
    free, done = run_to_success(
        app, admin_token, acme.token, incident_for(app, admin_token, "svc-down")["key"]
    )
    assert free["standard"] is True and free["state"] == "awaiting_approval"
    assert free["estimate_centipoints"] is None
    assert done["state"] == "done"
    # Both asked the client; the standard one says it is included instead of a price.
    with store.read() as conn:
        mails = {
            r.data["request"]: r
            for r in conn.execute(
                sa.select(notifications).where(notifications.c.kind == "approval_request")
            )
        }
    non_standard, standard = mails[quoted["key"]], mails[free["key"]]
    assert non_standard.subject.endswith("— 1.00 points"), non_standard.subject
    assert "Estimate: 1.00 points" in non_standard.body_text
    assert standard.subject.endswith("— included in your contract"), standard.subject
    assert "included in your contract: no points are charged" in standard.body_text
    assert "points" not in standard.subject and "Estimate:" not in standard.body_text
    ledger = app.get("/api/v1/clients/acme/ledger", headers=bearer(admin_token)).json()
    assert ledger["charged"] == -100 and len(ledger["charges"]) == 1, ledger  # unchanged

    # The contract is validated against the action library: a typo names the field.
    wrong = app.put(
        "/api/v1/contracts/acme",
        json={**CONTRACT, "remediation": {"standard": ["restart-servce"]}},
        headers=bearer(admin_token),
    )
    assert wrong.status_code == 422
    assert "remediation.standard" in wrong.text and "did you mean 'restart-service'" in wrong.text


def test_a_contract_file_names_the_line_of_a_bad_standard_fix(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        "client: acme\n"
        "plan: {name: Standard}\n"
        "remediation:\n"
        "  standard:\n"
        "    - clean-temp\n"
        "    - restart-service\n"
        "    - clean-temp\n"
    )
    [parsed] = check([path], actions={"clean-temp", "restart-service"})
    assert parsed.problems == [
        f"{path}:7: remediation.standard[2]: action 'clean-temp' is listed twice"
    ]
    path.write_text(
        "client: acme\nplan: {name: Standard}\nremediation:\n  standard: [clean-temp, wipe-disk]\n"
    )
    [parsed] = check([path], actions={"clean-temp", "restart-service"})
    assert parsed.problems == [
        f"{path}:4: remediation.standard[1]: action 'wipe-disk' is not in the action library"
    ]
    path.write_text("client: acme\nplan: {name: Standard}\nremediation:\n  free: [clean-temp]\n")
    [parsed] = check([path])
    assert parsed.problems == [f"{path}:4: remediation.free: unknown key"]
    # Without the library (upkeep contract check when it does not load) any name is taken.
    path.write_text("client: acme\nplan: {name: Standard}\nremediation: {standard: [x]}\n")
    [parsed] = check([path])
    assert parsed.problems == [] and parsed.contract is not None
    assert parsed.contract.fix_is_standard("x") and parsed.contract.fix_is_standard("y")
