"""An installed wheel carries the report templates and the Russian catalog, and uses them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
from collector.reports import i18n, render
assert i18n.__file__.startswith(sys.argv[1]), i18n.__file__
assert i18n.translations("ru").gettext("Risks ahead") == "Риски на будущее"
render._environment("ru").get_template("report.html.j2")
print("ok")
"""


def test_installed_wheel_renders_russian(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("upkeep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "collector/reports/locale/ru/LC_MESSAGES/upkeep_reports.po" in names
    assert "collector/reports/templates/report.html.j2" in names
    assert "collector/reports/templates/sections/summary.html.j2" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip puts in site-packages for a pure wheel
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.stdout.strip() == "ok", proc.stderr
