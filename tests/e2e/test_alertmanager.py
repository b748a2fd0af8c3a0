"""A real Alertmanager (Debian's ``prometheus-alertmanager``) notifies a running collector:
a firing alert becomes an ``external`` incident, its resolution resolves it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from servers.alertmanager import AlertmanagerServer, alertmanager_binary
from servers.collector import CollectorProcess, last_line, provision

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        alertmanager_binary() is None,
        reason="alertmanager not installed (Debian package prometheus-alertmanager; "
        "scripts/test-system-deps)",
    ),
]


def wait_for(fetch: Any, check: Any, timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout}s")
        time.sleep(0.2)


def test_alertmanager_opens_and_resolves_an_incident(tmp_path):
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        receiver = last_line(
            collector.cli("token", "create", "--alertmanager", "--name", "am").stdout
        )
        headers = {"Authorization": f"Bearer {creds.admin_token}"}

        def incidents() -> list[dict[str, Any]]:
            resp = httpx.get(
                f"{collector.url}/api/v1/incidents", params={"origin": "external"}, headers=headers
            )
            resp.raise_for_status()
            return resp.json()

        with AlertmanagerServer(
            tmp_path / "am", f"{collector.url}/api/v1/alertmanager", receiver
        ) as am:
            started = datetime.now(UTC) - timedelta(seconds=5)
            alert = {
                "labels": {
                    "alertname": "UpsOnBattery",
                    "client": "acme",
                    "instance": "ups1:9100",
                    "severity": "critical",
                },
                "annotations": {"summary": "UPS ups1 runs on battery"},
                "startsAt": started.isoformat(),
                "generatorURL": "http://prometheus.example/graph",
            }
            am.post_alerts([alert])
            try:
                [incident] = wait_for(
                    incidents, lambda rows: len(rows) == 1, what="incident opened"
                )
            except AssertionError:
                raise AssertionError(f"{am.log_tail()}\n{collector.log_tail()}") from None
            assert (incident["client"], incident["asset"], incident["rule"]) == (
                "acme",
                "ups1:9100",
                "UpsOnBattery",
            )
            assert (incident["state"], incident["priority"], incident["title"]) == (
                "open",
                "major",
                "UPS ups1 runs on battery",
            )

            am.post_alerts(
                [{**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}]
            )
            [resolved] = wait_for(
                incidents,
                lambda rows: rows and rows[0]["state"] == "resolved",
                what="incident resolved",
            )
            assert resolved["key"] == incident["key"] and resolved["resolved_at"] is not None
            detail = httpx.get(
                f"{collector.url}/api/v1/incidents/{incident['key']}", headers=headers
            ).json()
            assert [e["type"] for e in detail["events"]][:1] == ["opened"]
            assert detail["events"][-1]["type"] == "resolved"


def test_one_notification_with_an_unknown_client_applies_the_known_alerts(tmp_path):
    """Alertmanager groups alerts of two clients into one notification; one client is not
    known to Upkeep: the known client's incident opens, the unknown alert is counted."""
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        receiver = last_line(
            collector.cli("token", "create", "--alertmanager", "--name", "am").stdout
        )
        headers = {"Authorization": f"Bearer {creds.admin_token}"}

        def incidents() -> list[dict[str, Any]]:
            resp = httpx.get(
                f"{collector.url}/api/v1/incidents", params={"origin": "external"}, headers=headers
            )
            resp.raise_for_status()
            return resp.json()

        def unknown() -> float:
            for line in httpx.get(f"{collector.url}/metrics").text.splitlines():
                if line.startswith("upkeep_alertmanager_alerts_unknown_client_total "):
                    return float(line.split()[1])
            raise AssertionError("metric not exposed")

        with AlertmanagerServer(
            tmp_path / "am",
            f"{collector.url}/api/v1/alertmanager",
            receiver,
            group_by=["alertname"],
            group_wait="2s",
        ) as am:
            started = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
            am.post_alerts(
                [
                    {
                        "labels": {"alertname": "NodeDown", "client": client, "instance": host},
                        "annotations": {"summary": f"{host} is down"},
                        "startsAt": started,
                    }
                    for client, host in (("acme", "srv1:9100"), ("initech", "db1:9100"))
                ]
            )
            try:
                [incident] = wait_for(
                    incidents, lambda rows: len(rows) == 1, what="incident opened"
                )
                wait_for(unknown, lambda n: n == 1, what="unknown alerts counted")
            except AssertionError:
                raise AssertionError(f"{am.log_tail()}\n{collector.log_tail()}") from None
            assert (incident["client"], incident["asset"]) == ("acme", "srv1:9100")
    log = collector.log_path.read_text()
    assert "1 of 2 alerts not applied: unknown client 'initech'" in log
