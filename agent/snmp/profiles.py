"""Device profiles: YAML files that say which OIDs to read and which samples they become.

A profile names scalars (read with one GET) and tables (columns walked with GETBULK and
joined by row index), declares every metric it emits (its catalog), maps plain values to
samples without code (``scalar:`` or ``table:`` + ``value:``, ``scale:``, label
templates), and may name a hook module — a small Python module with
``evaluate(reading, memory, now)`` and optionally ``inventory(reading)`` — for what YAML
cannot say (sentinels, counter rates, bit fields, vendor quirks).

Shipped profiles live in ``agent/snmp/profiles/``; ``snmp.profiles_dir`` adds custom ones
(a custom file may replace a shipped profile of the same name). ``extends:`` inherits
everything from another profile (all shipped ones extend ``generic``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from agent.checks.base import Event, MetricSpec, Sample
from agent.schema import BaseModel, ConfigDict, Field, field_validator, model_validator
from agent.snmp.reading import DeviceReading, integer, text
from agent.yamlsource import ConfigError, YamlDocument, validate

SHIPPED_DIR = Path(__file__).parent / "profiles"
OID_RE = re.compile(r"^\.?[0-2](\.\d+)+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: What the poller itself adds for every device, whatever the profile.
CORE_CATALOG = (
    MetricSpec(
        "snmp_up", "gauge", "", (), "1 if the device answered the last poll, 0 if it did not"
    ),
    MetricSpec(
        "snmp_poll_duration_seconds",
        "gauge",
        "seconds",
        (),
        "Wall time of the last poll of the device",
    ),
)


def _oid(value: str) -> str:
    value = str(value).strip()
    if not OID_RE.match(value):
        raise ValueError(f"{value!r} is not a numeric OID (like 1.3.6.1.2.1.1.3.0)")
    return value.lstrip(".")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableSpec(_Model):
    """Columns (full column OIDs, without the row index) joined by their row index."""

    columns: dict[str, str] = Field(min_length=1)
    max_rows: int = Field(default=2000, ge=1, le=100_000)
    #: column → the column it stands in for (``in_octets: hc_in_octets``): once every row
    #: had the preferred column, the stand-in is no longer read (fewer var-binds per poll).
    fallback_for: dict[str, str] = Field(default_factory=dict)
    #: Columns that do not change while the table's rows stay the same (names, types,
    #: colours, serials): read on the first poll, then every 12th poll or when the rows change.
    static: list[str] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _oids(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _oid(oid) for name, oid in value.items()}

    @model_validator(mode="after")
    def _fallbacks_are_columns(self) -> TableSpec:
        for column, preferred in self.fallback_for.items():
            if column not in self.columns or preferred not in self.columns:
                raise ValueError(
                    f"fallback_for: {column} → {preferred}: both must be columns of the table"
                )
        for column in self.static:
            if column not in self.columns:
                raise ValueError(f"static: {column} is not a column of the table")
        return self


class MetricDef(_Model):
    """One metric of the profile's catalog, and optionally how to read it without code."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["gauge", "counter"] = "gauge"
    unit: str = ""
    help: str = Field(min_length=1)
    #: A list of label names (the hook emits the metric) or name → template such as
    #: ``"{index}"`` / ``"{descr}"`` (a table's columns and ``index``) for a mapped metric.
    labels: list[str] | dict[str, str] = Field(default_factory=list)
    scalar: str | None = None
    table: str | None = None
    value: str | None = Field(default=None, description="the table column holding the value")
    scale: float = 1.0
    #: Raw values that mean "no reading" (e.g. -1): skipped instead of reported.
    ignore: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _source(self) -> MetricDef:
        if self.scalar and self.table:
            raise ValueError("give scalar or table, not both")
        if self.table and not self.value:
            raise ValueError("a table metric needs value: (the column)")
        if (
            self.scalar
            and isinstance(self.labels, dict)
            and any("{" in t for t in self.labels.values())
        ):
            raise ValueError("label templates are for table metrics")
        return self

    @property
    def mapped(self) -> bool:
        return bool(self.scalar or self.table)

    def spec(self) -> MetricSpec:
        labels = tuple(self.labels) if isinstance(self.labels, list) else tuple(self.labels.keys())
        return MetricSpec(self.name, self.type, self.unit, labels, self.help)


class InventoryDef(_Model):
    """Where the asset's vendor/model/serial come from: scalar names or ``table.column``
    (first non-empty row), tried in order. Vendor defaults to the sysObjectID's enterprise."""

    vendor: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    serial: list[str] = Field(default_factory=list)


class ProfileFile(_Model):
    """The YAML file as written."""

    kind: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", description="asset kind")
    description: str = ""
    extends: str | None = None
    hook: str | None = Field(default=None, description="module with evaluate(reading, memory, now)")
    scalars: dict[str, str] = Field(default_factory=dict)
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    metrics: list[MetricDef] = Field(default_factory=list)
    inventory: InventoryDef = Field(default_factory=InventoryDef)

    @field_validator("scalars")
    @classmethod
    def _scalar_oids(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _oid(oid) for name, oid in value.items()}


