"""The rule engine: pure state machines over samples and time, no I/O.

One :class:`Alert` per rule and series (per rule and asset for ``metric: any``). Its
state moves inactive → pending → firing → resolved (back to inactive):

* **pending** as soon as the condition holds (at the sample's timestamp);
* **firing** once it has held for ``for`` — checked on every sample and by the sweep — but
  only on *fresh* data: a sample older than ``stale_after`` when it arrives (an agent
  replaying its spool) moves the clocks, never fires by itself;
* **resolved** once ``clear`` (default: the condition no longer holds) has held for
  ``keep_firing_for``; between the condition and ``clear`` (hysteresis band) it stays firing;
* severity (warning/critical) changes while firing; critical must hold for ``for`` too;
* **flapping**: more than ``flapping.max_changes`` fire/resolve changes within
  ``flapping.window`` keep the alert firing until it has been stable for the window.

Samples are evaluated by their timestamp. A sample older than the newest one already seen
for a series (out of order) but within ``reorder_window`` re-runs the alert's history from
a checkpoint, so the order of arrival does not change the outcome; an older one only feeds
windows. Output: :class:`Transition` objects; :meth:`RuleEngine.take_dirty` says which
alerts' persistent state changed (the service writes them to the store).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
import string
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from collector.notices.human import FILTERS, Human
from collector.rules.model import ANY_METRIC, Rule, Severity
from collector.rules.ruleset import CompiledRule, Matcher, RuleSet, format_value

INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"


class SeriesLike(Protocol):
    """What the engine needs of a series (``collector.ingest.SeriesRef`` fits).

    Read-only members: SeriesRef and frozen dataclasses satisfy it."""

    @property
    def id(self) -> int: ...
    @property
    def client_id(self) -> int: ...
    @property
    def asset_id(self) -> int: ...
    @property
    def asset(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """An asset's context for overrides and templates."""

    id: int
    client_id: int
    client: str
    site: str | None
    name: str
    tags: frozenset[str] = frozenset()


@dataclass(slots=True)
class Core:
    """The persistent part of an alert's state (what a restart must keep)."""

    status: str = INACTIVE  # outward: inactive | pending | firing
    raw: str = INACTIVE  # the condition's own state, under the flapping layer
    severity: str | None = None
    pending_since: float | None = None
    critical_since: float | None = None
    firing_since: float | None = None
    clear_since: float | None = None
    flapping: bool = False
    changes: list[float] = field(
        default_factory=list
    )  # raw fire/resolve times within the flap window
    last_ts: float = -math.inf
    last_value: float | None = None
    eta: float | None = None

    def snapshot(self) -> tuple:
        return (
            self.status,
            self.raw,
            self.severity,
            self.pending_since,
            self.critical_since,
            self.firing_since,
            self.clear_since,
            self.flapping,
            len(self.changes),
        )

    def copy(self) -> Core:
        return replace(self, changes=list(self.changes))

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["last_ts"] == -math.inf:
            out["last_ts"] = None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Core:
        names = {f.name for f in fields(cls)}
        core = cls(**{k: v for k, v in data.items() if k in names})
        if core.last_ts is None:
            core.last_ts = -math.inf
        core.changes = list(core.changes or [])
        return core


#: History entries' level and flags in one byte: the level's index, then clear_ok, fresh.
_LEVELS: tuple[str | None, ...] = (None, "warning", "critical", "tick")
_LEVEL_CODE = {level: i for i, level in enumerate(_LEVELS)}
_CLEAR_OK, _FRESH = 4, 8


class History:
    """An alert's reorder history, entries ``(ts, level, clear_ok, fresh, value)`` sorted by
    ts, kept as columns (17 bytes an entry instead of a tuple and two floats, ~130 bytes):
    windowed rules hold one entry per sample of the reorder window for every series."""

    __slots__ = ("times", "values", "codes")

    def __init__(self, entries: Iterable[tuple[float, str | None, bool, bool, float]] = ()) -> None:
        self.times = array("d")
        self.values = array("d")
        self.codes = bytearray()
        for entry in entries:
            self.append(entry)

    @staticmethod
    def _code(level: str | None, clear_ok: bool, fresh: bool) -> int:
        return _LEVEL_CODE[level] | (_CLEAR_OK if clear_ok else 0) | (_FRESH if fresh else 0)

    def append(self, entry: tuple[float, str | None, bool, bool, float]) -> None:
        ts, level, clear_ok, fresh, value = entry
        self.times.append(ts)
        self.values.append(value)
        self.codes.append(self._code(level, clear_ok, fresh))

    def insort(self, entry: tuple[float, str | None, bool, bool, float]) -> None:
        """Insert after the entries with the same or an earlier ts (``bisect.insort``)."""
        ts, level, clear_ok, fresh, value = entry
        i = bisect.bisect_right(self.times, ts)
        self.times.insert(i, ts)
        self.values.insert(i, value)
        self.codes.insert(i, self._code(level, clear_ok, fresh))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> tuple[float, str | None, bool, bool, float]:
        code = self.codes[i]
        return (
            self.times[i],
            _LEVELS[code & 3],
            bool(code & _CLEAR_OK),
            bool(code & _FRESH),
            self.values[i],
        )

    def __iter__(self) -> Iterator[tuple[float, str | None, bool, bool, float]]:
        for i in range(len(self.codes)):
            yield self[i]

    def cut(self, n: int) -> None:
        """Drop the ``n`` oldest entries."""
        del self.times[:n], self.values[:n], self.codes[:n]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, History):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"History({list(self)!r})"


@dataclass(slots=True)
class Alert:
    """One rule applied to one series (or one asset): identity, state, and recent history."""

    rule_id: str
    fingerprint: str
    client_id: int
    asset_id: int
    series_id: int | None
    labels: dict[str, str]  # the series' identifying labels
    core: Core = field(default_factory=Core)
    # Out-of-order handling: the state before `history`, and (ts, level, clear_ok, fresh, value).
    checkpoint: Core | None = None
    history: History = field(default_factory=History)

    @property
    def status(self) -> str:
        return self.core.status


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changed: the engine's output, consumed by the incident lifecycle."""

    rule_id: str
    fingerprint: str
    event: (
        str  # pending | inactive | firing | resolved | escalated | deescalated | flapping | stable
    )
    status: str  # the alert's status after the change
    previous_status: str
    severity: str | None
    previous_severity: str | None
    ts: float  # sample time (or sweep time) the change happened at
    value: float | None
    client_id: int
    client: str
    site: str | None
    asset_id: int
    asset: str
    labels: dict[str, str]  # identifying: the series' labels plus the rule's `labels`
    priority: str
    kind: str
    summary: str
    description: str
    runbook: str | None
    flapping: bool
    reason: str = ""
    #: What ``summary`` was rendered from (:func:`title_source`): said again in a client's
    #: language by collector.incidents.titles.
    title_source: dict[str, Any] | None = None


