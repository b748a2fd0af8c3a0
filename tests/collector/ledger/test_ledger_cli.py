"""``upkeep ledger`` and ``upkeep request`` (and ``upkeep incident charge``) against a store."""

from __future__ import annotations

import os
import re

from typer.testing import CliRunner

from collector.cli import app
from collector.store import Store
from tests.collector.ledger.ledgerkit import give_contract


def run(*args: str, env: dict[str, str], code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_ledger_and_requests(tmp_path) -> None:
    env = {k: "" for k in os.environ if k.startswith("UPKEEP_")}
    env["UPKEEP_DATA_DIR"] = str(tmp_path)
    env["UPKEEP_PUBLIC_URL"] = "https://upkeep.example.com"
    run("client", "add", "acme", env=env)
    store = Store.from_url(f"sqlite:///{tmp_path / 'upkeep.db'}")
    give_contract(store, "acme")
    store.dispose()

    assert "top-up 10 points; balance 30.00" in run(
        "ledger", "topup", "10", "--client", "acme", "--by", "bob", "--reason", "invoice 7", env=env
    )
    assert "balance 29.50" in run(
        "ledger",
        "adjust",
        "--client",
        "acme",
        "--by",
        "alice",
        "--reason",
        "fix",
        "--",
        "-0.5",
        env=env,
    )
    run(
        "ledger",
        "topup",
        "1.234",
        "--client",
        "acme",
        "--by",
        "b",
        "--reason",
        "r",
        env=env,
        code=2,
    )
    run("ledger", "topup", "1", "--client", "nobody", "--by", "b", "--reason", "r", env=env, code=3)

    out = run(
        "request",
        "create",
        "--client",
        "acme",
        "Install scanner",
        "--by",
        "desk",
        "--requested-by",
        "Jane",
        "--estimate-minutes",
        "60",
        "--work-type",
        "onsite",
        env=env,
    )
    key = re.search(r"(REQ-acme-\d+): awaiting_approval", out).group(1)
    run("request", "log-time", key, "30", "--by", "bob", env=env, code=2)  # not approved yet
    assert "approved 1.50" in run("request", "approve", key, "--by", "Jane (phone)", env=env)
    run("request", "log-time", key, "50", "--by", "bob", env=env)
    assert "charged 1.50" in run(
        "request", "complete", key, "--by", "bob", env=env
    )  # 60 min onsite
    assert key in run("request", "list", "--client", "acme", env=env)
    assert '"decided_via": "phone"' in run("request", "show", key, env=env)

    # An incident resolved from the CLI is charged; an override from the CLI reverses it.
    from collector.incidents.service import IncidentService

    store = Store.from_url(f"sqlite:///{tmp_path / 'upkeep.db'}")
    incident = IncidentService(store).report(client="acme", title="user error", actor="desk")
    store.dispose()
    run("incident", "log-time", incident, "60", "--by", "bob", env=env)
    run("incident", "cause", incident, "client_error", "--by", "bob", env=env)
    run("incident", "resolve", incident, "--by", "bob", env=env)
    assert "charge_set" in run(
        "incident", "charge", incident, "--free", "--reason", "goodwill", "--by", "carol", env=env
    )
    run(
        "incident",
        "charge",
        incident,
        "--free",
        "--points",
        "1",
        "--reason",
        "x",
        "--by",
        "c",
        env=env,
        code=2,
    )

    shown = run("ledger", "show", "--client", "acme", env=env)
    assert "Opening balance" in shown and "Closing balance" in shown
    assert f"charge     {key}" in shown and "time entry" in shown
    assert (
        len([line for line in shown.splitlines() if f"charge     {incident}" in line]) == 2
        and "goodwill" in shown
    )
    assert re.search(r"Closing balance\s+28\.00", shown)  # 20 + 10 - 0.5 - 1.5 - 1 + 1
    assert "OVERDRAFT" not in shown
