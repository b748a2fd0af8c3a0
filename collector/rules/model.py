"""The rule file as admins write it (``rules/*.yaml``): pydantic models, validated at load.

A file holds ``rules:`` (a list of :class:`Rule`) and optionally ``overrides:`` (a list of
:class:`Override`). Every rule is one of four kinds — threshold (``warning``/``critical``),
``absent``, ``forecast`` or ``state`` — decided by which keys it has. Conditions are
strings like ``"> 85"``; the number may be a duration (``"> 26h"``) for metrics in seconds.
The JSON Schema shipped in ``rules/rule-file.schema.json`` is generated from these models
(``python -m collector.rules.schema``); a test keeps it up to date.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from agent.durations import Duration, parse_duration

Severity = Literal["warning", "critical"]
Priority = Literal["critical", "major", "minor", "technical"]
AlertKind = Literal["preventive", "outage", "capacity", "security", "consumable"]
RuleKind = Literal["threshold", "absent", "forecast", "state"]

ANY_METRIC = "any"

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Condition:
    """A comparison against a fixed number: ``> 85``, ``<= 0``, ``> 26h`` (= 93600)."""

    op: str
    threshold: float
    text: str

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return self.text


def parse_condition(value: object) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f'{value!r} is not a condition: write it as a string like "> 85" '
            "(one of > >= < <= == != and a number)"
        )
    match = _CONDITION.match(value)
    if not match:
        raise ValueError(
            f"{value!r} is not a condition: use one of > >= < <= == != followed by a "
            'number, e.g. "> 85"'
        )
    op, number = match.groups()
    if number[0] in "<>=!":
        raise ValueError(
            f"{value!r} is not a condition: use one of > >= < <= == != followed by a "
            'number, e.g. "> 85"'
        )
    try:
        threshold = float(number)
    except ValueError:
        try:
            threshold = parse_duration(number)
        except ValueError:
            raise ValueError(
                f"{value!r}: {number!r} is neither a number nor a duration like '26h'"
            ) from None
    if math.isnan(threshold):
        raise ValueError(f"{value!r}: the threshold must be a number")
    return Condition(op, threshold, f"{op} {number}")


ConditionStr = Annotated[
    Condition,
    BeforeValidator(parse_condition),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(>=|<=|==|!=|>|<)\s*\S+\s*$",
            "description": 'A comparison: > >= < <= == != and a number or a duration, e.g. "> 85"',
        }
    ),
]
DurationStr = Annotated[
    Duration,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
            ],
            "description": "Seconds, or a duration like 30s, 5m, 26h, 7d",
        }
    ),
]

AGGREGATES = ("last", "avg", "min", "max", "sum", "rate", "delta", "count")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``last`` (the sample itself) or a function over a window: ``avg 5m``, ``rate 10m``."""

    func: str
    window: float

    def __str__(self) -> str:
        from agent.durations import format_duration

        return self.func if self.func == "last" else f"{self.func} {format_duration(self.window)}"


def parse_aggregate(value: object) -> Aggregate:
    if isinstance(value, Aggregate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an aggregate: write 'last' or e.g. 'avg 5m'")
    parts = value.split()
    if parts == ["last"]:
        return Aggregate("last", 0.0)
    if len(parts) != 2 or parts[0] not in AGGREGATES or parts[0] == "last":
        raise ValueError(
            f"{value!r} is not an aggregate: use 'last' or one of "
            f"{'|'.join(AGGREGATES[1:])} followed by a window, e.g. 'avg 5m'"
        )
    window = parse_duration(parts[1])
    if window <= 0:
        raise ValueError(f"{value!r}: the window must be longer than 0s")
    return Aggregate(parts[0], window)


AggregateStr = Annotated[
    Aggregate,
    BeforeValidator(parse_aggregate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(last|(avg|min|max|sum|rate|delta|count)\s+(\d+(\.\d+)?(ms|s|m|h|d|w))+)$",
            "description": "last, or avg|min|max|sum|rate|delta|count over a window, e.g. 'avg 5m'",
        }
    ),
]


def _label_value(value: object) -> object:
    # YAML turns `if_admin_status: 1` into an int; label values are strings.
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


