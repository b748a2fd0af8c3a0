"""End to end: remediation with a real collector (uvicorn, SQLite) and real agent processes.

* A disk-usage alert on a size-limited tmpfs mounted here triggers ``clean-temp``
  automatically; usage drops, the incident resolves, the preventive record shows the
  evidence (free before → after, files removed).
* ``technician`` policy through the API ("Run fix"); refusals: an action not allowed, a
  task signed with another key, another client's token (poll and result).
* The agent killed while a task runs: it is not run again, and reported failed.
* The collector down while a result is pending: the result arrives when it is back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from servers.collector import CollectorProcess, create_agent_token, create_client, provision

from collector.remediation.keys import generate_key
from tests.e2e.incident_kit import api, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A 8 MiB tmpfs (root only); unmounted after the test."""
    point = tmp_path / "full"
    point.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0777", "tmpfs", str(point)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def fill(folder: Path, mib: int, age_days: float, prefix: str) -> None:
    when = time.time() - age_days * 86400
    for i in range(mib * 4):
        path = folder / f"{prefix}{i:04d}.tmp"
        path.write_bytes(b"\0" * (256 * 1024))
        os.utime(path, (when, when))


def collector_settings(tmp_path: Path, rules: str, key: str) -> Path:
    conf = tmp_path / "conf"
    (conf / "rules").mkdir(parents=True)
    (conf / "rules" / "e2e.yaml").write_text(rules)
    (conf / "key").write_text(key + "\n")
    os.chmod(conf / "key", 0o600)
    settings = conf / "settings.yaml"
    settings.write_text(
        yaml.safe_dump({"rules_paths": [str(conf / "rules")], "rules_watch_interval": 0})
    )
    return settings


def agent_config(
    tmp_path: Path, url: str, token: str, name: str, checks: dict, allow: list[str], **actions
) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        json.dumps(
            {
                "collector": {"url": url, "token": token},
                "asset_name": name,
                "state_dir": str(tmp_path / f"{name}-state"),
                "spool": {"flush_interval": "1s"},
                "checks": checks,
                "actions": {"allow": allow, "poll_interval": "1s", **actions},
            }
        )
    )
    return path