@dataclass
class Profile:
    """A profile with its parents merged in, ready to poll with."""

    name: str
    kind: str
    scalars: dict[str, str]
    tables: dict[str, TableSpec]
    metrics: list[MetricDef]
    inventory: InventoryDef
    hooks: list[ModuleType] = field(default_factory=list)
    source: str = ""

    @property
    def catalog(self) -> tuple[MetricSpec, ...]:
        return (*CORE_CATALOG, *(m.spec() for m in self.metrics))

    def evaluate(
        self, reading: DeviceReading, memory: dict[str, Any], now: float
    ) -> Iterator[Sample | Event]:
        """Mapped metrics, then each hook's samples and events (no I/O)."""
        for metric in self.metrics:
            if metric.mapped:
                yield from _mapped(metric, reading)
        for hook in self.hooks:
            yield from hook.evaluate(reading, memory.setdefault(hook.__name__, {}), now)

    def describe(self, reading: DeviceReading) -> dict[str, str | None]:
        """vendor/model/serial from the inventory sources, then the hooks' ``inventory``."""
        out: dict[str, str | None] = {}
        for key in ("vendor", "model", "serial"):
            out[key] = next(
                (v for v in (_lookup(reading, src) for src in getattr(self.inventory, key)) if v),
                None,
            )
        for hook in self.hooks:
            if hasattr(hook, "inventory"):
                out.update({k: v for k, v in hook.inventory(reading).items() if v})
        return out


def _lookup(reading: DeviceReading, source: str) -> str | None:
    table, _, column = source.partition(".")
    if column:
        for _, row in sorted(reading.table(table).items()):
            if value := text(row.get(column)):
                return value
        return None
    return text(reading.scalars.get(source)) or None


def _mapped(metric: MetricDef, reading: DeviceReading) -> Iterator[Sample]:
    templates = metric.labels if isinstance(metric.labels, dict) else {}
    if metric.scalar:
        value = integer(reading.scalars.get(metric.scalar))
        if value is not None and value not in metric.ignore:
            yield Sample(metric.name, value * metric.scale, dict(templates))
        return
    column = metric.value
    assert column is not None, "MetricDef requires value: beside table:"
    for index, row in sorted(reading.table(metric.table or "").items()):
        value = integer(row.get(column))
        if value is None or value in metric.ignore:
            continue
        context = _RowText(index, row)
        yield Sample(
            metric.name,
            value * metric.scale,
            {name: template.format_map(context) for name, template in templates.items()},
        )


class _RowText(dict):
    """Row columns as text for label templates; ``{index}`` is the row index."""

    def __init__(self, index: str, row: dict[str, Any]) -> None:
        super().__init__(index=index)
        self.row = row

    def __missing__(self, key: str) -> str:
        return text(self.row.get(key))


# -- loading ---------------------------------------------------------------------------------


def profile_files(custom_dir: Path | None) -> dict[str, Path]:
    """name → file: shipped profiles, then the custom folder's (which may replace them)."""
    files = {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}
    if custom_dir is not None:
        if not custom_dir.is_dir():
            raise ConfigError([f"snmp.profiles_dir: {custom_dir} is not a folder"])
        files.update({p.stem: p for p in sorted(custom_dir.glob("*.yaml"))})
    return files


def load_profiles(custom_dir: Path | None = None) -> dict[str, Profile]:
    """Every profile, validated and merged; errors as ``file:line: key: problem``."""
    files = profile_files(custom_dir)
    raw: dict[str, tuple[ProfileFile, YamlDocument]] = {}
    problems: list[str] = []
    for name, path in files.items():
        try:
            doc = YamlDocument.from_file(path)
            raw[name] = (validate(ProfileFile, doc.data, doc), doc)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    out: dict[str, Profile] = {}
    for name in raw:
        try:
            out[name] = _resolve(name, raw, ())
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return out


def _resolve(
    name: str, raw: dict[str, tuple[ProfileFile, YamlDocument]], chain: tuple[str, ...]
) -> Profile:
    spec, doc = raw[name]
    if name in chain:
        raise ConfigError(
            [f"{doc.where(('extends',))}: extends: loop {' → '.join((*chain, name))}"]
        )
    if spec.extends is not None:
        if spec.extends not in raw:
            raise ConfigError(
                [f"{doc.where(('extends',))}: extends: no profile named {spec.extends!r}"]
            )
        base = _resolve(spec.extends, raw, (*chain, name))
    else:
        base = Profile(name, "snmp", {}, {}, [], InventoryDef())
    hooks = list(base.hooks)
    if spec.hook:
        try:
            hook = importlib.import_module(spec.hook)
        except ImportError as exc:
            raise ConfigError(
                [f"{doc.where(('hook',))}: hook: cannot import {spec.hook}: {exc}"]
            ) from None
        if not callable(getattr(hook, "evaluate", None)):
            raise ConfigError(
                [f"{doc.where(('hook',))}: hook: {spec.hook} has no evaluate(reading, memory, now)"]
            )
        hooks.append(hook)
    metrics = [
        m for m in base.metrics if m.name not in {n.name for n in spec.metrics}
    ] + spec.metrics
    problems = []
    tables = {**base.tables, **spec.tables}
    scalars = {**base.scalars, **spec.scalars}
    for i, metric in enumerate(spec.metrics):
        if metric.scalar and metric.scalar not in scalars:
            problems.append(
                f"{doc.where(('metrics', i, 'scalar'))}: metrics[{i}].scalar: no scalar named {metric.scalar!r}"
            )
        if metric.table and metric.table not in tables:
            problems.append(
                f"{doc.where(('metrics', i, 'table'))}: metrics[{i}].table: no table named {metric.table!r}"
            )
        elif metric.table and metric.value not in tables[metric.table].columns:
            problems.append(
                f"{doc.where(('metrics', i, 'value'))}: metrics[{i}].value: table {metric.table} has no column {metric.value!r}"
            )
    if problems:
        raise ConfigError(problems)
    inventory = InventoryDef(
        **{
            key: getattr(spec.inventory, key) or getattr(base.inventory, key)
            for key in ("vendor", "model", "serial")
        }
    )
    return Profile(
        name, spec.kind or base.kind, scalars, tables, metrics, inventory, hooks, doc.source
    )
