"""The web UI's templates and stylesheet are package data (an installed collector has them),
and every template extends the layout."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "collector" / "web"


def test_templates_and_static_files_are_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["collector"]
    files = [
        p.relative_to(ROOT / "collector").as_posix()
        for p in [*WEB.joinpath("templates").iterdir(), *WEB.joinpath("static").rglob("*")]
        if p.is_file()
    ]
    assert "web/templates/base.html" in files and "web/static/web.css" in files
    # The vendored chart library ships with its licence.
    assert "web/static/vendor/uplot/uPlot.iife.min.js" in files
    assert "web/static/vendor/uplot/LICENSE" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, g) for g in globs), f"{name} is not in package-data"


def test_pages_extend_the_layout_and_carry_no_inline_script_or_style() -> None:
    for path in WEB.joinpath("templates").glob("*.html"):
        text = path.read_text()
        if path.name != "base.html" and not path.name.startswith("_"):
            assert text.startswith('{% extends "base.html" %}'), path.name
        # The Content-Security-Policy allows neither (script-src/style-src 'self'): scripts only
        # as files from /ui/static, with nothing between the tags.
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
        assert text.count("<script") == len(scripts), path.name
        for attributes, body in scripts:
            assert re.search(r'src="/ui/static/[^"]+\.js"', attributes) and not body.strip(), (
                path.name
            )
        assert "style=" not in text and "<style" not in text, path.name