def start_agent(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_agent(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err.decode(errors="replace")


DISK_RULE = """
rules:
  - id: e2e-disk-full
    metric: disk_used_percent
    where: {{mountpoint: "{mount}"}}
    warning: "> 70"
    clear: "< 50"
    priority: minor
    kind: capacity
    summary: "{{asset}}: {{mountpoint}} is {{value:.0f}}% full"
    remediate:
      action: clean-temp
      params: {{path: "{{mountpoint}}", older_than_days: 1}}
      policy: auto
      max_per_day: 2
  - id: e2e-service
    metric: plugin_state
    critical: "== 2"
    priority: major
    kind: outage
    summary: "{{asset}}: {{name}} down"
    remediate: {{action: run-script, params: {{script: fix.sh}}, policy: technician}}
"""


def test_a_full_disk_is_cleaned_automatically_and_recorded(tmp_path: Path, tmpfs: Path) -> None:
    fill(tmpfs, 6, age_days=3, prefix="old")  # 6 of 8 MiB: 75 %
    fresh = tmpfs / "today.tmp"
    fresh.write_bytes(b"\0" * 4096)
    key = generate_key()
    settings = collector_settings(tmp_path, DISK_RULE.format(mount=tmpfs), key)
    with CollectorProcess(
        tmp_path / "c",
        config=settings,
        env={"UPKEEP_TASK_SIGNING_KEY_FILE": str(tmp_path / "conf" / "key")},
    ) as collector:
        assert key not in collector.log_path.read_text()
        creds = provision(collector, "acme")
        checks = {
            "disk": {
                "interval": "1s",
                "exclude_fstypes": [],
                "include_mountpoints": [str(tmpfs)],
            }
        }
        config = agent_config(
            tmp_path, collector.url, creds.agent_token, "fileserver", checks, ["clean-temp"]
        )
        agent = start_agent(config)
        try:
            tasks = wait_for(
                lambda: [
                    t
                    for t in api(collector, creds.admin_token, "GET", "/api/v1/tasks")
                    if t["state"] == "succeeded"
                ],
                90,
                "the automatic clean-temp to succeed",
            )
            incident = wait_for(
                lambda: next(
                    (
                        i
                        for i in api(collector, creds.admin_token, "GET", "/api/v1/incidents")
                        if i["rule"] == "e2e-disk-full" and i["state"] == "resolved"
                    ),
                    None,
                ),
                60,
                "the incident to resolve",
            )
            preventive = wait_for(
                lambda: api(collector, creds.admin_token, "GET", "/api/v1/clients/acme/preventive"),
                30,
                "the preventive record",
            )
            detail = api(
                collector, creds.admin_token, "GET", f"/api/v1/incidents/{incident['key']}"
            )
            audit = api(
                collector, creds.admin_token, "GET", f"/api/v1/tasks/{tasks[0]['id']}/audit"
            )
        finally:
            err = stop_agent(agent)
    [task] = tasks
    assert task["action"] == "clean-temp" and task["policy"] == "auto"
    assert task["params"] == {"path": str(tmpfs), "older_than_days": 1, "pattern": "*"}
    assert task["exit_code"] == 0
    assert fresh.exists() and len(list(tmpfs.iterdir())) == 1, "only the old files go"
    assert "24 files removed" in task["evidence"]
    assert "free" in task["evidence"] and "→" in task["evidence"]
    [item] = preventive
    assert item["evidence"]["source"] == "remediation"
    assert item["evidence"]["after"] > item["evidence"]["before"] + 5 * 2**20
    assert item["evidence"]["text"].startswith(f"clean-temp on fileserver: {tmpfs} free ")
    assert "24 files removed" in item["evidence"]["text"]
    bodies = [e.get("data", {}).get("body", "") for e in detail["events"]]
    assert any("Automatic fix clean-temp queued" in b for b in bodies)
    assert any(b.startswith("Fix clean-temp succeeded on fileserver:") for b in bodies)
    assert [line["event"] for line in audit] == ["created", "delivered", "result"]
    assert audit[0]["actor"] == "rule:e2e-disk-full"
    assert f"task {task['id']}" in err and "clean-temp" in err  # the agent's local run log


SCRIPT = """#!/bin/sh
echo run >> "{runs}"
touch "{started}"
sleep {sleep}
echo "fixed it"
"""


def _script(folder: Path, runs: Path, started: Path, sleep: float) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "fix.sh"
    path.write_text(SCRIPT.format(runs=runs, started=started, sleep=sleep))
    path.chmod(0o755)
    return path


def _plugin_down() -> dict:
    return {
        "plugin": {
            "interval": "1s",
            "items": [{"name": "app", "command": ["/bin/sh", "-c", "echo APP CRITICAL; exit 2"]}],
        }
    }


def _task(collector, token, task_id):
    return api(collector, token, "GET", f"/api/v1/tasks/{task_id}")


def test_technician_fix_refusals_restart_and_outage(tmp_path: Path) -> None:
    key = generate_key()
    settings = collector_settings(tmp_path, DISK_RULE.format(mount="/nowhere"), key)
    runs, started = tmp_path / "runs.log", tmp_path / "started"
    scripts = tmp_path / "scripts"
    _script(scripts, runs, started, 4)
    with CollectorProcess(
        tmp_path / "c", config=settings, env={"UPKEEP_TASK_SIGNING_KEY": key}
    ) as collector:
        creds = provision(collector, "acme")
        config = agent_config(
            tmp_path,
            collector.url,
            creds.agent_token,
            "app01",
            _plugin_down(),
            ["run-script"],
            scripts_dir=str(scripts),
        )
        agent = start_agent(config)
        try:
            incident = wait_for(
                lambda: next(
                    (
                        i
                        for i in api(collector, creds.admin_token, "GET", "/api/v1/incidents")
                        if i["rule"] == "e2e-service"
                    ),
                    None,
                ),
                60,
                "the service incident",
            )
            # technician policy: nothing runs by itself
            assert api(collector, creds.admin_token, "GET", "/api/v1/tasks") == []
            # "Run fix" through the API
            task = api(
                collector,
                creds.admin_token,
                "POST",
                f"/api/v1/incidents/{incident['key']}/fix",
                json={},
            )
            assert task["policy"] == "technician" and task["action"] == "run-script"
            wait_for(lambda: started.exists(), 30, "the script to start")
            # the agent is killed while the task runs, and started again
            agent.send_signal(signal.SIGKILL)
            agent.wait(timeout=10)
            agent = start_agent(config)
            failed = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, task["id"]))["state"] != "delivered"
                    and t
                ),
                30,
                "the interrupted task's report",
            )
            assert failed["state"] == "failed"
            assert "restarted while this task was running" in failed["output"]
            time.sleep(2)  # rounds of polling go by: the task is never run again
            assert runs.read_text().count("run") == 1

            # an action the agent does not allow → refused, not run
            started.unlink()
            refused = api(
                collector,
                creds.admin_token,
                "POST",
                "/api/v1/tasks",
                json={
                    "client": "acme",
                    "asset": "app01",
                    "action": "clean-temp",
                    "params": {"path": str(tmp_path / "x")},
                },
            )
            refused = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, refused["id"]))["state"] == "refused"
                    and t
                ),
                30,
                "the refusal",
            )
            assert "not in this agent's actions.allow" in refused["output"]

            # the collector is down while the result is pending: it arrives afterwards
            _script(scripts, runs, started, 3)
            pending = api(
                collector,
                creds.admin_token,
                "POST",
                "/api/v1/tasks",
                json={
                    "client": "acme",
                    "asset": "app01",
                    "action": "run-script",
                    "params": {"script": "fix.sh"},
                },
            )
            wait_for(lambda: started.exists(), 30, "the second script to start")
            collector.stop()
            time.sleep(4)  # the script finishes while nobody listens
            collector.start()
            done = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, pending["id"]))["state"]
                    == "succeeded"
                    and t
                ),
                30,
                "the result after the outage",
            )
            assert done["output"].strip() == "fixed it" and done["exit_code"] == 0
            assert runs.read_text().count("run") == 2

            # another client's agent token: sees none of acme's tasks, cannot answer for them
            create_client(collector, "other")
            other = create_agent_token(collector, "other")
            queued = api(
                collector,
                creds.admin_token,
                "POST",
                "/api/v1/tasks",
                json={
                    "client": "acme",
                    "asset": "app01",
                    "action": "run-script",
                    "params": {"script": "nope.sh"},
                },
            )
            headers = {"Authorization": f"Bearer {other}"}
            polled = httpx.post(
                f"{collector.url}/api/v1/agent/tasks/poll", json={"asset": "app01"}, headers=headers
            )
            assert polled.status_code == 200 and polled.json() == {"tasks": []}
            answered = httpx.post(
                f"{collector.url}/api/v1/agent/tasks/{queued['id']}/result",
                json={"status": "succeeded"},
                headers=headers,
            )
            assert answered.status_code == 404
            # …and cannot create tasks at all (admin API)
            created = httpx.post(
                f"{collector.url}/api/v1/tasks",
                json={"client": "other", "asset": "app01", "action": "run-script"},
                headers=headers,
            )
            assert created.status_code == 403
            refused_script = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, queued["id"]))["state"]
                    in ("refused", "failed")
                    and t
                ),
                30,
                "the missing script's refusal",
            )
            assert "no script 'nope.sh'" in refused_script["output"]
        finally:
            stop_agent(agent)
        detail = api(collector, creds.admin_token, "GET", f"/api/v1/incidents/{incident['key']}")
    bodies = [e.get("data", {}).get("body", "") for e in detail["events"]]
    assert any("failed on app01" in b and "Left to the technician" in b for b in bodies)