LabelValue = Annotated[str, BeforeValidator(_label_value)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class AbsentSpec(Strict):
    """Fires when nothing arrived for ``for`` (per series; per asset with ``metric: any``)."""

    for_: DurationStr = Field(alias="for", gt=0, description="How long without data before firing")


class ForecastSpec(Strict):
    """A linear fit over ``using`` reaches ``reach`` within ``within``."""

    reach: float = Field(
        description="The value the series must not reach (100 for a disk, 0 for toner)"
    )
    within: DurationStr = Field(
        gt=0, description="Fire when the fit reaches `reach` sooner than this"
    )
    using: DurationStr = Field(gt=0, description="How much history the fit uses")
    min_points: int = Field(default=6, ge=3, description="Fewer fitted points than this never fire")


class StateSpec(Strict):
    """Holds when the value is in ``in``, or when the series' ``flag`` label names a set flag."""

    in_: list[float] | None = Field(
        default=None,
        alias="in",
        min_length=1,
        description="Values (enumeration codes) that are a problem",
    )
    flag: str | list[str] | None = Field(
        default=None,
        description="Flag name(s): the series' `flag` label equals one and its value is not 0",
    )

    @model_validator(mode="after")
    def _one(self) -> StateSpec:
        if (self.in_ is None) == (self.flag is None):
            raise ValueError("give exactly one of `in: [values]` or `flag: name`")
        return self

    def holds(self, value: float, labels: dict[str, str]) -> bool:
        if self.in_ is not None:
            return value in self.in_
        flags = [self.flag] if isinstance(self.flag, str) else (self.flag or [])
        return value != 0 and labels.get("flag") in flags


class FlappingSpec(Strict):
    """More than ``max_changes`` fire/resolve changes within ``window`` mark an alert flapping."""

    max_changes: int = Field(default=4, ge=1)
    window: DurationStr = Field(default=3600.0, gt=0)
    enabled: bool = True


PriorityMap = dict[Severity, Priority]


class RemediateSpec(Strict):
    """A fix from the action library (collector/remediation, docs/remediation.md).

    ``params`` values may quote the alert's labels: ``"{mountpoint}"``."""

    action: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    params: dict[str, Any] = Field(default_factory=dict)
    policy: Literal["auto", "technician", "client"] = "technician"
    #: ``auto``: at most this many runs per asset per day (24 hours).
    max_per_day: int = Field(default=3, ge=1, le=100)


class Rule(Strict):
    """One rule. Its kind follows from its keys: warning/critical, absent, forecast or state."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=100)
    metric: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Metric name, or `any` (absent rules: anything from the asset)",
    )
    where: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="Label matchers: exact value, or prefixed with != =~ (regex) !~. A key that is not a "
        "label of the series names a sibling metric of the same asset and labels, "
        "compared by its latest value.",
    )
    aggregate: AggregateStr = Field(default=Aggregate("last", 0.0))
    warning: ConditionStr | None = None
    critical: ConditionStr | None = None
    clear: ConditionStr | None = Field(
        default=None,
        description="Hysteresis: firing ends only when this holds (default: the condition no longer holds)",
    )
    for_: DurationStr = Field(
        default=0.0,
        alias="for",
        ge=0,
        description="The condition must hold this long before firing",
    )
    keep_firing_for: DurationStr = Field(
        default=0.0, ge=0, description="Clear must hold this long before resolving"
    )
    absent: AbsentSpec | None = None
    forecast: ForecastSpec | None = None
    state: StateSpec | None = None
    severity: Severity = Field(
        default="warning", description="Severity of absent, forecast and state alerts"
    )
    priority: Priority | PriorityMap = "minor"
    kind: AlertKind = "preventive"
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=4000)
    runbook: str | None = Field(default=None, pattern=r"^https?://\S+$")
    labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="Labels added to the alert"
    )
    flapping: FlappingSpec = Field(default_factory=FlappingSpec)
    enabled: bool = True
    remediate: RemediateSpec | None = None

    @model_validator(mode="after")
    def _kind(self) -> Rule:
        kinds = [
            k
            for k, present in (
                ("threshold", self.warning is not None or self.critical is not None),
                ("absent", self.absent is not None),
                ("forecast", self.forecast is not None),
                ("state", self.state is not None),
            )
            if present
        ]
        if not kinds:
            raise ValueError(
                "a rule needs warning and/or critical (threshold), absent, forecast or state"
            )
        if len(kinds) > 1:
            raise ValueError(
                f"a rule is one kind only; this one has {' and '.join(kinds)}: split it in two"
            )
        if self.metric == ANY_METRIC and kinds[0] != "absent":
            raise ValueError("`metric: any` works only with `absent`")
        if kinds[0] != "threshold":
            for key in ("clear", "aggregate"):
                if (
                    key == "clear"
                    and self.clear is not None
                    or key == "aggregate"
                    and self.aggregate.func != "last"
                ):
                    raise ValueError(f"`{key}` applies to threshold rules only")
        if isinstance(self.priority, dict):
            levels = self.levels()
            missing = [s for s in levels if s not in self.priority]
            if missing:
                raise ValueError(f"priority has no entry for {', '.join(missing)}")
        for name, template in (("summary", self.summary), ("description", self.description)):
            check_template(template, name)
        return self

    @property
    def rule_kind(self) -> RuleKind:
        if self.absent is not None:
            return "absent"
        if self.forecast is not None:
            return "forecast"
        if self.state is not None:
            return "state"
        return "threshold"

    def levels(self) -> list[Severity]:
        """The severities this rule can fire with."""
        if self.rule_kind == "threshold":
            return [s for s in ("warning", "critical") if getattr(self, s) is not None]
        return [self.severity]

    def priority_for(self, severity: str) -> str:
        if isinstance(self.priority, dict):
            return self.priority.get(severity, "minor")  # type: ignore[call-overload]
        return self.priority


def check_template(template: str, name: str) -> None:
    import string

    from collector.notices.human import FILTERS

    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{name}: not a valid template ({exc}); write fields as {{label}} and "
            "a literal brace as {{ or }}"
        ) from None
    for _text, field, spec, _conversion in fields:
        if field is not None and spec and spec.isalpha() and spec not in FILTERS:
            raise ValueError(
                f"{name}: {{{field}:{spec}}} names no filter; use one of {', '.join(FILTERS)} "
                "or a number format like .1f"
            )


class Override(Strict):
    """Changes a rule for a client, site, asset or asset tag (most specific wins), without copying it.

    ``rule`` names one rule, a list, or ``"*"`` (every rule). With no selector the
    override applies everywhere.
    """

    rule: str | list[str]
    client: str | None = None
    site: str | None = None
    asset: str | None = None
    tag: str | None = None
    enabled: bool | None = None
    warning: ConditionStr | None = None
    critical: ConditionStr | None = None
    clear: ConditionStr | None = None
    for_: DurationStr | None = Field(default=None, alias="for", ge=0)
    keep_firing_for: DurationStr | None = Field(default=None, ge=0)
    absent_for: DurationStr | None = Field(default=None, gt=0, description="Changes `absent.for`")
    priority: Priority | PriorityMap | None = None
    labels: dict[str, LabelValue] | None = None

    def rules(self) -> list[str]:
        return [self.rule] if isinstance(self.rule, str) else list(self.rule)

    def specificity(self) -> tuple[int, ...]:
        """Higher wins: asset, then tag, then site, then client, then how many selectors."""
        return (
            self.asset is not None,
            self.tag is not None,
            self.site is not None,
            self.client is not None,
        )

    def matches(
        self, client: str, site: str | None, asset: str, tags: frozenset[str] | tuple[str, ...]
    ) -> bool:
        return (
            (self.client is None or self.client == client)
            and (self.site is None or self.site == site)
            and (self.asset is None or self.asset == asset)
            and (self.tag is None or self.tag in tags)
        )

    def changes(self) -> dict[str, Any]:
        """The rule fields this override sets."""
        out: dict[str, Any] = {}
        for key in (
            "enabled",
            "warning",
            "critical",
            "clear",
            "for_",
            "keep_firing_for",
            "priority",
            "labels",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class RuleFile(Strict):
    """A rule file: ``rules:`` and optional ``overrides:``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        json_schema_extra={"title": "Upkeep rule file"},
    )

    rules: list[Rule] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
