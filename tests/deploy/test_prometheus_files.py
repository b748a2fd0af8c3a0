"""deploy/prometheus: the scrape config and alerting rules pass promtool, and the rule tests pass."""

from __future__ import annotations

from pathlib import Path

from tests.promtool import run

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def test_scrape_config_is_valid_and_finds_its_rule_files():
    out = run("check", "config", "prometheus.yml", cwd=str(PROMETHEUS))
    assert "SUCCESS: 1 rule files found" in out


def test_alerting_rules_are_valid():
    rules = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert rules
    run("check", "rules", *map(str, rules))


def test_alerting_rules_unit_tests_pass():
    tests = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
    assert tests
    run("test", "rules", *map(str, tests), cwd=str(PROMETHEUS))
