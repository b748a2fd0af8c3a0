"""The on-call configuration as an admin writes it: ``oncall/*.yaml`` (docs/oncall.md).

One or more files, merged (a name defined twice is an error naming both places)::

    channels:            # paging connectors (collector.connectors.paging), by name
      tg: {type: telegram, bot_token_file: /etc/upkeep/tg-token, webhook_secret_file: ...}
    people:
      anna: {name: Anna Berg, language: en, timezone: Europe/Berlin,
             contacts: [{channel: tg, to: "100001"}, {channel: mail, to: anna@example.net}]}
    rotations:
      primary:
        timezone: Europe/Berlin
        handover: {every: week, at: "09:00"}
        start: 2026-01-05            # the first person's first day (its weekday is the hand-over day)
        people: [anna, boris]
        holidays_from: acme          # hand-overs move off the holidays of acme's contract
    overrides:
      - {rotation: primary, person: boris, start: "2026-03-02 09:00", end: "2026-03-09 09:00",
         replaces: anna, reason: vacation, by: lead}
    policies:
      standard:
        critical: {steps: [{after: 0, page: [{rotation: primary}]},
                           {after: 10m, page: [{rotation: secondary}]},
                           {after: 20m, page: [{person: lead}]}]}
        minor: {business_hours: true, steps: [{after: 0, page: [{rotation: primary}]}]}
    escalation: {default: standard, clients: {globex: premium}}

Every problem reads ``file:line:column: path: message``. Loading uses ``yaml.safe_load``
(through :class:`agent.yamlsource.YamlDocument`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.durations import Duration
from agent.yamlsource import ConfigError, YamlDocument, dotted
from collector.incidents.maintenance import zone
from collector.oncall import escalation, schedule

ONCALL_SUFFIXES = (".yaml", ".yml")
PRIORITIES = ("critical", "major", "minor", "technical")
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_AT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    """How to reach a person on one channel (``to``: chat id, phone number, e-mail, or empty
    for a channel that posts to one room, like a Slack webhook)."""

    channel: Name
    to: str = Field(default="", max_length=320)


class Person(_Strict):
    name: str = Field(default="", max_length=200)
    language: Literal["en", "ru"] = "en"
    timezone: str = "UTC"
    contacts: list[Contact] = Field(default_factory=list, max_length=20)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value


class Handover(_Strict):
    every: Literal["day", "week"] = "week"
    #: How many days or weeks one shift lasts.
    count: int = Field(default=1, ge=1, le=52)
    at: str = "09:00"

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        m = _AT.match(value)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError(f"{value!r} is not a time of day (use HH:MM, e.g. 09:00)")
        return value

    @property
    def time(self) -> time:
        hour, minute = self.at.split(":")
        return time(int(hour), int(minute))

    @property
    def days(self) -> int:
        return self.count * (7 if self.every == "week" else 1)


def _minutes(text: str, where: str) -> int:
    hour, minute = (int(x) for x in text.split(":"))
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise ValueError(f"{where}: {text} is not a time of day")
    return hour * 60 + minute


class LayerConfig(_Strict):
    name: str = Field(default="", max_length=64)
    people: list[Name] = Field(min_length=1, max_length=200)
    start: date
    handover: Handover = Field(default_factory=Handover)
    timezone: str | None = None
    #: The daily window the layer covers (follow-the-sun), e.g. ``08:00-20:00``; None: all day.
    hours: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return value
        m = _HOURS.match(value)
        if not m:
            raise ValueError(
                f"{value!r} is not a range of hours (use HH:MM-HH:MM, e.g. 08:00-20:00)"
            )
        _minutes(f"{m.group(1)}:{m.group(2)}", "hours")
        _minutes(f"{m.group(3)}:{m.group(4)}", "hours")
        return value

    def window(self) -> tuple[int, int] | None:
        if self.hours is None:
            return None
        a, b = self.hours.replace(" ", "").split("-")
        return _minutes(a, "hours"), _minutes(b, "hours")


class RotationConfig(_Strict):
    """A single-layer rotation (``people`` + ``start`` + ``handover``) or follow-the-sun ``layers``."""

    timezone: str = "UTC"
    people: list[Name] | None = Field(default=None, min_length=1, max_length=200)
    start: date | None = None
    handover: Handover = Field(default_factory=Handover)
    layers: list[LayerConfig] | None = Field(default=None, min_length=1, max_length=12)
    #: A client whose contract calendar's holidays move hand-overs to the next open day.
    holidays_from: str | None = Field(default=None, max_length=200)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> RotationConfig:
        if self.layers is None and (self.people is None or self.start is None):
            raise ValueError("give people and start (one layer), or layers")
        if self.layers is not None and self.people is not None:
            raise ValueError("give people or layers, not both")
        return self

    def layer_configs(self) -> list[LayerConfig]:
        if self.layers is not None:
            return self.layers
        assert self.people is not None and self.start is not None
        return [LayerConfig(people=self.people, start=self.start, handover=self.handover)]


def _moment(value: Any, tz: str) -> float:
    """A YAML date-time (ISO text or a parsed datetime) as UTC epoch; naive: in ``tz``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time (use 2026-03-02 09:00)") from None
    else:
        raise ValueError("a date and time is needed (e.g. 2026-03-02 09:00)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment.timestamp()


class OverrideConfig(_Strict):
    rotation: Name
    person: Name
    start: Any
    end: Any
    replaces: Name | None = None
    reason: str = Field(default="", max_length=500)
    by: str = Field(default="", max_length=200)


class PageTargetConfig(_Strict):
    rotation: Name | None = None
    person: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> PageTargetConfig:
        if (self.rotation is None) == (self.person is None):
            raise ValueError("give rotation or person")
        return self

    def target(self) -> escalation.PageTarget:
        if self.rotation is not None:
            return escalation.PageTarget("rotation", self.rotation)
        assert self.person is not None
        return escalation.PageTarget("person", self.person)


class StepConfig(_Strict):
    after: Duration = 0.0
    page: list[PageTargetConfig] = Field(min_length=1, max_length=20)


class PriorityPolicy(_Strict):
    #: Count the steps' delays in the contract's business time (pages wait for business hours).
    business_hours: bool = False
    steps: list[StepConfig] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> PriorityPolicy:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of their 'after'")
        return self


class PolicyConfig(_Strict):
    critical: PriorityPolicy | None = None
    major: PriorityPolicy | None = None
    minor: PriorityPolicy | None = None
    technical: PriorityPolicy | None = None


class EscalationConfig(_Strict):
    default: Name | None = None
    clients: dict[str, Name] = Field(default_factory=dict)


class OncallFile(_Strict):
    """One file's content (every section optional)."""

    channels: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    people: dict[Name, Person] = Field(default_factory=dict)
    rotations: dict[Name, RotationConfig] = Field(default_factory=dict)
    overrides: list[OverrideConfig] = Field(default_factory=list)
    policies: dict[Name, PolicyConfig] = Field(default_factory=dict)
    escalation: EscalationConfig | None = None


# --------------------------------------------------------------------------- the merged config


class OncallConfig:
    """Every file merged and cross-checked. Build the pure objects with :meth:`rotation`,
    :meth:`policy`; ``channels`` holds the validated paging connector configs."""

    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.people: dict[str, Person] = {}
        self.rotations: dict[str, RotationConfig] = {}
        self.overrides: list[schedule.Override] = []
        self.policies: dict[str, PolicyConfig] = {}
        self.escalation = EscalationConfig()
        self.sources: list[str] = []

    @property
    def empty(self) -> bool:
        return not (self.people or self.rotations or self.policies)

    def rotation(self, name: str, closed: schedule.ClosedDay | None = None) -> schedule.Rotation:
        config = self.rotations[name]
        return schedule.Rotation(
            name,
            tuple(
                schedule.Layer(
                    people=tuple(layer.people),
                    start=layer.start,
                    timezone=layer.timezone or config.timezone,
                    handover_at=layer.handover.time,
                    every_days=layer.handover.days,
                    hours=layer.window(),
                    name=layer.name or f"layer {i + 1}",
                    closed=closed,
                )
                for i, layer in enumerate(config.layer_configs())
            ),
        )

    def policy_name(self, client: str) -> str | None:
        return self.escalation.clients.get(client, self.escalation.default)

    def policy(self, client: str, priority: str) -> escalation.Policy | None:
        """The escalation policy of ``client``'s incidents of ``priority`` (None: no paging)."""
        name = self.policy_name(client)
        if name is None or name not in self.policies:
            return None
        found: PriorityPolicy | None = getattr(self.policies[name], priority, None)
        if found is None:
            return None
        return escalation.Policy(
            name,
            priority,
            tuple(
                escalation.Step(step.after, tuple(t.target() for t in step.page))
                for step in found.steps
            ),
            found.business_hours,
        )


def oncall_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files in ``paths``: a folder contributes its ``*.yaml``/``*.yml`` files, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(
                sorted(p for p in path.iterdir() if p.suffix in ONCALL_SUFFIXES and p.is_file())
            )
        else:
            out.append(path)
    return out


def _node_at(doc: YamlDocument, loc: Sequence[str | int]) -> yaml.Node | None:
    """The deepest node on ``loc`` that exists (a key's own node for a mapping entry)."""
    node: yaml.Node | None = doc.node
    found = node
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    found, node = key, value
                    break
            else:
                return found
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = found = node.value[part]
        else:
            return found
    return found


def where(doc: YamlDocument, loc: Sequence[str | int]) -> str:
    """``file:line:column`` of ``loc`` (the deepest part that is in the file)."""
    node = _node_at(doc, loc)
    if node is None:
        return f"{doc.source}:1:1"
    return f"{doc.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _describe(
    exc: ValidationError, doc: YamlDocument, prefix: Sequence[str | int] = ()
) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [
            *prefix,
            *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))),
        ]
        msg = (
            "unknown key"
            if err["type"] == "extra_forbidden"
            else err["msg"].removeprefix("Value error, ")
        )
        problems.append(f"{where(doc, loc)}: {dotted(loc)}: {msg}")
    return problems


