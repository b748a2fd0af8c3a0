"""The wheel carries everything an installed agent or collector needs beside the code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_data_files(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("upkeep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "upkeep-0.1.0.data/data/share/upkeep/rules/"
    for pack in ("servers", "agents", "printers", "network", "ups"):
        assert f"{data}{pack}.yaml" in names  # default rule packs → <prefix>/share/upkeep/rules
    assert f"{data}rule-file.schema.json" in names
    assert "upkeep-0.1.0.data/data/share/upkeep/actions/defaults.yaml" in names
    assert "collector/migrations/versions/0001_initial.py" in names
    assert "collector/migrations/env.py" in names
    assert "agent/snmp/profiles/printer.yaml" in names
    assert "agent/sample-config.yaml" in names
    assert not any(n.startswith("tests/") for n in names)
