"""Script checks in the monitoring-plugins (Nagios) convention.

Each item is a command (an argv list, never a shell string) whose exit code is the state
(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and whose output is text plus performance data
(``agent/checks/perfdata.py``). The whole plugin ecosystem (``/usr/lib/nagios/plugins``,
``check_smtp``, ``check_disk``, a vendor's own script) works unchanged.

Each command runs with a timeout, a clean environment, stdin closed, its output bounded,
in a process group of its own: a plugin that hangs is killed together with whatever it
started. Any other exit code, a signal, a command that cannot be started or a timeout
is UNKNOWN with a text that says why. The state and the text reach the collector; the
collector's rules (``rules/plugins.yaml``) decide what is an incident.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from agent.checks.base import Check, CheckConfig, Event, MetricSpec, Sample
from agent.checks.perfdata import PerfValue, parse_output
from agent.durations import Duration
from agent.schema import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from agent.boundedrun import BoundedRun

STATES = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}
UNKNOWN = 3
#: Metric name per unit kind of a performance-data value (base units).
PERF_METRICS = {
    "seconds": "plugin_perfdata_seconds",
    "bytes": "plugin_perfdata_bytes",
    "percent": "plugin_perfdata_percent",
    "counter": "plugin_perfdata_continuous_total",
    "": "plugin_perfdata",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class PluginItem(BaseModel):
    """One plugin: a name (the ``name`` label), its argv, how often and how long."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    command: list[str] = Field(min_length=1, description="argv; never run through a shell")
    interval: Duration | None = Field(default=None, gt=0, description="default: the check's")
    timeout: Duration = Field(default=30.0, gt=0, le=3600)
    env: dict[str, str] = Field(default_factory=dict, description="added to the clean environment")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: letters, digits and _ . : - only, starting with a letter or digit"
            )
        return value

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the program (first element) is empty")
        if len(value) == 1 and " " in value[0] and not os.path.exists(value[0]):
            raise ValueError(
                f"{value[0]!r} looks like a shell command line: write the program and each "
                "argument as list items (commands never run through a shell)"
            )
        if any("\0" in arg for arg in value):
            raise ValueError("arguments cannot contain NUL")
        return value


class PluginConfig(CheckConfig):
    """Options of the ``plugin`` check."""

    items: list[PluginItem] = Field(min_length=1)
    #: Output kept per run (stdout, then stderr when stdout is empty); the rest is read and
    #: dropped so the plugin does not block on a full pipe.
    max_output_bytes: int = Field(default=16384, ge=256, le=1_048_576)
    #: Performance-data items kept per plugin per run: a plugin cannot flood the series.
    max_perfdata: int = Field(default=50, ge=0, le=500)

    @field_validator("items")
    @classmethod
    def _unique(cls, value: list[PluginItem]) -> list[PluginItem]:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise ValueError(f"two items are named {item.name!r}")
            seen.add(item.name)
        return value

    @model_validator(mode="after")
    def _tick(self) -> PluginConfig:
        # The check wakes as often as its most frequent item; each item runs when it is due.
        shortest = min((i.interval for i in self.items if i.interval is not None), default=None)
        if shortest is not None and shortest < self.interval:
            self.interval = shortest
        return self

    def effective_timeout(self) -> float:
        # Items run one after another; the runner must not call a slow but live run hung.
        if self.timeout is not None:
            return self.timeout
        return sum(item.timeout for item in self.items) + 5.0


def plugin_state(run: BoundedRun, timeout: float) -> tuple[int, str, bool]:
    """(state, output, truncated) of a run: exit codes 0-3 are states, anything else UNKNOWN."""
    if run.error is not None:
        return UNKNOWN, run.error, False
    if run.timed_out:
        return UNKNOWN, f"timed out after {timeout:g}s (killed)", run.truncated
    output = run.stdout if run.stdout.strip() else run.stderr
    code = run.returncode if run.returncode is not None else UNKNOWN
    first = output.strip().splitlines()[0] if output.strip() else ""
    if code < 0:
        return UNKNOWN, f"killed by signal {-code}: {first}"[:500], run.truncated
    if code not in STATES:
        return UNKNOWN, f"exit code {code} is not a plugin state (0-3): {first}"[:500], False
    return code, output, run.truncated


