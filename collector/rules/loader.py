"""Load rule files and folders into a :class:`RuleSet`, or report every problem with its place.

Problems read ``file:line:col: message`` (line and column 1-based, pointing at the key or
value at fault) with a hint where one helps: an unknown key with "did you mean", a bad
duration or condition with the expected form, a duplicate id with where it was first
defined. An unknown metric is a *warning* (a custom check may send it), with a
"did you mean" against the catalog. The loader is the authority; the JSON Schema in
``rules/`` only helps editors.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from agent.yamlsource import (
    ConfigError,
    YamlDocument,
    YamlSyntaxError,
    dotted,
    duplicate_key_message,
)
from collector.rules.catalog import known_metrics
from collector.rules.model import ANY_METRIC, Override, Rule, RuleFile
from collector.rules.ruleset import RuleSet

if TYPE_CHECKING:
    from collector.remediation.actions import ActionDef

RULE_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``where`` is ``file:line:col``; ``level`` is error or warning."""

    where: str
    message: str
    level: str = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.level == "warning" else ""
        return f"{self.where}: {prefix}{self.message}"


class RuleLoadError(ConfigError):
    """Rule files that do not validate; ``problems`` are the formatted lines (errors and warnings)."""

    def __init__(self, found: Sequence[Problem]) -> None:
        self.found = list(found)
        super().__init__([str(p) for p in found])


@dataclass(slots=True)
class LoadResult:
    ruleset: RuleSet
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]


# ---------------------------------------------------------------------- positions


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def position(doc: YamlDocument, loc: Sequence[str | int], *, key: bool = False) -> str:
    """``file:line:col`` of the deepest node on ``loc``; ``key``: the key itself, not its value."""
    node = doc.node
    if node is None:
        return f"{doc.source}:1:1"
    line, col = _mark(node)
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, col = _mark(k if (last and key) else v)
                    node = v
                    break
            else:
                break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line, col = _mark(node)
        else:
            break
    return f"{doc.source}:{line}:{col}"


def _duplicate_keys(doc: YamlDocument) -> list[Problem]:
    return [
        Problem(
            f"{doc.source}:{again.start_mark.line + 1}:{again.start_mark.column + 1}",
            duplicate_key_message(key, first),
        )
        for key, first, again in doc.duplicates
    ]


# ---------------------------------------------------------------------- "did you mean"


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for "did you mean")."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = _field(current, part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field(model: type[BaseModel], name: str):
    for fname, field in model.model_fields.items():
        if (field.alias or fname) == name or fname == name:
            return field
    return None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------- loading


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files in ``paths`` (folders: their ``*.yaml``/``*.yml``, not tests), sorted per folder."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file()
                    and p.name.endswith(RULE_SUFFIXES)
                    and not p.name.endswith(TEST_SUFFIXES)
                )
            )
        else:
            out.append(path)
    return out


def _validation_problems(
    exc: ValidationError, doc: YamlDocument, root: type[BaseModel] = RuleFile
) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [
            p
            for p in err["loc"]
            if not (
                isinstance(p, str)
                and (
                    p.startswith("function-")
                    or p in ("str", "dict[str,str]")
                    or "[" in p
                    or p.startswith("literal")
                )
            )
        ]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            owner = _model_at(root, loc)
            hint = did_you_mean(str(loc[-1]), _keys_of(owner)) if owner else ""
            msg = f"unknown key {str(loc[-1])!r}{hint}"
            where = position(doc, loc, key=True)
        else:
            where = position(doc, loc)
            if err["type"] == "missing":
                msg = f"missing key {str(loc[-1])!r}"
                loc = loc[:-1]
                where = position(doc, loc)
        problems.append(Problem(where, f"{dotted(loc)}: {msg}"))
    # One problem per place and message (a union reports each member).
    return list(dict.fromkeys(problems))


def load_file(path: Path) -> tuple[RuleFile | None, YamlDocument | None, list[Problem]]:
    try:
        # Duplicate keys are reported with the file's other problems, not instead of them.
        doc = YamlDocument.from_file(path, allow_duplicate_keys=True)
    except YamlSyntaxError as exc:
        return None, None, [Problem(f"{exc.source}:{exc.line}:{exc.column}", exc.message)]
    except ConfigError as exc:
        return (
            None,
            None,
            [Problem(_with_col(p.split(": ", 1)[0]), p.split(": ", 1)[1]) for p in exc.problems],
        )
    problems = _duplicate_keys(doc)
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return (
            None,
            doc,
            [Problem(position(doc, []), "a rule file is a mapping with `rules:` (a list)")],
        )
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        return None, doc, problems + _validation_problems(exc, doc)
    return parsed, doc, problems


