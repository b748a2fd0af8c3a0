"""Loading rule files: every problem as file:line:col with a hint; warnings do not fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.rules.loader import RuleLoadError, load, load_ruleset
from collector.rules.model import parse_condition

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(tmp_path: Path, text: str) -> list[str]:
    return [str(p) for p in load([write(tmp_path, text)]).problems]


def test_unknown_key_points_at_the_key_and_suggests(tmp_path: Path) -> None:
    got = messages(
        tmp_path, "rules:\n  - id: a\n    metric: cpu_usage_percent\n    warnin: '> 5'\n"
    )
    assert got == [
        f"{tmp_path}/r.yaml:4:5: rules[0].warnin: unknown key 'warnin'; did you mean 'warning'?"
    ]


def test_nested_unknown_key(tmp_path: Path) -> None:
    got = messages(tmp_path, "rules:\n  - id: a\n    metric: any\n    absent: {for: 5m, fro: 1}\n")
    assert got == [
        f"{tmp_path}/r.yaml:4:23: rules[0].absent.fro: unknown key 'fro'; did you mean 'for'?"
    ]


def test_bad_duration_and_condition_point_at_the_value(tmp_path: Path) -> None:
    got = messages(
        tmp_path,
        "rules:\n  - id: a\n    metric: cpu_usage_percent\n    warning: '>> 5'\n    for: 10x\n",
    )
    assert got[0].startswith(f"{tmp_path}/r.yaml:4:14: rules[0].warning: '>> 5' is not a condition")
    assert got[1].startswith(
        f"{tmp_path}/r.yaml:5:10: rules[0].for: '10x' is not a duration (use e.g."
    )


def test_duplicate_id_across_files_names_the_first(tmp_path: Path) -> None:
    a = write(
        tmp_path, "rules:\n  - {id: a, metric: cpu_usage_percent, warning: '> 5'}\n", "a.yaml"
    )
    write(
        tmp_path,
        "rules:\n  - id: b\n    metric: memory_used_percent\n    warning: '> 5'\n"
        "  - id: a\n    metric: memory_used_percent\n    warning: '> 5'\n",
        "b.yaml",
    )
    got = [str(p) for p in load([tmp_path]).problems]
    assert got == [
        f"{tmp_path}/b.yaml:5:9: rules[1].id: duplicate rule id 'a' (first defined at {a}:2:10)"
    ]


def test_unknown_metric_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    result = load(
        [write(tmp_path, "rules:\n  - {id: a, metric: disk_use_percent, warning: '> 5'}\n")]
    )
    assert not result.errors
    assert [str(p) for p in result.warnings] == [
        f"{tmp_path}/r.yaml:2:21: warning: rules[0].metric: unknown metric 'disk_use_percent' (not in the "
        "catalog); did you mean 'disk_used_percent'?"
    ]


def test_kinds_are_exclusive_and_any_needs_absent(tmp_path: Path) -> None:
    got = messages(
        tmp_path,
        "rules:\n  - {id: a, metric: any, warning: '> 5'}\n"
        "  - {id: b, metric: x, warning: '> 5', absent: {for: 1m}}\n  - {id: c, metric: x}\n",
    )
    assert "rules[0]: `metric: any` works only with `absent`" in got[0]
    assert "one kind only; this one has threshold and absent" in got[1]
    assert "needs warning and/or critical" in got[2]


def test_override_of_unknown_rule(tmp_path: Path) -> None:
    got = messages(
        tmp_path,
        "rules:\n  - {id: disk-space, metric: disk_used_percent, warning: '> 5'}\n"
        "overrides:\n  - {rule: disk-spce, client: acme, warning: '> 9'}\n",
    )
    assert got == [
        f"{tmp_path}/r.yaml:4:12: overrides[0].rule: no rule with id 'disk-spce'; "
        "did you mean 'disk-space'?"
    ]


def test_yaml_syntax_error_and_duplicate_key(tmp_path: Path) -> None:
    assert "invalid YAML" in messages(tmp_path, "rules: [\n")[0]
    got = messages(
        tmp_path,
        "rules:\n  - id: a\n    metric: cpu_usage_percent\n    warning: '> 1'\n    warning: '> 2'\n",
    )
    assert got[0].startswith(f"{tmp_path}/r.yaml:5:5: duplicate key 'warning'")


def test_load_ruleset_raises_with_every_error(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(
            [write(tmp_path, "rules:\n  - {id: a, metric: x, warning: 'x'}\n  - {id: b}\n")]
        )
    assert len(info.value.problems) == 2


def test_conditions_accept_durations() -> None:
    assert parse_condition("> 26h").threshold == 93600
    assert parse_condition("<= -1.5").holds(-2)
    with pytest.raises(ValueError):
        parse_condition("about 5")


def test_shipped_packs_load_without_problems() -> None:
    result = load([ROOT / "rules"])
    assert result.problems == []
    assert {"disk-space", "agent-silent", "toner-low", "link-down", "ups-on-battery"} <= set(
        result.ruleset.rules
    )
