"""``upkeep report`` as a subprocess (the installed console script) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collector.reports.archive import list_reports

UPKEEP = shutil.which("upkeep", path=str(Path(sys.executable).parent)) or shutil.which("upkeep")


@pytest.fixture
def upkeep(scenario_store, tmp_path):
    if UPKEEP is None:
        pytest.skip("the upkeep console script is not installed (pip install -e .[collector])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
    env.update(
        UPKEEP_DATABASE_URL=scenario_store.engine.url.render_as_string(hide_password=False),
        UPKEEP_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="200",
    )

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [UPKEEP, "report", *args], env=env, capture_output=True, timeout=120, cwd=tmp_path
        )
        assert proc.returncode == code, (
            f"upkeep report {args} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
        return proc

    return run


def test_one_client_to_a_file_and_to_stdout(upkeep, tmp_path, scenario_store):
    out = tmp_path / "acme.html"
    proc = upkeep("--client", "acme", "--period", "2026-10", "--format", "html", "--out", str(out))
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "UPK-acme-2" in page
    assert str(out) in proc.stdout.decode()
    doc = json.loads(
        upkeep("--client", "acme", "--period", "2026-10", "--format", "json", "--out", "-").stdout
    )
    assert doc["sections"]["points"]["closing"] == 6200
    # Default file name, in the working directory; --archive also keeps it in the archive.
    upkeep("--client", "acme", "--period", "2026-10", "--format", "csv", "--archive")
    assert (tmp_path / "acme-2026-10.csv").read_text().startswith("section,field,value")
    # The archive is in the database (any replica serves it), not in the data directory.
    with scenario_store.read() as conn:
        archived = [
            r for r in list_reports(conn, "acme") if (r.period, r.format) == ("2026-10", "csv")
        ]
    assert len(archived) == 1
    assert not (tmp_path / "data" / "reports" / "acme").exists()


def test_every_client_with_progress(upkeep, tmp_path):
    proc = upkeep("--period", "2026-10", "--format", "json", "--out", str(tmp_path / "all"))
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == [
        "acme-2026-10.json",
        "other-2026-10.json",
    ]
    assert "2 report(s)" in proc.stdout.decode()


def test_errors_have_exit_codes(upkeep):
    assert (
        "no client named 'nobody'"
        in upkeep("--client", "nobody", "--period", "2026-10", code=3).stderr.decode()
    )
    assert "YYYY-MM" in upkeep("--client", "acme", "--period", "2026-13", code=2).stderr.decode()
    assert (
        "--format"
        in upkeep(
            "--client", "acme", "--period", "2026-10", "--format", "doc", code=2
        ).stderr.decode()
    )
