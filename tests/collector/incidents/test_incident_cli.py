"""``upkeep incident`` against a store: report via the service, work it from the CLI."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

from typer.testing import CliRunner

from collector.cli import app
from collector.incidents.service import IncidentService
from collector.store import Store


def run_cli(*args: str, env: dict[str, str], check: bool = True) -> SimpleNamespace:
    result = CliRunner().invoke(app, list(args), env=env)
    if check:
        assert result.exit_code == 0, result.output
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_cli_works_an_incident(tmp_path) -> None:
    env = {k: "" for k in os.environ if k.startswith("UPKEEP_")}
    env["UPKEEP_DATA_DIR"] = str(tmp_path)
    run_cli("client", "add", "acme", env=env)
    store = Store.from_url(f"sqlite:///{tmp_path / 'upkeep.db'}")
    key = IncidentService(store).report(client="acme", title="Scanner offline", actor="alice")
    store.dispose()
    for args in (
        ["ack", key, "--by", "bob"],
        ["assign", key, "bob", "--by", "bob"],
        ["comment", key, "restarted the service", "--by", "bob"],
        ["log-time", key, "20", "--work-type", "remote", "--by", "bob"],
        ["cause", key, "software", "--by", "bob"],
        ["resolve", key, "--note", "driver updated", "--by", "bob"],
        ["close", key, "--by", "bob"],
    ):
        run_cli("incident", *args, env=env)
    assert key in run_cli("incident", "list", "--client", "acme", env=env).stdout
    shown = json.loads(run_cli("incident", "show", key, env=env).stdout)
    assert shown["state"] == "closed" and shown["cause"] == "software"
    assert shown["time_entries"][0]["minutes"] == 20
    bad = run_cli("incident", "cause", key, "gremlins", "--by", "bob", env=env, check=False)
    assert bad.returncode != 0 and "cause must be one of" in bad.stderr
