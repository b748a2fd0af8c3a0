"""The agent install scripts served by the collector (collector/install_scripts.py): the
collector's address filled in, no token in the (cacheable) text, shellcheck-clean, and the
command the onboarding page shows runs exactly the served script (here in its --dry-run mode
against a temporary prefix, on a real ``upkeep serve``)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from collector import admin
from collector.api import install_error_handlers
from collector.install_scripts import install_commands, router, script_text
from collector.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _app(public_url: str | None) -> TestClient:
    app = FastAPI()
    app.state.settings = Settings.model_validate({"public_url": public_url})
    app.include_router(router)
    install_error_handlers(app)  # the API's JSON error answers, as in the whole app
    return TestClient(app)


def test_served_scripts_carry_the_collector_address_and_no_secret() -> None:
    client = _app(None)
    sh = client.get("/install/agent.sh")
    assert sh.status_code == 200 and sh.headers["content-type"].startswith("text/x-shellscript")
    assert "max-age" in sh.headers["cache-control"]
    assert "COLLECTOR_URL=http://testserver\n" in sh.text
    assert re.search(r"upk_[A-Za-z0-9_-]{8,}", sh.text) is None  # no token, only the example
    assert client.get("/install/agent.sh").text == sh.text  # the same text for every caller
    ps1 = client.get("/install/agent.ps1")
    assert ps1.status_code == 200 and "$UpkeepCollectorUrl = 'http://testserver'" in ps1.text
    # public_url wins over the address asked at; an address with a quote stays one word.
    configured = _app("https://mon.example.net").get("/install/agent.sh").text
    assert "COLLECTOR_URL=https://mon.example.net\n" in configured
    assert "COLLECTOR_URL='https://x/a'\"'\"'b'" in script_text("agent.sh", "https://x/a'b")
    assert "$UpkeepCollectorUrl = 'https://x/a''b'" in script_text("agent.ps1", "https://x/a'b")
    missing = client.get("/install/agent.exe")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert "agent.ps1, agent.sh" in missing.json()["detail"]
    # Everything else is the file in the repository (deploy/install links to it).
    for name, path in (("agent.sh", "install-agent.sh"), ("agent.ps1", "install-agent.ps1")):
        shipped = (ROOT / "deploy/install" / path).read_text()
        served = client.get(f"/install/{name}").text
        assert served != shipped
        assert [a for a in served.splitlines() if a not in shipped.splitlines()] == [
            line for line in served.splitlines() if "http://testserver" in line
        ]


def test_served_shell_script_is_shellcheck_clean(tmp_path: Path) -> None:
    path = tmp_path / "agent.sh"
    path.write_text(script_text("agent.sh", "https://mon.example.net"))
    subprocess.run(["sh", "-n", str(path)], check=True)
    subprocess.run(["bash", "-n", str(path)], check=True)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian package; scripts/test-system-deps)")
    proc = subprocess.run([shellcheck, "-s", "sh", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_install_command_commands_quote_their_parts() -> None:
    commands = install_commands("https://mon.example.net", "upk_a'b", "office a")
    assert commands["linux"] == (
        "curl -fsSL https://mon.example.net/install/agent.sh | "
        "sudo UPKEEP_AGENT_TOKEN='upk_a'\"'\"'b' sh -s -- --site 'office a'"
    )
    assert commands["windows"] == (
        "$env:UPKEEP_AGENT_TOKEN = 'upk_a''b'; irm 'https://mon.example.net/install/agent.ps1' "
        "| iex; Install-UpkeepAgent -Site 'office a'"
    )


@pytest.mark.slow
def test_the_shown_command_runs_the_served_script(tmp_path: Path) -> None:
    """The Linux command of a new token, run as shown (curl from a real collector, piped into
    sh) with --dry-run and a temporary prefix: it installs for this collector and site."""
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    from tests.servers.collector import CollectorProcess

    with CollectorProcess(tmp_path / "collector") as server:
        server.cli("client", "add", "acme")
        store_token: Any = None
        from collector.store import Store

        store = Store.from_url(f"sqlite:///{server.data_dir / 'upkeep.db'}")
        try:
            _, store_token = admin.create_token(store, client="acme")
        finally:
            store.dispose()
        command = install_commands(server.url, store_token, "office-a")["linux"]
        assert command.startswith(f"curl -fsSL {server.url}/install/agent.sh | sudo ")
        # No sudo here (the tests run as the user they are); the rest runs as shown.
        runnable = command.replace("| sudo ", "| env ", 1)
        runnable += " --dry-run " + " ".join(
            shlex.quote(a)
            for a in ("--prefix", str(tmp_path / "venv"), "--etc", str(tmp_path / "etc"))
        )
        proc = subprocess.run(
            ["sh", "-c", runnable],
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"+ {sys.executable} -m venv {tmp_path / 'venv'}" in lines
    assert (
        f"+ write {tmp_path / 'etc'}/agent.token (0640) and {tmp_path / 'etc'}/agent.yaml (0640): "
        f"collector {server.url}, site office-a"
    ) in lines
    assert not (tmp_path / "etc").exists()  # a dry run writes nothing
