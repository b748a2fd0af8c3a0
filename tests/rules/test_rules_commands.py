"""``upkeep rules check`` and ``upkeep rules test`` through the console entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collector.rules.schema import render_schema

ROOT = Path(__file__).resolve().parents[2]


def upkeep(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_check_clean_and_broken(tmp_path: Path) -> None:
    ok = upkeep("rules", "check", "rules")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: a\n    metric: cpu_usage_percent\n    critcal: '> 5'\n")
    out = upkeep("rules", "check", str(bad))
    assert out.returncode == 1
    assert (
        f"{bad}:4:5: rules[0].critcal: unknown key 'critcal'; did you mean 'critical'?"
        in out.stderr
    )


def test_default_packs_pass_their_own_tests() -> None:
    out = upkeep("rules", "test", *sorted(str(p) for p in (ROOT / "rules").glob("*.test.yaml")))
    assert out.returncode == 0, out.stdout + out.stderr
    for pack in ("servers", "agents", "printers", "network", "ups"):
        assert f"SUCCESS: {ROOT / 'rules' / pack}.test.yaml" in out.stdout


def test_failing_test_prints_expected_and_got(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - {id: hot, metric: temperature_celsius, warning: '> 80', for: 2m}\n"
    )
    (tmp_path / "r.test.yaml").write_text(
        "rule_files: [r.yaml]\ntests:\n  - name: heats up\n    series:\n"
        "      - {metric: temperature_celsius, labels: {client: acme, asset: srv1, sensor: cpu}, values: '90x10'}\n"
        "    expect:\n      - at: 1m\n        firing: [{rule: hot, labels: {sensor: cpu}}]\n"
        "      - at: 5m\n        firing: [{rule: hot, severity: critical}]\n"
    )
    out = upkeep("rules", "test", str(tmp_path / "r.test.yaml"))
    assert out.returncode == 1
    assert f"FAILED: {tmp_path}/r.test.yaml: test 'heats up' at 1m:" in out.stdout
    assert (
        "expected firing:\n      - {rule: hot, severity: None, labels: {sensor: cpu}}\n    got firing:\n      (none)"
        in out.stdout
    )
    assert (
        "at 5m:" in out.stdout
        and "severity: warning, labels: {asset: srv1, client: acme, sensor: cpu}" in out.stdout
    )
    assert "1 of 1 test(s) failed" in out.stdout


def test_bad_test_file_is_reported_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "t.test.yaml").write_text(
        "rule_files: [nope.yaml]\ntests:\n  - name: x\n    expct: []\n"
    )
    out = upkeep("rules", "test", str(tmp_path / "t.test.yaml"))
    assert out.returncode == 1
    assert (
        f"{tmp_path}/t.test.yaml:4:5: tests[0].expct: unknown key 'expct'; did you mean 'expect'?"
        in out.stdout
    )


def test_shipped_json_schema_is_up_to_date() -> None:
    shipped = (ROOT / "rules" / "rule-file.schema.json").read_text()
    assert shipped == render_schema(), (
        "run: python -m collector.rules.schema > rules/rule-file.schema.json"
    )
