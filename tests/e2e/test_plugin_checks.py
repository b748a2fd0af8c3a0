"""End to end: a real agent process runs real monitoring-plugins, a real collector applies
the shipped ``rules/plugins.yaml``, and the incident quotes the plugin's own text.

Ties both ends of the plugin contract: what the agent emits (``plugin_state{name}`` and the
``plugin_output`` event) is what the pack matches and quotes.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from servers.collector import CollectorProcess, provision

from tests.e2e.incident_kit import api, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path("/usr/lib/nagios/plugins")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (PLUGINS / "check_tcp").exists(), reason="monitoring-plugins not installed")
def test_a_critical_plugin_becomes_an_incident_with_its_text(tmp_path: Path) -> None:
    rules = tmp_path / "conf" / "rules"
    rules.mkdir(parents=True)
    shutil.copy(ROOT / "rules" / "plugins.yaml", rules / "plugins.yaml")
    # The shipped pack as it is, with its `for` shortened by an override (as an admin would).
    (rules / "fast.yaml").write_text(
        yaml.safe_dump({"overrides": [{"rule": "plugin-problem", "for": "0s"}]})
    )
    settings = tmp_path / "conf" / "settings.yaml"
    settings.write_text(yaml.safe_dump({"rules_paths": [str(rules)], "rules_watch_interval": 0}))
    port = closed_port()
    with CollectorProcess(tmp_path / "c", config=settings) as collector:
        creds = provision(collector, "acme")
        config = tmp_path / "agent.yaml"
        config.write_text(
            json.dumps(
                {
                    "collector": {"url": collector.url, "token": creds.agent_token},
                    "asset_name": "plug-host",
                    "state_dir": str(tmp_path / "agent-state"),
                    "spool": {"flush_interval": "1s"},
                    "checks": {
                        "plugin": {
                            "interval": "1s",
                            "items": [
                                {
                                    "name": "smtp",
                                    "command": [
                                        str(PLUGINS / "check_tcp"),
                                        "-H",
                                        "127.0.0.1",
                                        "-p",
                                        str(port),
                                    ],
                                    "timeout": "5s",
                                },
                                {"name": "fine", "command": [str(PLUGINS / "check_dummy"), "0"]},
                            ],
                        }
                    },
                }
            )
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            incidents = wait_for(
                lambda: [
                    i
                    for i in api(collector, creds.admin_token, "GET", "/api/v1/incidents")
                    if i["rule"] == "plugin-problem"
                ],
                60,
                "the plugin incident",
            )
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.communicate(timeout=30)
        detail = api(
            collector, creds.admin_token, "GET", f"/api/v1/incidents/{incidents[0]['key']}"
        )
    assert len(incidents) == 1, "the OK plugin opens nothing"
    assert detail["labels"]["name"] == "smtp"
    assert detail["severity"] == "critical" and detail["priority"] == "major"
    expected = f"connect to address 127.0.0.1 and port {port}: Connection refused"
    assert detail["title"] == f"plug-host: smtp critical: {expected}"
    assert expected in detail["description"]