def fingerprint(rule_id: str, client_id: int, asset_id: int, labels: dict[str, str]) -> str:
    """Stable identity of an alert: rule + asset + the series' identifying labels."""
    text = "\x1f".join(
        [rule_id, str(client_id), str(asset_id), *(f"{k}={v}" for k, v in sorted(labels.items()))]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# ---------------------------------------------------------------------- templates


class Measured(float):
    """A sample value that knows its unit (from the agent's metric catalog).

    In a summary ``{value}`` is written by the unit ("3 days" for seconds, "12.3 GB" for bytes,
    "97%" for percent), ``{value:duration}`` / ``:ago`` / ``:in`` / ``:bytes`` / ``:percent``
    / ``:date`` / ``:number`` by that filter (:data:`collector.notices.human.FILTERS`), and a
    number format (``{value:.1f}``) as before.
    """

    unit: str | None

    def __new__(cls, value: float, unit: str | None = None) -> Measured:
        made = super().__new__(cls, value)
        made.unit = unit
        return made

    def __format__(self, spec: str) -> str:
        human = _human()
        if not spec:
            return human.by_unit(float(self), self.unit)
        if spec in FILTERS:
            return human.apply(spec, float(self))
        return float(self).__format__(spec)


@functools.cache
def _human() -> Human:
    # Rule texts become incident titles and ticket subjects for technicians: English, UTC.
    return Human("en", "UTC")


class _TemplateFormatter(string.Formatter):
    def get_value(self, key: Any, args: Sequence[Any], kwargs: Any) -> Any:
        if isinstance(key, int):
            return ""
        return kwargs.get(key, "")

    def __init__(self, human: Human | None = None) -> None:
        super().__init__()
        self.human = human

    def format_field(self, value: Any, format_spec: str) -> Any:
        human = self.human or _human()
        if isinstance(value, Measured) and (not format_spec or format_spec in FILTERS):
            if not format_spec:
                return human.by_unit(float(value), value.unit)
            return human.apply(format_spec, float(value))
        if (
            format_spec in FILTERS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return human.apply(format_spec, value)
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value if value is not None else "")


_FORMATTER = _TemplateFormatter()


def render(template: str, context: dict[str, Any], human: Human | None = None) -> str:
    """``template`` with ``{label}``, ``{value:.0f}``, ``{value:duration}``, …; an unknown
    field renders empty. ``human``: the reader's language and zone for the values (default:
    English, UTC — the technicians' title)."""
    if not template:
        return ""
    formatter = _FORMATTER if human is None else _TemplateFormatter(human)
    try:
        return formatter.vformat(template, (), context)
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


def title_source(
    template: str, context: dict[str, Any], metric: str, eta: float | None
) -> dict[str, Any] | None:
    """What a summary was rendered from, as JSON: the template, the text fields it may quote,
    the raw value with its unit and the forecast in seconds. None for an empty template."""
    if not template:
        return None
    value = context.get("value")
    return {
        "template": template,
        "fields": {
            k: v for k, v in context.items() if k not in ("value", "eta") and isinstance(v, str)
        },
        "value": None if value is None else float(value),
        "unit": getattr(value, "unit", None),
        "metric": metric,
        "eta": eta,
    }


def render_source(source: dict[str, Any], human: Human, template: str | None = None) -> str:
    """A :func:`title_source` rendered again for ``human``'s reader, with ``template`` (its
    translation) or the stored one; the forecast ``{eta}`` becomes a duration in words."""
    value = source.get("value")
    context: dict[str, Any] = {
        **(source.get("fields") or {}),
        "value": None if value is None else Measured(float(value), source.get("unit")),
        "eta": "" if source.get("eta") is None else human.duration(float(source["eta"])),
    }
    return render(template or str(source.get("template") or ""), context, human)


def summary_context(
    labels: dict[str, str],
    value: float | None,
    rule: Rule,
    *,
    asset: str,
    client: str,
    site: str | None,
    eta: float | None,
    severity: str | None,
) -> dict[str, Any]:
    """The fields a rule's summary and description may name."""
    return {
        **labels,
        "value": summary_value(value, rule.metric),
        "asset": asset,
        "client": client,
        "site": site or "",
        "eta": humanize(eta),
        "rule": rule.id,
        "severity": severity or "",
    }


def summary_value(value: float | None, metric: str) -> Measured | None:
    """The ``{value}`` of a summary: the sample value with its metric's catalog unit."""
    if value is None:
        return None
    from collector.rules.catalog import metric_units

    return Measured(value, metric_units().get(metric))


def humanize(seconds: float | None) -> str:
    """``3 days``, ``5 hours``, ``40 minutes`` (for forecasts' ``{eta}``)."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (1 if unit == "minute" else 2 if unit == "hour" else 2):
            count = round(seconds / size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


# ---------------------------------------------------------------------- windows and forecasts


def aggregate(
    points: Sequence[tuple[float, float]], func: str, window: float, ts: float
) -> float | None:
    """``func`` over the points in ``(ts - window, ts]`` (points sorted by ts)."""
    lo = bisect.bisect_right(points, (ts - window, math.inf))
    hi = bisect.bisect_right(points, (ts, math.inf))
    values = [v for _, v in points[lo:hi]]
    if not values:
        return None
    if func == "avg":
        return sum(values) / len(values)
    if func == "min":
        return min(values)
    if func == "max":
        return max(values)
    if func == "sum":
        return sum(values)
    if func == "count":
        return float(len(values))
    if func == "delta":
        return values[-1] - values[0]
    if func == "rate":  # a counter: increases per second, a drop is a reset (counts from 0)
        if len(values) < 2:
            return None
        span = points[hi - 1][0] - points[lo][0]
        if span <= 0:
            return None
        increase = 0.0
        for prev, cur in zip(values, values[1:], strict=False):
            increase += cur - prev if cur >= prev else cur
        return increase / span
    return values[-1]


def _aggregate(times: array, values: array, func: str, window: float, ts: float) -> float | None:
    """:func:`aggregate` over a window kept as columns (``times`` sorted): the same result."""
    lo = bisect.bisect_right(times, ts - window)
    hi = bisect.bisect_right(times, ts)
    if lo >= hi:
        return None
    vals = values[lo:hi]
    if func == "avg":
        return sum(vals) / len(vals)
    if func == "min":
        return min(vals)
    if func == "max":
        return max(vals)
    if func == "sum":
        return sum(vals)
    if func == "count":
        return float(len(vals))
    if func == "delta":
        return vals[-1] - vals[0]
    if func == "rate":
        if len(vals) < 2:
            return None
        span = times[hi - 1] - times[lo]
        if span <= 0:
            return None
        increase = 0.0
        for prev, cur in zip(vals, vals[1:], strict=False):
            increase += cur - prev if cur >= prev else cur
        return increase / span
    return vals[-1]


@dataclass(slots=True)
class ForecastTrack:
    """Bucketed means of one series for a linear fit; a step change restarts the fit."""

    width: float
    using: float
    #: The closed buckets' mean times and mean values (columns: 16 bytes a bucket).
    times: array = field(default_factory=lambda: array("d"))
    means: array = field(default_factory=lambda: array("d"))
    bucket: int | None = None
    sum_t: float = 0.0
    sum_v: float = 0.0
    n: int = 0

    @property
    def points(self) -> list[tuple[float, float]]:
        """The closed buckets as (mean ts, mean value)."""
        return list(zip(self.times, self.means, strict=True))

    def history(self) -> float:
        """How far back raw samples rebuild this track (a new shard owner, a restart): the fit's
        span plus the bucket it starts in and the one being filled."""
        return self.using + 2 * self.width

    def add(self, ts: float, value: float, count: int = 1) -> bool:
        """Add a sample (``count`` > 1: ``count`` samples of mean ``value`` at mean time ``ts``,
        an hourly rollup); True when a bucket closed (the fit changed)."""
        bucket = int(ts // self.width)
        closed = False
        if self.bucket is not None and bucket < self.bucket:
            return False  # late: the fit only moves forward
        if self.bucket is not None and bucket != self.bucket and self.n:
            self._close()
            closed = True
        if self.bucket != bucket:
            self.bucket, self.sum_t, self.sum_v, self.n = bucket, 0.0, 0.0, 0
        self.sum_t += ts * count
        self.sum_v += value * count
        self.n += count
        return closed

    def _close(self) -> None:
        t, v = self.sum_t / self.n, self.sum_v / self.n
        times, means = self.times, self.means
        if len(times) >= 3 and self._is_step(v):
            del times[:], means[:]
        times.append(t)
        means.append(v)
        horizon = t - self.using
        cut = 0
        while cut < len(times) and times[cut] < horizon:
            cut += 1
        if cut:
            del times[:cut], means[:cut]

    def _is_step(self, value: float) -> bool:
        """A jump far outside the usual point-to-point movement (a refill, a clean-up, a restore)."""
        means = self.means
        diffs = sorted(abs(b - a) for a, b in zip(means, means[1:], strict=False))
        typical = diffs[len(diffs) // 2]
        spread = max(means) - min(means)
        jump = abs(value - means[-1])
        return jump > max(6 * typical, 0.5 * spread, 1e-9) and jump > 3 * (typical + 1e-9)

    def eta(self, reach: float, min_points: int) -> tuple[float | None, float | None]:
        """(seconds until the fit reaches ``reach`` from the newest point, fitted value now)."""
        times, means = self.times, self.means
        n = len(times)
        if n < min_points:
            return None, None
        mt = sum(times) / n
        mv = sum(means) / n
        sxx = sum((t - mt) ** 2 for t in times)
        if sxx <= 0:
            return None, None
        slope = sum((t - mt) * (v - mv) for t, v in zip(times, means, strict=True)) / sxx
        now_t = times[-1]
        fitted = mv + slope * (now_t - mt)
        gap = reach - fitted
        if gap == 0 or (gap > 0) != (slope > 0) and (gap < 0) != (slope < 0):
            return (0.0, fitted) if gap == 0 else (None, fitted)
        if slope == 0:
            return None, fitted
        eta = gap / slope
        return (eta, fitted) if eta >= 0 else (None, fitted)


_NO_FORECASTS: dict[str, ForecastTrack] = {}


@dataclass(slots=True)
class _SeriesTrack:
    #: The aggregate window's samples (ts sorted, value) as columns; None without a window.
    times: array | None = None
    values: array | None = None
    window: float = 0.0
    rules: list[tuple[CompiledRule, tuple[Matcher, ...]]] = field(default_factory=list)
    #: Rule id → its forecast (shared empty dict for the series without one: never written).
    forecasts: dict[str, ForecastTrack] = field(default_factory=lambda: _NO_FORECASTS)
    #: Bit i set: ``rules[i]`` has no Alert for this series yet and is taken by the fast path
    #: (:meth:`RuleEngine._observe_series`) while its samples do not hold the condition.
    lean: int = 0
    #: For lean rules, what their Alerts would hold: the samples within the reorder window
    #: as two columns (``qt`` times, sorted; ``qv`` values), and the newest sample folded
    #: out of it (the checkpoint's clock). An Alert made from these is the general path's,
    #: exactly. ``qt`` is never changed in place: the series of one asset that got the same
    #: samples' times share one times column (see :meth:`RuleEngine._lean_sample`).
    qt: array | None = None
    qv: array | None = None
    base_ts: float = -math.inf
    base_value: float | None = None

    def newest(self) -> tuple[float, float | None]:
        qt = self.qt
        if qt:
            qv = self.qv
            assert qv is not None
            return qt[-1], qv[-1]
        return self.base_ts, self.base_value


#: The empty times column every lean series starts from (shared; never changed in place).
_NO_TIMES = array("d")


#: The track of every series no rule names (shared; never changed: no rules, no window).
_NO_RULES = _SeriesTrack()

# ---------------------------------------------------------------------- the engine

AssetResolver = Callable[[int], AssetInfo]
#: (asset id, series labels) → the latest text the asset's agent sent about that series
#: (a plugin check's output), for templates' ``{output}``; None when there is none.
TextResolver = Callable[[int, dict[str, str]], str | None]


class RuleEngine:
    """Evaluates a :class:`RuleSet` over samples (:meth:`observe`) and time (:meth:`sweep`).

    Not thread-safe: the service serializes calls. ``asset_info`` resolves an asset id to
    its client/site/name/tags (for overrides and templates); it must not fail.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        asset_info: AssetResolver,
        *,
        started_at: float,
        stale_after: float = 600.0,
        reorder_window: float = 900.0,
        series_gone_after: float = 86400.0,
        max_clock_skew: float = 300.0,
        texts: TextResolver | None = None,
        fast: bool = True,
    ) -> None:
        self.ruleset = ruleset
        #: The fast path for simple thresholds (docs/rules.md, "Cost"): a series whose simple
        #: rules' condition has not held gets no Alert object at all. ``False`` is the general
        #: path for every sample (the property test compares both).
        self.fast = fast
        self.texts = texts
        #: State dated further ahead than this (from samples stored before ingest refused
        #: future timestamps) is forgotten when a sample arrives, so it cannot freeze an alert.
        self.max_clock_skew = max_clock_skew
        self.asset_info = asset_info
        self.started_at = started_at
        self.stale_after = stale_after
        self.reorder_window = reorder_window
        self.series_gone_after = series_gone_after
        self.alerts: dict[str, Alert] = {}
        self._by_pair: dict[tuple[str, int], Alert] = {}  # (rule id, series id) → alert
        self._by_asset: dict[
            tuple[str, int], Alert
        ] = {}  # (rule id, asset id) → alert (metric: any)
        self._series: dict[int, _SeriesTrack] = {}
        self._siblings: dict[tuple[int, str, tuple], float] = {}
        #: asset id → rule id → the rule with the asset's overrides. The dict is shared by the
        #: assets that the same overrides match (:meth:`_rule_for`): without overrides, one
        #: dict for the whole fleet instead of one an asset.
        self._effective: dict[int, dict[str, Rule]] = {}
        self._effective_by: dict[tuple[int, ...], dict[str, Rule]] = {}
        self._asset_seen: dict[int, tuple[int, float]] = {}  # asset id → (client id, newest ts)
        #: Assets whose newest time changed (or whose asset alert arrived) since the last
        #: batch, in order: the only ones :meth:`_observe_assets` looks at.
        self._seen_changed: dict[int, None] = {}
        self._restored: dict[str, Core] = {}
        self._dirty: set[str] = set()
        self._gone: set[str] = set()
        self._now = started_at
        self._clocks: dict[int, tuple[Any, Any, float, float | None]] = {}  # lean, over a reload
        #: Asset id → (ts, a times column, it with ts appended and trimmed, how many trimmed):
        #: the last step of the asset's lean times columns, so the series of a batch share one
        #: new column instead of a copy each.
        self._qsteps: dict[int, tuple[float, array, array, int]] = {}
        self._rule_lists: dict[tuple, list[tuple[CompiledRule, tuple[Matcher, ...]]]] = {}

    # ------------------------------------------------------------------ state in and out

    def restore(self, states: Iterable[tuple[str, Core]]) -> None:
        """Persisted states by fingerprint; each is picked up when its series shows up again."""
        for fp, core in states:
            self._restored[fp] = core

    def restore_alert(self, alert: Alert) -> None:
        """A persisted alert with its identity (asset alerts and firing alerts are live at once)."""
        self.alerts[alert.fingerprint] = alert
        alert.checkpoint = alert.core.copy()
        if alert.series_id is None:
            self._by_asset[(alert.rule_id, alert.asset_id)] = alert
            self._seen_changed[alert.asset_id] = None
        else:
            self._by_pair[(alert.rule_id, alert.series_id)] = alert

    def has_changes(self) -> bool:
        """Whether :meth:`take_dirty` would return anything (no write needed otherwise)."""
        return bool(self._dirty or self._gone)

    def take_dirty(self) -> tuple[list[Alert], list[str]]:
        """Alerts whose persistent state changed since the last call, and fingerprints dropped."""
        dirty = [self.alerts[fp] for fp in self._dirty if fp in self.alerts]
        gone = list(self._gone)
        self._dirty.clear()
        self._gone.clear()
        return dirty, gone

    def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.core.status != INACTIVE]

    def seen(self, asset_id: int, client_id: int, ts: float) -> None:
        """Tell absent rules an asset last sent data at ``ts`` (seeded from the store at start)."""
        prev = self._asset_seen.get(asset_id)
        if prev is None or ts > prev[1]:
            self._asset_seen[asset_id] = (client_id, ts)
            self._seen_changed[asset_id] = None

    def windows_needed(self, refs: Iterable[SeriesLike]) -> list[tuple[SeriesLike, float]]:
        """New series that need history (the service preloads them from the store): for an
        aggregate window, and for a forecast's fit (:meth:`ForecastTrack.history`), so a new
        shard owner or a restarted collector continues both as if it had run all along."""
        out = []
        for ref in refs:
            if ref.id in self._series or ref.metric not in self.ruleset.by_metric:
                continue
            track = self._track(ref)
            needed = max(
                [track.window, *(f.history() for f in track.forecasts.values())], default=0.0
            )
            if needed > 0:
                out.append((ref, needed))
        return out

    def needs_rollups(self, ref: SeriesLike) -> bool:
        """Whether a new series has forecasts (whose fit may reach past the raw samples kept)."""
        return bool(self._track(ref).forecasts)

    def preload(
        self,
        ref: SeriesLike,
        points: Iterable[tuple[float, float]],
        *,
        before: float = math.inf,
        hourly: Iterable[tuple[float, float, int]] = (),
    ) -> None:
        """History of a new series from the store: raw ``points`` (ts, value) for its window
        and its forecasts, and for forecasts whose fit reaches past the raw samples, ``hourly``
        rollups (mean ts, mean value, count) older than the oldest raw point. Forecasts get
        only what is older than ``before`` (the samples about to be observed are added then)."""
        track = self._track(ref)
        raw = sorted(set(points))
        if track.window > 0 and raw:
            horizon = raw[-1][0] - max(track.window, self.reorder_window) - 60
            kept = set(zip(track.times or (), track.values or (), strict=True))
            self._set_window(track, sorted(kept | {p for p in raw if p[0] >= horizon}))
        if not track.forecasts:
            return
        oldest = raw[0][0] if raw else math.inf
        history = [(ts, v, n) for ts, v, n in sorted(hourly) if ts < oldest and ts < before]
        history += [(ts, v, 1) for ts, v in raw if ts < before]
        for forecast in track.forecasts.values():
            if forecast.bucket is not None:
                continue  # already fed (not new): never twice
            for ts, value, count in history:
                forecast.add(ts, value, count)

    # ------------------------------------------------------------------ reload

    def window(self, ref: SeriesLike) -> float:
        """How far back the engine keeps the points of ``ref`` for its rules' aggregates."""
        return self._track(ref).window

    def prime_window(self, ref: SeriesLike, points: list[tuple[float, float]]) -> None:
        """Set the aggregate window of ``ref`` to ``points`` (ts, value; sorted): a replay that
        did not hand the engine samples which could change nothing (the backtest) gives it
        the window those samples would have filled before the next one it hands over."""
        track = self._track(ref)
        if track.window > 0:
            self._set_window(track, points)

    @staticmethod
    def _set_window(track: _SeriesTrack, points: Iterable[tuple[float, float]]) -> None:
        times, values = array("d"), array("d")
        for t, v in points:
            times.append(t)
            values.append(v)
        track.times, track.values = times, values

    def reload(self, ruleset: RuleSet, now: float) -> list[Transition]:
        """Swap the rules. Unchanged rules keep everything; changed rules keep their alerts'
        state (re-evaluated from the next sample); removed rules resolve their alerts."""
        old = self.ruleset
        self.ruleset = ruleset
        self._effective.clear()
        self._effective_by.clear()
        # Rule lists per series are rebuilt on the next sample; a lean series keeps its
        # samples (the general path's Alerts keep theirs over a reload too).
        self._clocks = {
            sid: (t.qt, t.qv, t.base_ts, t.base_value)
            for sid, t in self._series.items()
            if t.lean and (t.qt or t.base_ts != -math.inf)
        }
        self._series.clear()
        out: list[Transition] = []
        for fp, alert in list(self.alerts.items()):
            compiled = ruleset.rules.get(alert.rule_id)
            if compiled is None:
                if alert.core.status == FIRING:
                    before = (alert.core.status, alert.core.severity, alert.core.flapping)
                    alert.core = Core(last_ts=alert.core.last_ts, last_value=alert.core.last_value)
                    self._emit(
                        out, alert, old.rules[alert.rule_id].rule, before, now, "rule removed"
                    )
                del self.alerts[fp]
                self._gone.add(fp)
                continue
            previous = old.rules.get(alert.rule_id)
            if previous is None or previous.digest != compiled.digest:
                alert.checkpoint, alert.history = alert.core.copy(), History()
        self._by_pair = {k: v for k, v in self._by_pair.items() if v.fingerprint in self.alerts}
        self._by_asset = {k: v for k, v in self._by_asset.items() if v.fingerprint in self.alerts}
        return out

    # ------------------------------------------------------------------ samples

    def observe(
        self, samples: Iterable[tuple[SeriesLike, float, float]], now: float
    ) -> list[Transition]:
        """Evaluate samples ``(series, value, ts)`` that arrived at ``now``."""
        self._now = now
        out: list[Transition] = []
        by_metric = self.ruleset.by_metric
        siblings = self.ruleset.sibling_metrics
        any_rules = self.ruleset.any_rules
        seen = self._asset_seen
        changed = self._seen_changed
        matched: list[tuple[float, SeriesLike, float]] = []
        for ref, value, ts in samples:
            if any_rules:
                prev = seen.get(ref.asset_id)
                if prev is None or ts > prev[1] or prev[1] > now + self.max_clock_skew:
                    seen[ref.asset_id] = (ref.client_id, ts)
                    changed[ref.asset_id] = None
            metric = ref.metric
            if metric in siblings:
                self._siblings[(ref.asset_id, metric, tuple(sorted(ref.labels.items())))] = value
            if metric in by_metric:
                matched.append((ts, ref, value))
        if any_rules:
            self._observe_assets(out)
        elif changed:
            changed.clear()
        if matched:
            matched.sort(key=lambda item: item[0])
            for ts, ref, value in matched:
                self._observe_series(ref, value, ts, out)
        return out

    def _track(self, ref: SeriesLike) -> _SeriesTrack:
        track = self._series.get(ref.id)
        if track is not None:
            return track
        if ref.metric not in self.ruleset.by_metric:
            return _NO_RULES  # most series: nothing kept for them at all
        track = _SeriesTrack()
        rules = []
        for compiled in self.ruleset.by_metric.get(ref.metric, ()):
            ok, left = compiled.match_labels(ref.labels, self.ruleset.sibling_metrics)
            if not ok:
                continue
            rules.append((compiled, left))
            rule = compiled.rule
            if rule.aggregate.func != "last":
                track.window = max(track.window, rule.aggregate.window)
            if rule.forecast is not None:
                spec = rule.forecast
                if track.forecasts is _NO_FORECASTS:
                    track.forecasts = {}
                track.forecasts[rule.id] = ForecastTrack(width=spec.using / 48, using=spec.using)
        if rules:
            # Series of one metric mostly match the same rules: one shared list for them.
            key = tuple((id(c), left) for c, left in rules)
            track.rules = self._rule_lists.setdefault(key, rules)
        if self.fast:
            track.lean = self._lean_bits(ref, track.rules)
            if track.lean:
                kept = self._clocks.pop(ref.id, None) if self._clocks else None
                if kept is not None:
                    track.qt, track.qv, track.base_ts, track.base_value = kept
                if track.qt is None or track.qv is None:
                    track.qt, track.qv = _NO_TIMES, array("d")
        self._series[ref.id] = track
        return track

    def _lean_bits(
        self, ref: SeriesLike, rules: list[tuple[CompiledRule, tuple[Matcher, ...]]]
    ) -> int:
        """Which of a new series' rules the fast path may take: plain last-value conditions
        (no window, forecast, absence or sibling join) with no Alert or saved state yet."""
        bits, bit = 0, 1
        for compiled, left in rules:
            rule = compiled.rule
            if (
                not left
                and rule.aggregate.func == "last"
                and rule.forecast is None
                and rule.absent is None
                and (compiled.id, ref.id) not in self._by_pair
            ):
                fp = fingerprint(compiled.id, ref.client_id, ref.asset_id, ref.labels)
                if fp not in self.alerts and fp not in self._restored:
                    bits |= bit
            bit <<= 1
        return bits

    def _unlean(
        self, track: _SeriesTrack, bit: int, compiled: CompiledRule, rule: Rule, ref: SeriesLike
    ) -> None:
        """A lean pair's condition holds: it gets the Alert the general path would have had
        all along (its clock, checkpoint and reorder history from ``track``), and the general
        path from here on."""
        track.lean &= ~bit
        alert = self._alert(compiled, ref)
        if alert.core.last_ts != -math.inf or alert.history:
            return  # not new after all (cannot happen: _lean_bits checked)
        alert.checkpoint = Core(last_ts=track.base_ts, last_value=track.base_value)
        if track.base_ts == -math.inf:
            alert.checkpoint = Core()
        qt, qv = track.qt or (), track.qv or ()
        labels = ref.labels
        alert.history = History(
            (ts, None, self._levels(rule, v, labels)[1], True, v)
            for ts, v in zip(qt, qv, strict=True)
        )
        last_ts, last_value = track.newest()
        alert.core = Core(last_ts=last_ts, last_value=last_value)
        if last_ts == -math.inf:
            alert.core = Core()

    def _lean_sample(self, track: _SeriesTrack, asset_id: int, ts: float, value: float) -> None:
        """Record a sample of a lean series as each lean Alert's history would (``_apply``,
        ``_trim``): appended in order, inserted when late but after the checkpoint.

        The times column is replaced, never changed: appending ``ts`` to a column (and
        trimming what fell out of the reorder window) depends on that column and ``ts``
        only, so the asset's other series that held the same column take the same new one.
        """
        qt, qv = track.qt, track.qv
        if qt is None or qv is None:
            return
        if not track.lean:
            track.qt = track.qv = None
            return
        newest = qt[-1] if qt else track.base_ts
        if ts > newest:
            step = self._qsteps.get(asset_id)
            if step is not None and step[0] == ts and step[1] is qt:
                new, cut = step[2], step[3]
            else:
                # Every sample before the horizon but the newest of them folds out.
                cut = bisect.bisect_left(qt, ts - self.reorder_window)
                new = qt[cut:]
                new.append(ts)
                if step is None or step[0] != ts:
                    self._qsteps[asset_id] = (ts, qt, new, cut)
                elif step[2] == new:  # the same times as the asset's other series again
                    new = step[2]
            qv.append(value)
            if cut:
                track.base_ts, track.base_value = qt[cut - 1], qv[cut - 1]
                del qv[:cut]
            track.qt = new
        elif ts < newest and ts > track.base_ts:
            i = bisect.bisect_right(qt, ts)
            new = qt[:]
            new.insert(i, ts)
            qv.insert(i, value)
            track.qt = new

    def _rule_for(self, compiled: CompiledRule, asset_id: int) -> Rule:
        rules = self._effective.get(asset_id)
        if rules is None:
            # A rule's effective form depends only on which overrides match the asset.
            info = self.asset_info(asset_id)
            tags = frozenset(info.tags)
            matching = tuple(
                i
                for i, o in enumerate(self.ruleset.overrides)
                if o.matches(info.client, info.site, info.name, tags)
            )
            rules = self._effective_by.get(matching)
            if rules is None:
                rules = self._effective_by[matching] = {}
            self._effective[asset_id] = rules
        rule = rules.get(compiled.id)
        if rule is None:
            info = self.asset_info(asset_id)
            rule = self.ruleset.effective(compiled.id, info.client, info.site, info.name, info.tags)
            rules[compiled.id] = rule
        return rule

    def _alert(self, compiled: CompiledRule, ref: SeriesLike) -> Alert:
        key = (compiled.id, ref.id)
        alert = self._by_pair.get(key)
        if alert is None:
            fp = fingerprint(compiled.id, ref.client_id, ref.asset_id, ref.labels)
            alert = self.alerts.get(fp)
            if alert is None:
                core = self._restored.pop(fp, None) or Core()
                alert = Alert(
                    compiled.id,
                    fp,
                    ref.client_id,
                    ref.asset_id,
                    ref.id,
                    ref.labels,  # read-only, shared with the series (SeriesLike)
                    core,
                    checkpoint=core.copy(),
                )
                self.alerts[fp] = alert
            alert.series_id = ref.id
            self._by_pair[key] = alert
        return alert

    def _siblings_match(self, ref: SeriesLike, left: tuple[Matcher, ...]) -> bool:
        if not left:
            return True
        labels = tuple(sorted(ref.labels.items()))
        for m in left:
            value = self._siblings.get((ref.asset_id, m.key, labels))
            if not m.matches("" if value is None else format_value(value)):
                return False
        return True

    def _observe_series(
        self, ref: SeriesLike, value: float, ts: float, out: list[Transition]
    ) -> None:
        track = self._track(ref)
        if not track.rules:
            return
        fresh = self._now - ts <= self.stale_after
        future = self._now + self.max_clock_skew
        times, values = track.times, track.values
        if times is None or values is None:
            if track.window > 0:
                times, values = track.times, track.values = array("d"), array("d")
        elif times and times[-1] > future:  # points from a wrong clock would hold the window
            cut = bisect.bisect_right(times, future)
            del times[cut:], values[cut:]
        if track.window > 0 and times is not None and values is not None:
            if not times or ts > times[-1]:
                times.append(ts)
                values.append(value)
            else:
                i = bisect.bisect_left(times, ts)
                if i < len(times) and times[i] == ts:
                    values[i] = value
                else:
                    times.insert(i, ts)
                    values.insert(i, value)
            keep = max(track.window, self.reorder_window)
            if times[0] < times[-1] - keep - 60:
                cut = bisect.bisect_left(times, times[-1] - keep)
                del times[:cut], values[:cut]
        lean = track.lean
        if lean:
            newest = track.newest()[0]
            if newest > future:  # as _forget_future: the clock moves back to just before ts
                qv = track.qv
                track.base_ts = ts - 1e-3
                track.base_value = qv[-1] if qv else track.base_value
                if qv:
                    del qv[:]
                track.qt = _NO_TIMES
                newest = track.base_ts
            beyond = ts <= track.base_ts or ts == newest  # the general path ignores these
        bit = 1
        for compiled, left in track.rules:
            rule = self._rule_for(compiled, ref.asset_id)
            if lean & bit:
                # The fast path: a simple threshold with no Alert. A sample that does not
                # hold it only joins the series' quiet history (after this loop).
                if not rule.enabled or beyond or self._levels(rule, value, ref.labels)[0] is None:
                    bit <<= 1
                    continue
                self._unlean(track, bit, compiled, rule, ref)
            bit <<= 1
            if not rule.enabled:
                continue
            alert = self._alert(compiled, ref)
            if rule.absent is not None:
                self._absent_seen(alert, rule, ts, value, out)
                continue
            if not self._siblings_match(ref, left):
                if alert.core.status != INACTIVE:
                    self._apply(alert, rule, ts, value, None, True, fresh, out)
                continue
            if rule.forecast is not None:
                forecast = track.forecasts[compiled.id]
                if not forecast.add(ts, value) and alert.core.last_ts != -math.inf:
                    if ts > alert.core.last_ts:  # keeps the alert alive between fits
                        alert.core.last_ts, alert.core.last_value = ts, value
                    continue
                eta, _ = forecast.eta(rule.forecast.reach, rule.forecast.min_points)
                holds = eta is not None and eta <= rule.forecast.within
                alert.core.eta = eta
                level = rule.severity if holds else None
                self._apply(alert, rule, ts, value, level, not holds, fresh, out)
                continue
            v = (
                value
                if rule.aggregate.func == "last"
                else _aggregate(
                    times or array("d"),
                    values or array("d"),
                    rule.aggregate.func,
                    rule.aggregate.window,
                    ts,
                )
            )
            if v is None:
                continue
            level, clear_ok = self._levels(rule, v, ref.labels)
            self._apply(alert, rule, ts, v, level, clear_ok, fresh, out)
        if lean:
            self._lean_sample(track, ref.asset_id, ts, value)

    @staticmethod
    def _levels(rule: Rule, v: float, labels: dict[str, str]) -> tuple[Severity | None, bool]:
        if rule.state is not None:
            holds = rule.state.holds(v, labels)
            return (rule.severity if holds else None), not holds
        level: Severity | None = None
        if rule.critical is not None and rule.critical.holds(v):
            level = "critical"
        elif rule.warning is not None and rule.warning.holds(v):
            level = "warning"
        clear_ok = rule.clear.holds(v) if rule.clear is not None else level is None
        return level, clear_ok

    # ------------------------------------------------------------------ the state machine

    def _apply(
        self,
        alert: Alert,
        rule: Rule,
        ts: float,
        value: float,
        level: str | None,
        clear_ok: bool,
        fresh: bool,
        out: list[Transition],
    ) -> None:
        if alert.core.last_ts > self._now + self.max_clock_skew:
            _forget_future(alert, ts)
        core = alert.core
        before = (core.status, core.severity, core.flapping)
        snap = core.snapshot()
        if ts > core.last_ts:
            _step(core, rule, ts, value, level, clear_ok, fresh, self.stale_after)
            alert.history.append((ts, level, clear_ok, fresh, value))
            self._trim(alert, rule)
        elif ts == core.last_ts:
            return
        else:
            checkpoint = alert.checkpoint
            if checkpoint is None or ts <= checkpoint.last_ts:
                return  # too late to change the past: it only fed the window
            alert.history.insort((ts, level, clear_ok, fresh, value))
            core = checkpoint.copy()
            for entry in alert.history:
                _replay(core, rule, entry, self.stale_after)
            alert.core = core
            ts = max(self._now, core.last_ts)
        if core.snapshot() != snap:
            self._dirty.add(alert.fingerprint)
        self._emit(out, alert, rule, before, ts)

    def _trim(self, alert: Alert, rule: Rule) -> None:
        history = alert.history
        horizon = alert.core.last_ts - self.reorder_window
        if len(history) < 2 or history.times[0] >= horizon:
            return
        checkpoint = alert.checkpoint if alert.checkpoint is not None else Core()
        cut = 0
        while cut < len(history) - 1 and history.times[cut] < horizon:
            _replay(checkpoint, rule, history[cut], self.stale_after)
            cut += 1
        alert.checkpoint = checkpoint
        history.cut(cut)

    def _emit(
        self,
        out: list[Transition],
        alert: Alert,
        rule: Rule,
        before: tuple,
        ts: float,
        reason: str = "",
    ) -> None:
        core = alert.core
        after = (core.status, core.severity, core.flapping)
        if after == before:
            return
        status0, severity0, flapping0 = before
        status, severity, flapping = after
        if status != status0:
            if status == FIRING:
                event = "firing"
            elif status0 == FIRING:
                event = "resolved"
            else:
                event = status  # pending | inactive
        elif severity != severity0 and status == FIRING:
            event = "escalated" if severity == "critical" else "deescalated"
        elif flapping != flapping0:
            event = "flapping" if flapping else "stable"
        else:
            return
        self._dirty.add(alert.fingerprint)
        out.append(self._transition(alert, rule, event, status0, severity0, ts, reason))

    def _transition(
        self,
        alert: Alert,
        rule: Rule,
        event: str,
        status0: str,
        severity0: str | None,
        ts: float,
        reason: str,
    ) -> Transition:
        info = self.asset_info(alert.asset_id)
        core = alert.core
        severity = core.severity or severity0
        value = core.last_value
        labels = {**alert.labels, **rule.labels}
        context = summary_context(
            alert.labels,
            value,
            rule,
            asset=info.name,
            client=info.client,
            site=info.site,
            eta=core.eta,
            severity=severity,
        )
        if "{output" in rule.summary or "{output" in (rule.description or ""):
            # Looked up only for the rules that quote it, and only on a transition.
            context["output"] = (self.texts and self.texts(alert.asset_id, alert.labels)) or ""
        return Transition(
            rule_id=rule.id,
            fingerprint=alert.fingerprint,
            event=event,
            status=core.status,
            previous_status=status0,
            severity=severity,
            previous_severity=severity0,
            ts=ts,
            value=value,
            client_id=alert.client_id,
            client=info.client,
            site=info.site,
            asset_id=alert.asset_id,
            asset=info.name,
            labels=labels,
            priority=rule.priority_for(severity or rule.levels()[0]),
            kind=rule.kind,
            summary=render(rule.summary, context),
            description=render(rule.description, context),
            runbook=rule.runbook,
            flapping=core.flapping,
            reason=reason,
            title_source=title_source(rule.summary, context, rule.metric, core.eta),
        )

    # ------------------------------------------------------------------ absent

    def _absent_seen(
        self, alert: Alert, rule: Rule, ts: float, value: float, out: list[Transition]
    ) -> None:
        core = alert.core
        if ts <= core.last_ts:
            return
        before = (core.status, core.severity, core.flapping)
        snap = core.snapshot()
        core.last_ts, core.last_value = ts, value
        if core.raw != INACTIVE:
            _step(core, rule, ts, value, None, True, True, self.stale_after)
        if core.snapshot() != snap:
            self._dirty.add(alert.fingerprint)
        self._emit(out, alert, rule, before, max(ts, self._now))

    def _observe_assets(self, out: list[Transition]) -> None:
        """Resolve `metric: any` alerts of assets that sent something newer. Only assets whose
        newest time changed, or whose alert is new to ``_by_asset``, since the last call: an
        alert's ``last_ts`` only moves up (to its asset's newest time here, to ``now`` in the
        sweep), so no other alert can be behind its asset. A batch costs its own assets, not
        the fleet's (it looked at every asset alert ever raised)."""
        changed = self._seen_changed
        if not changed:
            return
        by_asset = self._by_asset
        for compiled in self.ruleset.any_rules:
            for asset_id in changed:
                alert = by_asset.get((compiled.id, asset_id))
                if alert is None or alert.core.status == INACTIVE:
                    continue
                seen = self._asset_seen.get(asset_id)
                if seen is not None and seen[1] > alert.core.last_ts:
                    rule = self._rule_for(compiled, asset_id)
                    self._absent_seen(alert, rule, seen[1], 0.0, out)
        changed.clear()

    def _asset_alert(self, compiled: CompiledRule, asset_id: int, client_id: int) -> Alert:
        key = (compiled.id, asset_id)
        alert = self._by_asset.get(key)
        if alert is None:
            fp = fingerprint(compiled.id, client_id, asset_id, {})
            alert = self.alerts.get(fp)
            if alert is None:
                core = self._restored.pop(fp, None) or Core()
                alert = Alert(compiled.id, fp, client_id, asset_id, None, {}, core, checkpoint=None)
                self.alerts[fp] = alert
            self._by_asset[key] = alert
            self._seen_changed[asset_id] = None  # looked at by the next batch, as any new one
        return alert

    # ------------------------------------------------------------------ sweep

    def sweep(self, now: float) -> list[Transition]:
        """Time-based changes: absent, `for` expiry, keep_firing_for, flapping ends, series gone."""
        self._now = now
        out: list[Transition] = []
        rules = self.ruleset.rules
        for compiled in self.ruleset.any_rules:
            for asset_id, (client_id, last) in self._asset_seen.items():
                rule = self._rule_for(compiled, asset_id)
                if not rule.enabled or rule.absent is None:
                    continue
                silent = now - max(last, self.started_at) >= rule.absent.for_
                alert = self._by_asset.get((compiled.id, asset_id))
                if not silent and (alert is None or alert.core.status == INACTIVE):
                    continue
                alert = alert or self._asset_alert(compiled, asset_id, client_id)
                self._absent_tick(alert, rule, now, last, silent, out)
        for alert in list(self.alerts.values()):
            alert_rule = rules.get(alert.rule_id)
            if alert_rule is None or alert.series_id is None:
                continue
            rule = self._rule_for(alert_rule, alert.asset_id)
            core = alert.core
            if rule.absent is not None:
                if core.last_ts == -math.inf:
                    continue
                silent = now - max(core.last_ts, self.started_at) >= rule.absent.for_
                self._absent_tick(alert, rule, now, core.last_ts, silent, out)
                continue
            if core.status == INACTIVE and core.raw == INACTIVE:
                continue
            if core.last_ts > now + self.max_clock_skew:
                # A clock in the future would never go silent: its series counts from now.
                _forget_future(alert, now)
                core = alert.core
                self._dirty.add(alert.fingerprint)
            before = (core.status, core.severity, core.flapping)
            snap = core.snapshot()
            reason = ""
            if not rule.enabled:
                alert.core = Core(last_ts=core.last_ts, last_value=core.last_value)
                reason = "rule disabled"
            elif now - core.last_ts > self.series_gone_after:
                alert.core = Core(last_ts=core.last_ts, last_value=core.last_value)
                reason = "no data"
            else:
                fresh = now - core.last_ts <= self.stale_after
                _advance(core, rule, now, fresh)
                if core.snapshot() != snap:
                    # Remember what time did, so a late sample replays it in order.
                    alert.history.insort((now, TICK, False, fresh, math.nan))
            if alert.core is not core:
                alert.checkpoint, alert.history = alert.core.copy(), History()
            if alert.core.snapshot() != snap:
                self._dirty.add(alert.fingerprint)
            self._emit(out, alert, rule, before, now, reason)
        return out

    def next_change(self) -> float:
        """The earliest time from which a :meth:`sweep` without new samples could change an
        alert: a ``for``, ``keep_firing_for``, escalation or flapping clock running out, or a
        series going silent (a little early, for float rounding). ``-inf`` when any time
        (absent rules, a disabled rule, a clock in the future), ``inf`` when no clock runs.
        A replay in order (the backtest) sweeps only from then on: earlier sweeps change
        nothing."""
        if self.ruleset.any_rules:
            return -math.inf
        rules = self.ruleset.rules
        soonest = math.inf
        for alert in self.alerts.values():
            compiled = rules.get(alert.rule_id)
            if compiled is None or alert.series_id is None:
                continue
            rule = self._rule_for(compiled, alert.asset_id)
            core = alert.core
            if rule.absent is not None or core.last_ts > self._now + self.max_clock_skew:
                return -math.inf
            if core.status == INACTIVE and core.raw == INACTIVE:
                continue
            if not rule.enabled:
                return -math.inf
            due = core.last_ts + self.series_gone_after
            if core.raw == PENDING and core.pending_since is not None:
                due = min(due, core.pending_since + rule.for_)
            if core.raw == FIRING:
                if core.critical_since is not None and core.severity != "critical":
                    due = min(due, core.critical_since + rule.for_)
                if core.clear_since is not None:
                    due = min(due, core.clear_since + rule.keep_firing_for)
            if core.flapping:
                due = min(due, core.changes[-1] + rule.flapping.window if core.changes else -1)
            soonest = min(soonest, due - 1e-3)
        return soonest

    def _absent_tick(
        self, alert: Alert, rule: Rule, now: float, last: float, silent: bool, out: list[Transition]
    ) -> None:
        core = alert.core
        before = (core.status, core.severity, core.flapping)
        snap = core.snapshot()
        if silent and core.raw == INACTIVE:
            core.last_ts = max(core.last_ts, last)
            _step(
                core,
                rule.model_copy(update={"for_": 0.0}),
                now,
                math.nan,
                rule.severity,
                False,
                True,
                self.stale_after,
                force_ts=True,
            )
        elif not silent and core.raw != INACTIVE:
            _step(core, rule, now, math.nan, None, True, True, self.stale_after, force_ts=True)
        else:
            _advance(core, rule, now, True)
        if core.snapshot() != snap:
            self._dirty.add(alert.fingerprint)
        self._emit(out, alert, rule, before, now)


