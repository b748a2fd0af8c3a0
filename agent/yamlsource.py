"""Load admin-edited YAML safely and report validation errors as ``file:line: path: problem``.

Shared by the agent config, and (as part of the wire contract's package) by the
collector's settings, rules and contracts, so every file an admin edits answers the same way.

A YAML *syntax* error reads ``file:line:column: invalid YAML: problem (context at
line:column)`` with PyYAML's own problem and context text (:func:`syntax_problem`). Where
the context is something opened and never closed (a quote, ``[`` or ``{``), the error
points at the opening, not at the end of the file where the parser gave up. A key given
twice in one mapping is an error too (YAML would silently keep the last one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ConfigError(Exception):
    """A file an admin wrote is wrong. ``problems`` are lines like ``f.yaml:12: checks.disk: …``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class YamlSyntaxError(ConfigError):
    """A file is not valid YAML; ``line`` and ``column`` (1-based) say where, ``message`` what."""

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        self.source, self.line, self.column, self.message = source, line, column, message
        super().__init__([f"{source}:{line}:{column}: {message}"])


#: PyYAML contexts that name something opened at the context mark: when the parser only
#: notices on a later line that it never closed, the opening is what the admin must fix.
_OPENED = {
    "while scanning a quoted scalar": "the quote opened here is never closed",
    "while scanning a double-quoted scalar": "the quote opened here is never closed",
    "while scanning a single-quoted scalar": "the quote opened here is never closed",
    "while parsing a flow sequence": "the '[' opened here is never closed",
    "while parsing a flow mapping": "the '{' opened here is never closed",
}


def syntax_problem(exc: yaml.YAMLError, source: str, text: str = "") -> YamlSyntaxError:
    """The error to report for a YAML syntax error, at the right line and column.

    ``problem_mark`` is where PyYAML noticed, ``context_mark`` where the construct it was
    reading began; both are kept in the message, with PyYAML's own words for each.
    """
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: a position, no mark
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return YamlSyntaxError(
            source, line, column, f"invalid YAML: unacceptable character {what}: {exc.reason}"
        )
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if problem_mark is None and context_mark is None:
        return YamlSyntaxError(source, 1, 1, f"invalid YAML: {problem}")
    opened = _OPENED.get(context or "")
    if (
        opened is not None
        and context_mark is not None
        and problem_mark is not None
        and problem_mark.line > context_mark.line
        and ("scalar" not in (context or "") or "end of stream" in problem or "document" in problem)
    ):
        message = f"invalid YAML: {opened} ({problem} at {_at(problem_mark)})"
        return YamlSyntaxError(source, context_mark.line + 1, context_mark.column + 1, message)
    mark = problem_mark if problem_mark is not None else context_mark
    assert mark is not None  # both None returned above
    message = f"invalid YAML: {problem}"
    if context and context_mark is not None and mark is not context_mark:
        message += f" ({context} at {_at(context_mark)})"
    elif context:
        message += f" ({context})"
    if "'\\t'" in problem:
        message += "; YAML is indented with spaces, never tabs"
    return YamlSyntaxError(source, mark.line + 1, mark.column + 1, message)


def _at(mark: yaml.Mark) -> str:
    return f"{mark.line + 1}:{mark.column + 1}"


def duplicate_keys(node: yaml.Node | None) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """``(key, first, again)`` for every key given twice in one mapping, in file order."""
    out: list[tuple[str, yaml.Node, yaml.Node]] = []
    seen_nodes: set[int] = set()  # aliases share nodes (and may be recursive)
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        out.append((key.value, first[key.value], key))
                    else:
                        first[key.value] = key
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return sorted(out, key=lambda d: (d[2].start_mark.line, d[2].start_mark.column))


def duplicate_key_message(key: str, first: yaml.Node) -> str:
    return f"duplicate key {key!r} (first at line {first.start_mark.line + 1}); YAML keeps only the last"


class YamlDocument:
    """A parsed YAML file that remembers where each key and item came from.

    A syntax error raises :class:`YamlSyntaxError`; a key given twice in one mapping
    raises :class:`ConfigError` naming each repeat, unless ``allow_duplicate_keys`` (the
    caller reports ``duplicates`` itself, alongside its other findings).
    """

    def __init__(self, text: str, source: str, *, allow_duplicate_keys: bool = False) -> None:
        self.source = source
        try:
            self.node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise syntax_problem(exc, source, text) from None
        self.duplicates = duplicate_keys(self.node)
        if self.duplicates and not allow_duplicate_keys:
            raise ConfigError(
                [
                    f"{source}:{again.start_mark.line + 1}:{again.start_mark.column + 1}: "
                    + duplicate_key_message(key, first)
                    for key, first, again in self.duplicates
                ]
            )

    @classmethod
    def from_file(cls, path: str | Path, *, allow_duplicate_keys: bool = False) -> YamlDocument:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise YamlSyntaxError(
                str(path), line, column, f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
            ) from None
        return cls(text, str(path), allow_duplicate_keys=allow_duplicate_keys)

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
    exc: ValidationError, doc: YamlDocument | None, prefix: Sequence[str | int] = ()
) -> list[str]:
    """Turn pydantic errors into ``file:line: a.b[2].c: message`` lines."""
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
    """Validate ``data`` against a pydantic model class; raise ConfigError with locations."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, doc, prefix)) from None
