"""The whole path in one app (SQLite and PostgreSQL): agent batches → rule fires → incident
(out-of-scope assets labelled by the contract) → the value recovers → the rule resolves it →
a preventive item with the metric before and after, listed by the API."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from collector import admin
from collector.api import create_app
from collector.incidents import noise
from collector.settings import Settings

RULES = """\
rules:
  - id: flow-disk
    metric: disk_used_percent
    warning: "> 85"
    priority: {warning: minor}
    labels: {team: ops}
    summary: "{asset}: disk {mountpoint} is {value:.0f}% full"
"""

CONTRACT = {
    "client": "acme",
    "plan": {"name": "Basic"},
    "scope": {
        "exclude": [{"tag": "leased", "description": "servers leased from a third party"}],
        "out_of_scope": "billable",
    },
}


@pytest.fixture(autouse=True)
def _restore_noise_control():
    previous = noise.control()
    yield
    noise.configure(previous)


def test_rule_incident_resolved_before_anyone_called_shows_as_preventive_work(
    store, db_url, tmp_path, kit
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "flow.yaml").write_text(RULES)
    tenant = kit.add_tenant(store, "acme")
    _, admin_token = admin.create_token(store, admin=True)
    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, rules_paths=[rules], rules_watch_interval=0
    )
    agent_id, seq = str(uuid.uuid4()), 0
    host = [{"name": "srv1", "kind": "host"}, {"name": "srv9", "kind": "host", "tags": ["leased"]}]

    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as http:
        h = {"Authorization": f"Bearer {admin_token}"}
        assert http.put("/api/v1/contracts/acme", json=CONTRACT, headers=h).status_code == 200

        def push(root: float, data: float) -> None:
            nonlocal seq
            seq += 1
            now = time.time()
            batch = kit.make_batch(
                [
                    kit.sample(
                        "srv1",
                        "disk_used_percent",
                        root,
                        now,
                        mountpoint="/",
                        device="sda1",
                        fstype="ext4",
                    ),
                    kit.sample(
                        "srv1",
                        "disk_used_percent",
                        data,
                        now,
                        mountpoint="/data",
                        device="sdb1",
                        fstype="ext4",
                    ),
                    kit.sample(
                        "srv9",
                        "disk_used_percent",
                        root,
                        now,
                        mountpoint="/",
                        device="sda1",
                        fstype="ext4",
                    ),
                ],
                assets=host,
                agent_id=agent_id,
                seq=seq,
            )
            answer = http.post(
                "/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {tenant.token}"}
            )
            assert answer.status_code == 200, answer.text

        push(93.0, 40.0)
        opened = {i["asset"]: i for i in http.get("/api/v1/incidents", headers=h).json()}
        assert set(opened) == {"srv1", "srv9"}
        leased = http.get(f"/api/v1/incidents/{opened['srv9']['key']}", headers=h).json()
        assert (
            leased["labels"]["scope"] == "out-of-scope"
            and leased["labels"]["scope_policy"] == "billable"
        )
        assert [e["data"]["reason"] for e in leased["events"] if e["type"] == "out_of_scope"] == [
            "servers leased from a third party"
        ]
        push(61.0, 41.0)
        states = {i["asset"]: i["state"] for i in http.get("/api/v1/incidents", headers=h).json()}
        assert states == {"srv1": "resolved", "srv9": "resolved"}
        items = {
            i["asset"]: i for i in http.get("/api/v1/clients/acme/preventive", headers=h).json()
        }
    assert items["srv1"]["evidence"]["text"] == "disk / on srv1: 93 % → 61 %"
    assert (
        items["srv1"]["kind"] == "incident"
        and items["srv1"]["incident_key"] == opened["srv1"]["key"]
    )
    assert items["srv9"]["evidence"]["text"] == "disk / on srv9: 93 % → 61 %"
