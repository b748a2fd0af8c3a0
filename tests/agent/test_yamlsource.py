"""YAML syntax errors name the right line and column, with PyYAML's problem and context,
in all three loaders an admin meets: the agent config, rule files and contract files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import load_config
from agent.yamlsource import ConfigError, YamlDocument, YamlSyntaxError
from collector.contracts.files import parse_file
from collector.rules.loader import load


def agent_problems(path: Path) -> list[str]:
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


def rule_problems(path: Path) -> list[str]:
    return [str(p) for p in load([path], catalog=frozenset()).problems]


def contract_problems(path: Path) -> list[str]:
    return parse_file(path).problems


LOADERS: dict[str, Callable[[Path], list[str]]] = {
    "agent-config": agent_problems,
    "rules": rule_problems,
    "contracts": contract_problems,
}

# (file text, line:column, message after "file:line:column: ")
CASES = {
    "unclosed double quote on line 4": (
        'site: office-a\ncollector:\n  url: http://x\n  token: "upk_abc\nspool:\n  max_mb: 5\n',
        "4:10",
        "invalid YAML: the quote opened here is never closed"
        " (found unexpected end of stream at 7:1)",
    ),
    "unclosed single quote": (
        "site: office-a\ntags:\n  - file-server\n  - 'it''s\nspool: {}\n",
        "4:5",
        "invalid YAML: the quote opened here is never closed"
        " (found unexpected end of stream at 6:1)",
    ),
    "bad indent": (
        "site: a\nspool:\n  max_mb: 5\n flush_interval: 1s\nlog_level: info\n",
        "4:2",
        "invalid YAML: expected <block end>, but found '<block mapping start>'"
        " (while parsing a block mapping at 1:1)",
    ),
    "tab indent": (
        "site: a\nspool:\n\tmax_mb: 5\n",
        "3:1",
        "invalid YAML: found character '\\t' that cannot start any token"
        " (while scanning for the next token); YAML is indented with spaces, never tabs",
    ),
    "unclosed bracket": (
        "site: a\ntags: [a, b\nspool:\n  max_mb: 5\n",
        "2:7",
        "invalid YAML: the '[' opened here is never closed (expected ',' or ']', but got ':' at 3:6)",
    ),
    "unclosed brace": (
        "site: a\nspool: {max_mb: 5\nlog_level: info\n",
        "2:8",
        "invalid YAML: the '{' opened here is never closed"
        " (expected ',' or '}', but got ':' at 3:10)",
    ),
    "missing comma on one line": (
        'site: a\ntags: [a, "b" c]\n',
        "2:15",
        "invalid YAML: expected ',' or ']', but got '<scalar>'"
        " (while parsing a flow sequence at 2:7)",
    ),
    "second colon": (
        "site: a\nlog_level: info: debug\n",
        "2:16",
        "invalid YAML: mapping values are not allowed here",
    ),
    "duplicate key": (
        "site: a\nspool:\n  max_mb: 5\n  max_mb: 6\n",
        "4:3",
        "duplicate key 'max_mb' (first at line 3); YAML keeps only the last",
    ),
    "control character": (
        "site: a\nlog_level: in\x01fo\n",
        "2:14",
        "invalid YAML: unacceptable character #x0001: special characters are not allowed",
    ),
}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("case", CASES)
def test_syntax_errors_point_at_line_and_column(tmp_path: Path, loader: str, case: str) -> None:
    text, where, message = CASES[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    problems = LOADERS[loader](path)
    assert f"{path}:{where}: {message}" in problems, problems


@pytest.mark.parametrize("loader", LOADERS)
def test_a_file_that_is_not_utf8_is_a_positioned_error_not_a_traceback(
    tmp_path: Path, loader: str
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("site: a\nlog_level: Ünfo\n".encode("latin-1"))
    assert f"{path}:2:12: not UTF-8 text (byte 0xdc)" in LOADERS[loader](path)


def test_the_error_carries_its_position() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        YamlDocument("a: 1\nb: [x\n", "f.yaml")
    assert (info.value.source, info.value.line, info.value.column) == ("f.yaml", 2, 4)


def test_duplicate_keys_inside_lists_and_through_aliases() -> None:
    text = "base: &b {x: 1}\nitems:\n  - {id: 1, id: 2}\n  - *b\nrecursive: &r [*r]\n"
    doc = YamlDocument(text, "f.yaml", allow_duplicate_keys=True)
    assert [(k, a.start_mark.line + 1) for k, _, a in doc.duplicates] == [("id", 3)]
    with pytest.raises(ConfigError, match=r"f.yaml:3:13: duplicate key 'id' \(first at line 3\)"):
        YamlDocument(text, "f.yaml")
    # merge keys (<<) are not duplicates of each other
    YamlDocument("a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  z: 3\n", "f.yaml")