class PluginCheck(Check):
    """Runs monitoring-plugins commands; reports their state, text and performance data."""

    name: ClassVar[str] = "plugin"
    Config: ClassVar[type[CheckConfig]] = PluginConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "plugin_state",
            "gauge",
            "",
            ("name",),
            "The plugin's state from its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            states={0: "ok", 1: "warning", 2: "critical", 3: "unknown"},
        ),
        MetricSpec(
            "plugin_duration_seconds",
            "gauge",
            "seconds",
            ("name",),
            "How long the plugin ran",
        ),
        MetricSpec(
            "plugin_perfdata_seconds",
            "gauge",
            "seconds",
            ("name", "label"),
            "A performance-data value in s, ms, us or ns, in seconds",
        ),
        MetricSpec(
            "plugin_perfdata_bytes",
            "gauge",
            "bytes",
            ("name", "label"),
            "A performance-data value in B, KB, MB, GB or TB (binary multiples), in bytes",
        ),
        MetricSpec(
            "plugin_perfdata_percent",
            "gauge",
            "percent",
            ("name", "label"),
            "A performance-data value in %",
        ),
        MetricSpec(
            "plugin_perfdata_continuous_total",
            "counter",
            "",
            ("name", "label"),
            "A performance-data counter (UOM c)",
        ),
        MetricSpec(
            "plugin_perfdata",
            "gauge",
            "",
            ("name", "label"),
            "A performance-data value without a unit (or with a unit the agent does not know)",
        ),
        MetricSpec(
            "plugin_perfdata_threshold",
            "gauge",
            "",
            ("name", "label", "level", "bound"),
            "A threshold or limit the plugin reported, in the value's base unit",
            values={"level": ("warning", "critical", "min", "max"), "bound": ("low", "high")},
        ),
        MetricSpec(
            "plugin_perfdata_invalid",
            "gauge",
            "",
            ("name",),
            "Performance-data items of the last run that could not be read (skipped)",
        ),
    )

    config: PluginConfig

    def __init__(self, config: CheckConfig, host: Any) -> None:
        super().__init__(config, host)
        self._last_run: dict[str, float] = {}
        self._last_state: dict[str, int] = {}

    def _due(self, item: PluginItem, now: float) -> bool:
        last = self._last_run.get(item.name)
        interval = item.interval or self.config.interval
        # Half a tick of slack: the scheduler's jitter must not make an item skip a run.
        return last is None or now - last >= interval - self.config.interval / 2

    def collect(self) -> Iterator[Sample | Event]:
        now = time.monotonic()
        for item in self.config.items:
            if not self._due(item, now):
                continue
            self._last_run[item.name] = now
            run = self.host.run_bounded(
                item.command, item.timeout, self.config.max_output_bytes, item.env
            )
            yield from self._samples(item, run)

    def _samples(self, item: PluginItem, run: BoundedRun) -> Iterator[Sample | Event]:
        labels = {"name": item.name}
        state, output, truncated = plugin_state(run, item.timeout)
        parsed = parse_output(output)
        text = (parsed.text or "(no output)")[:900]
        if truncated:
            text += " (output truncated)"
        yield Sample("plugin_state", float(state), dict(labels))
        yield Sample("plugin_duration_seconds", run.duration, dict(labels))
        kept = parsed.perfdata[: self.config.max_perfdata]
        seen: set[str] = set()
        for value in kept:
            if value.label in seen:  # the first of a repeated label wins
                continue
            seen.add(value.label)
            yield from _perf_samples(item.name, value)
        invalid = len(parsed.invalid) + max(0, len(parsed.perfdata) - self.config.max_perfdata)
        yield Sample("plugin_perfdata_invalid", float(invalid), dict(labels))
        # The text is an event, not a label (it changes every run: a label would make a new
        # series each time). Sent on every run that is not OK and when the state changes,
        # so the collector's rules can quote the latest text in the incident.
        previous = self._last_state.get(item.name)
        self._last_state[item.name] = state
        if state != 0 or previous != state:
            yield Event(
                "plugin_output",
                f"{STATES[state].upper()}: {text}"[:1000],
                {
                    "name": item.name,
                    "state": state,
                    "text": text[:1000],
                    "long_text": "\n".join(parsed.long_text)[:2000],
                    "invalid_perfdata": parsed.invalid[:5],
                },
            )


def _perf_samples(name: str, value: PerfValue) -> Iterator[Sample]:
    labels = {"name": name, "label": value.label}
    yield Sample(PERF_METRICS[value.kind], value.value, dict(labels))
    for level, threshold in (("warning", value.warning), ("critical", value.critical)):
        if threshold is None or threshold.inside:
            continue  # an "alert inside" range has no single bound to chart
        if threshold.low is not None and threshold.low != 0.0:
            yield Sample(
                "plugin_perfdata_threshold",
                threshold.low,
                {**labels, "level": level, "bound": "low"},
            )
        if threshold.high is not None:
            yield Sample(
                "plugin_perfdata_threshold",
                threshold.high,
                {**labels, "level": level, "bound": "high"},
            )
    if value.min is not None:
        yield Sample(
            "plugin_perfdata_threshold", value.min, {**labels, "level": "min", "bound": "low"}
        )
    if value.max is not None:
        yield Sample(
            "plugin_perfdata_threshold", value.max, {**labels, "level": "max", "bound": "high"}
        )