def test_a_task_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    settings = collector_settings(tmp_path, "rules: []\n", generate_key())
    runs, started = tmp_path / "runs.log", tmp_path / "started"
    scripts = tmp_path / "scripts"
    _script(scripts, runs, started, 0)
    with CollectorProcess(
        tmp_path / "c", config=settings, env={"UPKEEP_TASK_SIGNING_KEY": generate_key()}
    ) as collector:
        creds = provision(collector, "acme")
        # the agent pinned another collector's key (as configured at enrolment)
        from collector.remediation.keys import TaskSigner

        pinned = TaskSigner(generate_key()).public_key()
        config = agent_config(
            tmp_path,
            collector.url,
            creds.agent_token,
            "app02",
            {"memory": {"interval": "1s"}},
            ["run-script"],
            scripts_dir=str(scripts),
            public_key=pinned,
        )
        agent = start_agent(config)
        try:
            wait_for(
                lambda: any(
                    a["name"] == "app02"
                    for a in api(collector, creds.admin_token, "GET", "/api/v1/assets")
                ),
                30,
                "the asset",
            )
            task = api(
                collector,
                creds.admin_token,
                "POST",
                "/api/v1/tasks",
                json={
                    "client": "acme",
                    "asset": "app02",
                    "action": "run-script",
                    "params": {"script": "fix.sh"},
                },
            )
            refused = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, task["id"]))["state"] == "refused"
                    and t
                ),
                30,
                "the refusal",
            )
        finally:
            stop_agent(agent)
    assert refused["output"] == "bad signature"
    assert not runs.exists()
    assert uuid.UUID(task["id"])


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def web_login(collector: CollectorProcess, username: str) -> tuple[httpx.Client, str]:
    web = httpx.Client(base_url=collector.url, follow_redirects=False, timeout=10)
    token = _CSRF.search(web.get("/ui/login").text).group(1)
    answer = web.post(
        "/ui/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return web, _CSRF.search(web.get("/ui/").text).group(1)


CLIENT_RULE = """
rules:
  - id: e2e-app
    metric: plugin_state
    critical: "== 2"
    priority: major
    kind: outage
    summary: "{asset}: {name} down"
    remediate: {action: run-script, params: {script: fix.sh}, policy: client}
"""


def test_client_policy_approved_in_the_portal_and_charged_once(tmp_path: Path) -> None:
    key = generate_key()
    settings = collector_settings(tmp_path, CLIENT_RULE, key)
    runs, started = tmp_path / "runs.log", tmp_path / "started"
    scripts = tmp_path / "scripts"
    _script(scripts, runs, started, 0)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    with CollectorProcess(
        tmp_path / "c", config=settings, env={"UPKEEP_TASK_SIGNING_KEY": key}
    ) as collector:
        creds = provision(collector, "acme")
        api(
            collector,
            creds.admin_token,
            "PUT",
            "/api/v1/contracts/acme",
            json={
                "client": "acme",
                "plan": {"name": "Standard"},
                "points": {
                    "allotment": 20,
                    "rates": {"default": 1},
                    "rounding": "15m",
                    "minimum_charge": "15m",
                },
            },
        )
        for user, role in (("tech", "technician"), ("jane", "client_viewer")):
            extra = ["--client", "acme"] if role == "client_viewer" else []
            collector.cli(
                "user", "add", user, "--role", role, *extra, "--password-file", str(tmp_path / "pw")
            )
        config = agent_config(
            tmp_path,
            collector.url,
            creds.agent_token,
            "app03",
            _plugin_down(),
            ["run-script"],
            scripts_dir=str(scripts),
        )
        agent = start_agent(config)
        try:
            incident = wait_for(
                lambda: next(
                    (
                        i
                        for i in api(collector, creds.admin_token, "GET", "/api/v1/incidents")
                        if i["rule"] == "e2e-app"
                    ),
                    None,
                ),
                60,
                "the incident",
            )
            # the technician presses "Run fix" on the incident page
            tech, csrf = web_login(collector, "tech")
            page = tech.get(f"/ui/incidents/{incident['key']}").text
            assert 'id="run-fix"' in page
            pressed = tech.post(f"/ui/fixes/{incident['key']}", data={"csrf_token": csrf})
            assert pressed.status_code == 303, pressed.text
            [task] = api(collector, creds.admin_token, "GET", "/api/v1/tasks")
            assert task["state"] == "awaiting_approval" and task["request_key"]
            time.sleep(3)  # polling rounds go by: nothing runs before the client approves
            assert not runs.exists()
            # the client approves the quote in the portal
            jane, csrf = web_login(collector, "jane")
            assert task["request_key"] in jane.get("/ui/requests").text
            approved = jane.post(
                f"/ui/requests/{task['request_key']}/approve",
                data={"csrf_token": csrf, "note": "ok"},
            )
            assert approved.status_code == 303, approved.text
            done = wait_for(
                lambda: (
                    (t := _task(collector, creds.admin_token, task["id"]))["state"] == "succeeded"
                    and t
                ),
                60,
                "the approved fix to run",
            )
            request = api(
                collector, creds.admin_token, "GET", f"/api/v1/requests/{task['request_key']}"
            )
            # the agent's result again (a retry): nothing changes, nothing is charged twice
            again = httpx.post(
                f"{collector.url}/api/v1/agent/tasks/{task['id']}/result",
                json={"status": "succeeded", "exit_code": 0},
                headers={"Authorization": f"Bearer {creds.agent_token}"},
            )
            assert again.status_code == 200
            ledger = api(collector, creds.admin_token, "GET", "/api/v1/clients/acme/ledger")
        finally:
            stop_agent(agent)
    assert done["policy"] == "client" and runs.read_text().count("run") == 1
    assert request["state"] == "done", request
    # 15 minutes at 1 point per hour, charged once
    assert ledger["charged"] == -25 and len(ledger["charges"]) == 1, ledger  # centipoints
