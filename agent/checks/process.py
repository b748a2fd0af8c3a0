"""Named processes: how many are running, and whether at least one is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample

if TYPE_CHECKING:
    from agent.host import Host


class ProcessSpec(BaseModel):
    """One process to look for. ``name`` is the label; it also matches the exact
    process name unless ``process_name`` or ``cmdline`` says otherwise."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="label value: process=<name>")
    process_name: str | None = Field(
        default=None,
        min_length=1,
        description="exact process name (e.g. sqlservr.exe); default: name",
    )
    cmdline: str | None = Field(
        default=None,
        min_length=1,
        description="regex searched in the command line (arguments joined by spaces)",
    )

    @field_validator("cmdline")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> ProcessSpec:
        if self.process_name is not None and self.cmdline is not None:
            raise ValueError("give either process_name or cmdline, not both")
        return self


class ProcessConfig(CheckConfig):
    """Options of the ``process`` check."""

    names: list[ProcessSpec] = Field(min_length=1)

    @field_validator("names")
    @classmethod
    def _unique(cls, value: list[ProcessSpec]) -> list[ProcessSpec]:
        labels = [spec.name for spec in value]
        if dupes := sorted({n for n in labels if labels.count(n) > 1}):
            raise ValueError(f"duplicate name(s): {', '.join(dupes)}")
        return value


class ProcessCheck(Check):
    """Counts the processes matching each configured entry.

    Listing processes is the most expensive thing a host check does, so only this
    check does it, only when configured, and reads command lines only if an entry
    needs them.
    """

    name: ClassVar[str] = "process"
    Config: ClassVar[type[CheckConfig]] = ProcessConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "processes", "gauge", "", ("process",), "Number of running processes that match"
        ),
        MetricSpec(
            "process_up", "gauge", "", ("process",), "1 if at least one matching process runs"
        ),
    )

    config: ProcessConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        # Windows process names are case-insensitive (Notepad.exe == notepad.exe).
        self._fold = str.casefold if host.platform == "win32" else str
        self._by_name: dict[str, list[str]] = {}
        self._by_cmdline: list[tuple[str, re.Pattern[str]]] = []
        for spec in self.config.names:
            if spec.cmdline is not None:
                self._by_cmdline.append((spec.name, re.compile(spec.cmdline)))
            else:
                key = self._fold(spec.process_name or spec.name)
                self._by_name.setdefault(key, []).append(spec.name)

    def collect(self) -> Iterator[Sample]:
        counts = dict.fromkeys((spec.name for spec in self.config.names), 0)
        attrs = ["name", "cmdline"] if self._by_cmdline else ["name"]
        for info in self.host.process_iter(attrs):
            for label in self._by_name.get(self._fold(info.get("name") or ""), ()):
                counts[label] += 1
            if self._by_cmdline and (argv := info.get("cmdline")):
                cmdline = " ".join(argv)
                for label, pattern in self._by_cmdline:
                    if pattern.search(cmdline):
                        counts[label] += 1
        for label, count in counts.items():
            yield Sample("processes", count, {"process": label})
            yield Sample("process_up", 1.0 if count else 0.0, {"process": label})