def parse_documents(docs: Sequence[YamlDocument]) -> OncallConfig:
    """Merge and check the files; raises :class:`ConfigError` listing every problem."""
    from collector.connectors.paging import parse_paging_config

    config = OncallConfig()
    problems: list[str] = []
    defined: dict[tuple[str, str], str] = {}
    override_docs: list[tuple[YamlDocument, int, OverrideConfig]] = []
    broken_channels: set[str] = set()  # reported already: no "unknown channel" after them
    for doc in docs:
        config.sources.append(doc.source)
        data = doc.data if doc.data is not None else {}
        try:
            part = OncallFile.model_validate(data)
        except ValidationError as exc:
            problems.extend(_describe(exc, doc))
            continue
        for section in ("channels", "people", "rotations", "policies"):
            for name, value in getattr(part, section).items():
                here = where(doc, [section, name])
                first = defined.get((section, name))
                if first is not None:
                    problems.append(f"{here}: {section}.{name}: defined twice (first at {first})")
                    continue
                defined[(section, name)] = here
                if section == "channels":
                    try:
                        value = parse_paging_config(value)
                    except ValidationError as exc:
                        problems.extend(_describe(exc, doc, [section, name]))
                        broken_channels.add(name)
                        continue
                    except ValueError as exc:
                        problems.append(f"{here}: {section}.{name}.{exc}")
                        broken_channels.add(name)
                        continue
                getattr(config, section)[name] = value
        for i, override in enumerate(part.overrides):
            override_docs.append((doc, i, override))
        if part.escalation is not None:
            if ("escalation", "") in defined:
                problems.append(
                    f"{where(doc, ['escalation'])}: escalation: defined twice "
                    f"(first at {defined[('escalation', '')]})"
                )
            else:
                defined[("escalation", "")] = where(doc, ["escalation"])
                config.escalation = part.escalation
    # cross references, each at its own place
    docs_by = {d.source: d for d in docs}

    def at(section: str, name: str, *rest: str | int) -> str:
        first = defined[(section, name)]
        doc = docs_by[first.rsplit(":", 2)[0]]
        return where(doc, [section, name, *rest])

    for name, person in config.people.items():
        for i, contact in enumerate(person.contacts):
            if contact.channel not in config.channels and contact.channel not in broken_channels:
                problems.append(
                    f"{at('people', name, 'contacts', i, 'channel')}: people.{name}.contacts[{i}]"
                    f".channel: unknown channel {contact.channel!r}"
                )
    for name, rotation in config.rotations.items():
        layers = rotation.layers
        for i, layer in enumerate(rotation.layer_configs()):
            for j, who in enumerate(layer.people):
                if who not in config.people:
                    path: list[str | int] = ["layers", i, "people", j] if layers else ["people", j]
                    problems.append(
                        f"{at('rotations', name, *path)}: rotations.{name}.{dotted(path)}: "
                        f"unknown person {who!r}"
                    )
    for name, policy in config.policies.items():
        for priority in PRIORITIES:
            found = getattr(policy, priority)
            for i, step in enumerate(found.steps if found else []):
                for j, target in enumerate(step.page):
                    kind, ref = (
                        ("rotation", target.rotation)
                        if target.rotation
                        else ("person", target.person)
                    )
                    known = config.rotations if kind == "rotation" else config.people
                    if ref not in known:
                        path = [priority, "steps", i, "page", j, kind]
                        problems.append(
                            f"{at('policies', name, *path)}: policies.{name}.{dotted(path)}: "
                            f"unknown {kind} {ref!r}"
                        )
    if config.escalation.default is not None and config.escalation.default not in config.policies:
        problems.append(
            f"{defined[('escalation', '')]}: escalation.default: unknown policy {config.escalation.default!r}"
        )
    for client, policy_name in config.escalation.clients.items():
        if policy_name not in config.policies:
            problems.append(
                f"{defined[('escalation', '')]}: escalation.clients.{client}: unknown policy {policy_name!r}"
            )
    for doc, i, override in override_docs:
        loc: list[str | int] = ["overrides", i]
        if override.rotation not in config.rotations:
            problems.append(
                f"{where(doc, [*loc, 'rotation'])}: overrides[{i}].rotation: unknown rotation {override.rotation!r}"
            )
            continue
        for key in ("person", "replaces"):
            who = getattr(override, key)
            if who is not None and who not in config.people:
                problems.append(
                    f"{where(doc, [*loc, key])}: overrides[{i}].{key}: unknown person {who!r}"
                )
        tz = config.rotations[override.rotation].timezone
        try:
            start, end = _moment(override.start, tz), _moment(override.end, tz)
        except ValueError as exc:
            problems.append(f"{where(doc, loc)}: overrides[{i}]: {exc}")
            continue
        if end <= start:
            problems.append(f"{where(doc, [*loc, 'end'])}: overrides[{i}].end: must be after start")
            continue
        config.overrides.append(
            schedule.Override(
                override.rotation,
                override.person,
                start,
                end,
                override.replaces,
                override.reason,
                override.by,
                f"file:{Path(doc.source).name}:{i}",
            )
        )
    if problems:
        raise ConfigError(problems)
    return config


def load(paths: Iterable[str | Path]) -> OncallConfig:
    """Load and check the on-call files in ``paths``; raises :class:`ConfigError`."""
    docs = []
    problems: list[str] = []
    for path in oncall_files(paths):
        try:
            docs.append(YamlDocument.from_file(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return parse_documents(docs)


def parse_text(text: str, source: str = "<oncall>") -> OncallConfig:
    """One document given as text (tests, the API's check)."""
    return parse_documents([YamlDocument(text, source)])