# ---------------------------------------------------------------------- pure steps

TICK = "tick"  # a history entry for a sweep that changed the state (no sample)


def _forget_future(alert: Alert, ts: float) -> None:
    """The alert's clock is in the future: move it back to just before ``ts`` (kept: status).

    Its "since" times keep their order but are no later than ``ts``, so a clear sample now
    starts the clear hold now and the alert resolves as it would have.
    """
    core = alert.core
    before = ts - 1e-3
    core.last_ts = before
    for name in ("pending_since", "critical_since", "firing_since", "clear_since"):
        value = getattr(core, name)
        if value is not None and value > before:
            setattr(core, name, before)
    core.changes = [t for t in core.changes if t <= before]
    alert.checkpoint, alert.history = core.copy(), History()


def _replay(core: Core, rule: Rule, entry: tuple, stale_after: float) -> None:
    ts, level, clear_ok, fresh, value = entry
    if level == TICK:
        _advance(core, rule, ts, fresh)
    else:
        _step(core, rule, ts, value, level, clear_ok, fresh, stale_after)


def _step(
    core: Core,
    rule: Rule,
    ts: float,
    value: float,
    level: str | None,
    clear_ok: bool,
    fresh: bool,
    stale_after: float,
    *,
    force_ts: bool = False,
) -> None:
    """Apply one evaluation at ``ts`` to ``core`` (then the time-based checks at ``ts``)."""
    if not force_ts:
        core.last_ts = ts
        core.last_value = value
    core.critical_since = (
        (core.critical_since if core.critical_since is not None else ts)
        if level == "critical"
        else None
    )
    if core.raw == INACTIVE:
        if level is not None:
            core.raw, core.pending_since = PENDING, ts
    elif core.raw == PENDING:
        if level is None:
            core.raw, core.pending_since = INACTIVE, None
    else:  # firing
        if level is not None:
            core.clear_since = None
            if level == "warning" and core.severity == "critical" and rule.warning is not None:
                core.severity = "warning"
        elif clear_ok:
            if core.clear_since is None:
                core.clear_since = ts
        else:
            core.clear_since = None  # the hysteresis band: neither firing nor clear
    _advance(core, rule, ts, fresh)


