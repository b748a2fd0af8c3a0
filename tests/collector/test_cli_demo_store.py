"""``upkeep`` next to a running ``make demo`` (a real subprocess in a temp working directory):
with no store configured it uses ``./.upkeep-demo``; an empty store is named on stderr."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from collector.demo import write_env
from collector.settings import Settings
from collector.store import Store
from tests.collector.test_collector_cli import UPKEEP


def _run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UPKEEP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    if UPKEEP is None:
        pytest.skip("the upkeep console script is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    # Where the store would be without the demo lookup: a home of its own, kept empty.
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "home" / "xdg"))
    env["COLUMNS"] = "200"
    return env


def test_the_cli_uses_the_demo_store_of_the_working_directory(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    work = tmp_path / "checkout"
    demo = work / ".upkeep-demo"
    demo.mkdir(parents=True)
    store = Store.from_settings(Settings.for_data_dir(demo))
    store.upgrade()
    store.dispose()
    env_file = write_env(demo.resolve())

    added = _run(work, "client", "add", "demo", env=clean_env)
    assert added.returncode == 0, added.stderr
    assert f"using the demo's store in {demo.resolve()}" in added.stderr
    listed = _run(work, "client", "list", env=clean_env)
    assert "demo" in listed.stdout
    # The user home's store was never touched.
    assert not (tmp_path / "home" / "xdg" / "upkeep" / "upkeep.db").exists()

    # JSON output stays clean: notes go to stderr only.
    incidents = _run(work, "incident", "list", "--json", env=clean_env)
    assert incidents.returncode == 0, incidents.stderr
    assert all(json.loads(line) for line in incidents.stdout.splitlines())
    assert "demo's store" in incidents.stderr

    # The demo's env file names the same store, for a shell elsewhere.
    assert f"export UPKEEP_DATA_DIR={demo.resolve()}" in env_file.read_text()

    # A configured store wins over the demo's.
    other = tmp_path / "other"
    configured = _run(work, "client", "list", env={**clean_env, "UPKEEP_DATA_DIR": str(other)})
    assert configured.returncode == 0, configured.stderr
    assert "demo" not in configured.stdout and "demo's store" not in configured.stderr
    assert f"the store sqlite:///{other}/upkeep.db is empty" in configured.stderr


def test_an_empty_store_is_named_on_stderr(tmp_path: Path, clean_env: dict[str, str]) -> None:
    answer = _run(tmp_path, "incident", "list", "--json", env=clean_env)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == ""
    where = tmp_path / "home" / "xdg" / "upkeep" / "upkeep.db"
    assert f"the store sqlite:///{where} is empty (no clients)" in answer.stderr
