"""What every check is: a config model, a metric catalog, and one ``collect`` method.

The base class runs a check, times it, and turns any exception into a ``check_error``
event plus ``upkeep_check_up{check=…} 0``. Checks never evaluate thresholds: they report
values, the collector decides what is wrong.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from agent.durations import Duration
from agent.schema import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from agent.host import Host

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Sample:
    """One value of one series at one time. ``asset``/``ts`` default to the host and the cycle."""

    metric: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    asset: str | None = None
    ts: float | None = None

    def to_wire(self) -> dict:
        return {
            "asset": self.asset,
            "metric": self.metric,
            "labels": self.labels,
            "value": float(self.value),
            "ts": self.ts,
        }


@dataclass(slots=True)
class Event:
    """Something that happened once (a reboot, a check error, spool drops)."""

    type: str
    message: str = ""
    data: dict = field(default_factory=dict)
    asset: str | None = None
    ts: float | None = None

    def to_wire(self) -> dict:
        return {
            "asset": self.asset,
            "type": self.type,
            "ts": self.ts,
            "message": self.message,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One line of a check's metric catalog; tests compare emitted samples against it."""

    name: str
    type: Literal["gauge", "counter"]
    unit: str
    labels: tuple[str, ...]
    help: str


class Unsupported(Exception):
    """Raised by ``collect`` (or returned by ``unsupported``) when a check cannot run here.

    The runner reports it once as a ``check_unsupported`` event and stops scheduling the
    check, instead of failing it every cycle.
    """


class CheckConfig(BaseModel):
    """Options every check has. A check's own Config subclasses this."""

    model_config = ConfigDict(extra="forbid")

    interval: Duration = Field(default=30.0, gt=0)
    timeout: Duration | None = Field(
        default=None, gt=0, description="default: the interval, at most 60s"
    )
    enabled: bool = True

    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else min(self.interval, 60.0)


@dataclass(slots=True)
class CheckResult:
    samples: list[Sample]
    events: list[Event]
    ok: bool
    duration: float
    unsupported: str | None = None


#: The two samples the base class adds to every run.
BASE_CATALOG = (
    MetricSpec(
        "upkeep_check_up",
        "gauge",
        "",
        ("check",),
        "1 if the check's last run succeeded, 0 if it failed or timed out",
    ),
    MetricSpec(
        "upkeep_check_duration_seconds",
        "gauge",
        "seconds",
        ("check",),
        "How long the check's last run took",
    ),
)


class Check:
    """Base class. Subclasses set ``name``, ``Config``, ``catalog`` and override ``collect``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[CheckConfig]] = CheckConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = ()
    #: Default interval when the config does not say (overrides CheckConfig's 30s).
    default_interval: ClassVar[float | None] = None
    #: Its values are rates or percentages of the time since the previous run, so the
    #: first run only primes it: ``upkeep-agent once`` runs such checks twice, others once.
    needs_previous: ClassVar[bool] = False

    def __init__(self, config: CheckConfig, host: Host) -> None:
        self.config = config
        self.host = host

    def unsupported(self) -> str | None:
        """Why this check cannot run on this machine (OS, missing tool), or None."""
        return None

    def collect(self) -> Iterable[Sample | Event]:
        raise NotImplementedError

    def run(self, now: float | None = None) -> CheckResult:
        """Collect once. Never raises: failure becomes an event and ``upkeep_check_up 0``."""
        now = time.time() if now is None else now
        start = time.perf_counter()
        samples: list[Sample] = []
        events: list[Event] = []
        unsupported = None
        ok = True
        try:
            for item in self.collect():
                if isinstance(item, Sample):
                    samples.append(item)
                else:
                    events.append(item)
        except Unsupported as exc:
            unsupported = str(exc) or "not supported on this machine"
            samples, events, ok = [], [], False
        except Exception as exc:  # a failing check must never stop the agent
            log.warning(
                "check %s failed: %s", self.name, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )
            samples, ok = [], False
            events.append(
                Event(
                    "check_error",
                    f"{self.name}: {type(exc).__name__}: {exc}",
                    {"check": self.name, "error": type(exc).__name__},
                )
            )
        duration = time.perf_counter() - start
        if any(not math.isfinite(s.value) for s in samples):
            # NaN/inf is not a value the wire accepts; one bad sample must not sink a batch.
            dropped = [s.metric for s in samples if not math.isfinite(s.value)]
            log.debug("check %s: dropped non-finite values of %s", self.name, dropped)
            samples = [s for s in samples if math.isfinite(s.value)]
        if unsupported is None:
            samples.append(Sample("upkeep_check_up", 1.0 if ok else 0.0, {"check": self.name}))
            samples.append(Sample("upkeep_check_duration_seconds", duration, {"check": self.name}))
        asset = self.host.asset_name
        for item in samples:
            if item.asset is None:
                item.asset = asset
            if item.ts is None:
                item.ts = now
        for item in events:
            if item.asset is None:
                item.asset = asset
            if item.ts is None:
                item.ts = now
        return CheckResult(samples, events, ok, duration, unsupported)

    def failed(self, reason: str, now: float | None = None) -> CheckResult:
        """The result of a run that did not finish (e.g. timed out)."""
        now = time.time() if now is None else now
        asset = self.host.asset_name
        return CheckResult(
            [Sample("upkeep_check_up", 0.0, {"check": self.name}, asset, now)],
            [
                Event(
                    "check_error",
                    f"{self.name}: {reason}",
                    {"check": self.name, "error": reason},
                    asset,
                    now,
                )
            ],
            False,
            0.0,
        )
