"""The action library: ``actions/*.yaml`` files, validated at load with file:line errors.

An action names the agent *kind* that does the work (``agent/actions.py``: restart-service,
clean-temp, rotate-logs, clear-print-spooler, run-script), its typed parameters (defaults,
bounds), the operating systems it supports, and what it is expected to change (a metric and
a direction), which the result's before/after is compared with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.durations import parse_duration
from agent.yamlsource import ConfigError, YamlDocument, describe_errors

#: The kinds the agent implements (agent/actions.py KINDS; a test ties the two).
KINDS = ("restart-service", "clean-temp", "rotate-logs", "clear-print-spooler", "run-script")
OSES = ("linux", "windows", "macos")


def shipped_actions_path() -> Path:
    """``actions/`` next to the source tree, else ``<prefix>/share/upkeep/actions``."""
    import sys

    here = Path(__file__).resolve().parents[2] / "actions"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "upkeep" / "actions"


class ActionsInvalid(ConfigError):
    """Action files that do not validate (``problems``: ``file:line: path: message``)."""


class ParamSpec(BaseModel):
    """One typed parameter."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["str", "int", "float", "bool", "path", "list"]
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    description: str = ""


class Expectation(BaseModel):
    """What the action should change: ``disk_free_bytes`` ``up``."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    direction: Literal["up", "down"]


class ActionDef(BaseModel):
    """One action of the library."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    kind: Literal[
        "restart-service", "clean-temp", "rotate-logs", "clear-print-spooler", "run-script"
    ]
    description: str = Field(min_length=1, max_length=500)
    os: list[Literal["linux", "windows", "macos"]] = Field(min_length=1)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    expects: Expectation | None = None
    timeout: float = Field(default=600.0, gt=0, le=86400)
    #: The time the client is quoted (policy ``client``: a non-standard request of the
    #: ledger, priced in points at the contract's rate) and charged when the fix succeeds.
    estimate_minutes: int = Field(default=15, ge=1, le=6000)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    def check_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` with defaults filled in; ValueError naming the first bad parameter."""
        unknown = set(given) - set(self.params)
        if unknown:
            raise ValueError(
                f"action {self.name}: unknown parameter {sorted(unknown)[0]!r} "
                f"(known: {', '.join(sorted(self.params)) or 'none'})"
            )
        out: dict[str, Any] = {}
        for key, spec in self.params.items():
            if key not in given:
                if spec.required:
                    raise ValueError(f"action {self.name}: parameter {key!r} is required")
                if spec.default is not None:
                    out[key] = spec.default
                continue
            out[key] = _typed(self.name, key, spec, given[key])
        return out

    def rule_problems(self, given: dict[str, Any]) -> list[str]:
        """What is wrong with a rule's ``remediate.params`` for this action, found when the
        rule file loads: unknown or missing parameters, and values of the wrong type. A text
        quoting the alert's labels (``"{mountpoint}"``) is checked when the fix is queued."""
        problems = [
            f"unknown parameter {key!r} (known: {', '.join(sorted(self.params)) or 'none'})"
            for key in sorted(set(given) - set(self.params))
        ]
        for key, spec in self.params.items():
            if key not in given:
                if spec.required:
                    problems.append(f"parameter {key!r} is required")
                continue
            value = given[key]
            if isinstance(value, str) and "{" in value:
                continue
            try:
                _typed(self.name, key, spec, value)
            except ValueError as exc:
                problems.append(str(exc).removeprefix(f"action {self.name}: "))
        return problems


def _typed(action: str, key: str, spec: ParamSpec, value: Any) -> Any:
    where = f"action {action}: parameter {key!r}"
    if spec.type in ("str", "path"):
        if not isinstance(value, str) or not value or "\0" in value:
            raise ValueError(f"{where}: a text is required")
        if spec.type == "path" and not (value.startswith("/") or value[1:3] in (":\\", ":/")):
            raise ValueError(f"{where}: {value!r} is not an absolute path")
        if spec.pattern is not None:
            import re

            if not re.fullmatch(spec.pattern, value):
                raise ValueError(f"{where}: {value!r} does not match {spec.pattern}")
        return value
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: true or false")
        return value
    if spec.type == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}: a list of texts")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: a number is required")
    if spec.type == "int" and int(value) != value:
        raise ValueError(f"{where}: a whole number is required")
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise ValueError(f"{where}: {value} is outside {spec.min}..{spec.max}")
    return int(value) if spec.type == "int" else float(value)


class ActionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[ActionDef] = Field(default_factory=list)


@dataclass(frozen=True)
class ActionLibrary:
    """Every loaded action by name."""

    actions: dict[str, ActionDef]

    def get(self, name: str) -> ActionDef:
        try:
            return self.actions[name]
        except KeyError:
            known = ", ".join(sorted(self.actions)) or "none"
            raise KeyError(f"no action {name!r} (known: {known})") from None


def _files(paths: Iterable[Path]) -> list[Path]:
    out = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.glob("*.yaml")))
        else:
            out.append(path)
    return out


def load_library(paths: Iterable[Path] | None = None) -> ActionLibrary:
    """Load every action file; ActionsInvalid lists every problem with its file and line."""
    paths = list(paths or []) or [shipped_actions_path()]
    problems: list[str] = []
    actions: dict[str, ActionDef] = {}
    where: dict[str, str] = {}
    for path in _files(paths):
        try:
            doc = YamlDocument.from_file(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        try:
            parsed = ActionFile.model_validate(doc.data or {})
        except ValidationError as exc:
            problems.extend(describe_errors(exc, doc))
            continue
        for i, action in enumerate(parsed.actions):
            here = doc.where(("actions", i, "name"))
            if action.name in actions:
                problems.append(
                    f"{here}: actions[{i}].name: {action.name!r} is also defined at {where[action.name]}"
                )
                continue
            for key, spec in action.params.items():
                if spec.default is not None:
                    try:
                        _typed(action.name, key, spec, spec.default)
                    except ValueError as exc:
                        problems.append(
                            f"{doc.where(('actions', i, 'params', key, 'default'))}: "
                            f"actions[{i}].params.{key}.default: {exc}"
                        )
            actions[action.name] = action
            where[action.name] = here
    if problems:
        raise ActionsInvalid(problems)
    return ActionLibrary(actions)
