"""Load admin-edited YAML safely and report validation errors as ``file:line: path: problem``.

Shared by the agent config, and (as part of the wire contract's package) by the
collector's settings, rules and contracts, so every file an admin edits answers the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from agent import schema


class ConfigError(Exception):
    """A file an admin wrote is wrong. ``problems`` are lines like ``f.yaml:12: checks.disk: …``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class YamlDocument:
    """A parsed YAML file that remembers where each key and item came from."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        try:
            self.node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else source
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None

    @classmethod
    def from_file(cls, path: str | Path) -> YamlDocument:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
        return cls(text, str(path))

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node on ``loc`` that exists in the file."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        node, line = value, key.start_mark.line + 1
                        break
                else:
                    return line
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and part < len(node.value)
            ):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def where(self, loc: Sequence[str | int]) -> str:
        line = self.line_of(loc)
        return f"{self.source}:{line}" if line else self.source


def dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe_errors(
    exc: Any, doc: YamlDocument | None, prefix: Sequence[str | int] = ()
) -> list[str]:
    """Turn pydantic (or ``agent.schema``) errors into ``file:line: a.b[2].c: message`` lines."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = [
            *prefix,
            *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))),
        ]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = doc.where(loc) if doc else "<input>"
        problems.append(f"{where}: {dotted(loc)}: {msg}")
    return problems


def validate(
    model: Any, data: Any, doc: YamlDocument | None = None, prefix: Sequence[str | int] = ()
):
    """Validate ``data`` against a model class; raise ConfigError with locations.

    The agent's models are ``agent.schema`` models, the collector's pydantic models; the
    agent never imports pydantic, so its ValidationError is only caught once it is loaded.
    """
    errors: tuple[type[Exception], ...] = (schema.ValidationError,)
    if "pydantic" in sys.modules:
        errors += (sys.modules["pydantic"].ValidationError,)
    try:
        return model.model_validate(data if data is not None else {})
    except errors as exc:
        raise ConfigError(describe_errors(exc, doc, prefix)) from None
