"""A rule's ``remediate`` is checked against the action library when the rule file loads:
an unknown action or parameter is an error at the rule's line, not a log line when the
alert fires (the shipped library, actions/defaults.yaml)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from collector.cli import app
from collector.remediation.actions import load_library
from collector.rules.loader import load

RULES = """\
rules:
  - id: disk-clean
    metric: filesystem_used_percent
    warning: "> 90"
    remediate:
      action: {action}
      params: {params}
"""


def _write(tmp_path: Path, action: str, params: str) -> Path:
    path = tmp_path / "fix.yaml"
    path.write_text(RULES.format(action=action, params=params), encoding="utf-8")
    return path


def _errors(path: Path) -> list[str]:
    library = load_library().actions
    return [str(p) for p in load([path], actions=library).errors]


def test_an_unknown_action_is_an_error_at_its_line_with_a_hint(tmp_path):
    path = _write(tmp_path, "clean-tmp", "{path: /tmp}")
    assert _errors(path) == [
        f"{path}:6:15: rules[0].remediate.action: no action 'clean-tmp' in the action library "
        "(actions_paths, docs/remediation.md); did you mean 'clean-temp'?"
    ]


def test_unknown_missing_and_mistyped_parameters_are_errors(tmp_path):
    path = _write(tmp_path, "clean-temp", "{folder: /tmp, older_than_days: soon}")
    errors = _errors(path)
    assert [e.split(": ", 1)[1] for e in errors] == [
        "rules[0].remediate.params: unknown parameter 'folder' (known: older_than_days, "
        "path, pattern)",
        "rules[0].remediate.params: parameter 'path' is required",
        "rules[0].remediate.params: parameter 'older_than_days': a number is required",
    ]
    assert all(e.startswith(f"{path}:7:") for e in errors)


def test_a_parameter_quoting_the_alerts_labels_is_checked_when_queued(tmp_path):
    path = _write(tmp_path, "clean-temp", '{path: "{mountpoint}", older_than_days: 3}')
    assert _errors(path) == []
    # Without a library (None) nothing is checked: rules load as before.
    assert load([_write(tmp_path, "no-such", "{}")]).errors == []


def test_rules_check_names_the_unknown_action(tmp_path):
    path = _write(tmp_path, "restart-servic", "{service: nginx}")
    result = CliRunner().invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert "no action 'restart-servic'" in result.output
    assert "did you mean 'restart-service'?" in result.output
    ok = _write(tmp_path, "restart-service", "{service: nginx}")
    assert CliRunner().invoke(app, ["rules", "check", str(ok)]).exit_code == 0
