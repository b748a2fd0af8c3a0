"""``upkeep contract check|apply|show|list`` and ``upkeep preventive record|list|tasks``."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import yaml
from typer.testing import CliRunner

from collector.cli import app

SAMPLE = Path(__file__).resolve().parents[3] / "collector" / "contracts" / "sample-contract.yaml"


def make_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: "" for k in os.environ if k.startswith("UPKEEP_")}
    env.update(UPKEEP_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def upkeep(env: dict[str, str], *args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def test_check_reports_file_line_problems_and_exits_1(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        client: acme
        plan: {name: Basic}
        calendar:
          holidays: {country: DE, subdivision: XX}
        points: {allotment: 10, rollover: {policy: up_to}}
        """)
    )
    result = upkeep(env, "contract", "check", str(bad), str(SAMPLE), code=1)
    assert (
        f"{bad}:4: calendar.holidays.subdivision: subdivision 'XX' is not one of DE's"
        in result.stderr
    )
    assert (
        f"{bad}:5: points.rollover.policy: max goes with policy: up_to (and only with it)"
        in result.stderr
    )
    assert "2 error(s) in 1 file(s)" in result.stderr
    ok = upkeep(env, "contract", "check", str(SAMPLE))
    assert "OK: 1 contract file(s) (clients not checked: no store at" in ok.stdout


def test_check_asks_the_store_for_clients_then_apply_show_list(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    upkeep(env, "client", "add", "acme")
    copy = tmp_path / "initech.yaml"
    copy.write_text(SAMPLE.read_text().replace("client: acme", "client: initech"))
    missing = upkeep(env, "contract", "check", str(copy), code=1)
    assert f"{copy}:" in missing.stderr and "client: no client named 'initech'" in missing.stderr
    assert (
        "clients not checked: --no-store"
        in upkeep(env, "contract", "check", "--no-store", str(copy)).stdout
    )
    assert upkeep(env, "contract", "check", str(SAMPLE)).stdout.strip() == "OK: 1 contract file(s)"

    assert "no client named 'initech'" in upkeep(env, "contract", "apply", str(copy), code=3).stderr
    assert (
        "Applied the contract of 'acme' (version 1)"
        in upkeep(env, "contract", "apply", str(SAMPLE)).stdout
    )
    shown = upkeep(env, "contract", "show", "acme").stdout
    assert shown.startswith(f"# version 1, from {SAMPLE.resolve()}, by cli")
    assert yaml.safe_load(shown)["calendar"]["timezone"] == "Europe/Berlin"
    assert json.loads(upkeep(env, "contract", "show", "acme", "--json").stdout)["client"] == "acme"
    assert "acme" in upkeep(env, "contract", "list").stdout
    upkeep(env, "client", "add", "globex")
    assert "has no contract" in upkeep(env, "contract", "show", "globex", code=3).stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("client: acme\nplan: {name: Basic}\nsla: {urgent: {response: 1h}}\n")
    assert (
        f"{broken}:3: sla.urgent: unknown key"
        in upkeep(env, "contract", "apply", str(broken), code=78).stderr
    )


def test_apply_refuses_a_contract_managed_by_a_contracts_paths_file(tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    managed = folder / "acme.yaml"
    managed.write_text(SAMPLE.read_text())
    env = make_env(tmp_path, UPKEEP_CONTRACTS_PATHS=str(folder))
    upkeep(env, "client", "add", "acme")
    upkeep(env, "contract", "apply", str(managed))  # the managing file itself may be applied
    other = tmp_path / "elsewhere.yaml"
    other.write_text(SAMPLE.read_text().replace("Business Care", "Cheap Care"))
    refused = upkeep(env, "contract", "apply", str(other), code=4)
    assert f"managed by the file {managed.resolve()}" in refused.stderr


def test_preventive_record_list_tasks(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    upkeep(env, "client", "add", "acme")
    upkeep(env, "contract", "apply", str(SAMPLE))
    out = upkeep(
        env,
        "preventive",
        "record",
        "acme",
        "printer-cleaning",
        "--minutes",
        "30",
        "--note",
        "all three printers",
        "--by",
        "bob",
    ).stdout
    assert "Recorded 'printer-cleaning' for 'acme': Clean the printers" in out
    listed = upkeep(env, "preventive", "list", "acme").stdout
    assert "Clean the printers" in listed and "1 item(s), 30 min" in listed
    [line] = upkeep(env, "preventive", "list", "acme", "--json").stdout.splitlines()
    assert json.loads(line)["actor"] == "bob"
    tasks = upkeep(env, "preventive", "tasks", "acme").stdout
    assert "printer-cleaning" in tasks and "verify-backups" in tasks and "OVERDUE" in tasks
    assert (
        "no maintenance task 'nope'"
        in upkeep(
            env, "preventive", "record", "acme", "nope", "--minutes", "5", "--by", "bob", code=3
        ).stderr
    )