def _advance(core: Core, rule: Rule, now: float, fresh: bool) -> None:
    """Time-based changes at ``now``: fire after `for`, resolve after keep_firing_for,
    escalate after critical held for `for`, end flapping after a stable window."""
    hold = rule.for_
    flap = rule.flapping
    if (
        core.raw == PENDING
        and core.pending_since is not None
        and now - core.pending_since >= hold
        and fresh
    ):
        core.raw = FIRING
        core.firing_since = now
        core.clear_since = None
        critical_ok = core.critical_since is not None and now - core.critical_since >= hold
        levels = rule.levels()
        core.severity = "critical" if critical_ok or levels == ["critical"] else levels[0]
        if "warning" not in levels:
            core.severity = levels[0]
        _changed(core, flap, now)
    elif core.raw == FIRING:
        if (
            core.severity != "critical"
            and core.critical_since is not None
            and now - core.critical_since >= hold
            and "critical" in rule.levels()
        ):
            core.severity = "critical"
        if core.clear_since is not None and now - core.clear_since >= rule.keep_firing_for:
            core.raw = INACTIVE
            core.pending_since = core.critical_since = core.clear_since = None
            _changed(core, flap, now)
    if core.flapping and (not core.changes or now - core.changes[-1] >= flap.window):
        core.flapping = False
        core.changes.clear()
    if core.flapping:
        core.status = FIRING
    else:
        core.status = core.raw
        if core.raw != FIRING:
            core.firing_since = None if core.raw == INACTIVE else core.firing_since
            if core.raw == INACTIVE:
                core.severity = None


def _changed(core: Core, flap: Any, now: float) -> None:
    if not flap.enabled:
        return
    core.changes.append(now)
    horizon = now - flap.window
    while core.changes and core.changes[0] < horizon:
        core.changes.pop(0)
    if len(core.changes) > flap.max_changes:
        core.flapping = True


__all__ = [
    "ANY_METRIC",
    "Alert",
    "AssetInfo",
    "Core",
    "RuleEngine",
    "Transition",
    "aggregate",
    "fingerprint",
    "humanize",
    "Measured",
    "render_source",
    "summary_context",
    "summary_value",
    "title_source",
    "render",
]