def _with_col(where: str) -> str:
    return where + ":1" if where.count(":") == 1 else where


def load(
    paths: Iterable[str | Path],
    *,
    catalog: frozenset[str] | None = None,
    actions: Mapping[str, ActionDef] | None = None,
) -> LoadResult:
    """Load every rule file under ``paths``; never raises for bad content (see ``problems``).

    ``actions`` (the remediation action library by name): a rule's ``remediate`` must name one
    of them with parameters it takes (an error at the rule's line otherwise); None: unchecked.
    """
    catalog = known_metrics() if catalog is None else catalog
    files = rule_files(paths)
    problems: list[Problem] = []
    rules: list[tuple[Rule, str]] = []
    overrides: list[tuple[Override, str, YamlDocument, int]] = []
    first: dict[str, str] = {}
    for path in files:
        if not path.exists():
            problems.append(Problem(f"{path}:1:1", "no such file or folder"))
            continue
        parsed, doc, found = load_file(path)
        problems.extend(found)
        if parsed is None or doc is None:
            continue
        for i, rule in enumerate(parsed.rules):
            where = position(doc, ["rules", i, "id"])
            if rule.id in first:
                problems.append(
                    Problem(
                        where,
                        f"rules[{i}].id: duplicate rule id {rule.id!r} "
                        f"(first defined at {first[rule.id]})",
                    )
                )
                continue
            first[rule.id] = where
            rules.append((rule, where))
            if rule.metric != ANY_METRIC and catalog and rule.metric not in catalog:
                problems.append(
                    Problem(
                        position(doc, ["rules", i, "metric"]),
                        f"rules[{i}].metric: unknown metric {rule.metric!r} (not in the "
                        f"catalog){did_you_mean(rule.metric, catalog)}",
                        "warning",
                    )
                )
            if rule.remediate is not None and actions is not None:
                problems.extend(_remediate_problems(rule, i, doc, actions))
        for i, override in enumerate(parsed.overrides):
            overrides.append((override, str(path), doc, i))
    ids = {rule.id for rule, _ in rules}
    for override, _, doc, i in overrides:
        for j, rule_id in enumerate(override.rules()):
            if rule_id != "*" and rule_id not in ids:
                loc: list[str | int] = ["overrides", i, "rule"]
                if isinstance(override.rule, list):
                    loc.append(j)
                problems.append(
                    Problem(
                        position(doc, loc),
                        f"overrides[{i}].rule: no rule with id "
                        f"{rule_id!r}{did_you_mean(rule_id, ids)}",
                    )
                )
    problems.sort(key=_order)
    ruleset = RuleSet.build(rules, [o for o, *_ in overrides], [str(f) for f in files])
    return LoadResult(ruleset, problems)


def _remediate_problems(
    rule: Rule, i: int, doc: YamlDocument, actions: Mapping[str, ActionDef]
) -> list[Problem]:
    assert rule.remediate is not None
    name = rule.remediate.action
    action = actions.get(name)
    if action is None:
        return [
            Problem(
                position(doc, ["rules", i, "remediate", "action"]),
                f"rules[{i}].remediate.action: no action {name!r} in the action library "
                f"(actions_paths, docs/remediation.md){did_you_mean(name, actions)}",
            )
        ]
    return [
        Problem(
            position(doc, ["rules", i, "remediate", "params"]),
            f"rules[{i}].remediate.params: {problem}",
        )
        for problem in action.rule_problems(rule.remediate.params)
    ]


def _order(problem: Problem) -> tuple:
    parts = problem.where.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (parts[0], int(parts[1]), int(parts[2]))
    return (problem.where, 0, 0)


def load_ruleset(paths: Iterable[str | Path]) -> RuleSet:
    """Load or raise :class:`RuleLoadError` (errors only; warnings do not stop a load)."""
    result = load(paths)
    if result.errors:
        raise RuleLoadError(result.errors)
    return result.ruleset
