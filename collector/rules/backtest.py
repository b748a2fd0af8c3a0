"""Rule backtest: what a candidate rule would have done over a client's stored history.

The candidate rule file is loaded by the same loader as the rule packs (errors at
file:line:col) and evaluated by the real :class:`RuleEngine` — ``for``, ``keep_firing_for``,
``clear`` (hysteresis), severities, flapping, overrides of the loaded packs — over the stored
samples, oldest first: raw samples where the store still has them (raw retention), hourly
averages from the rollups before that (a spike shorter than an hour is not seen there). The
rule of the same id in the loaded packs (the one the candidate replaces) runs over the same
stream, so the report compares both.

Alerts are counted from the engine's ``firing`` transitions; incidents as the lifecycle opens
them: one per firing episode of a fingerprint, except that a re-fire within the reopen window
after a resolve reopens the previous one (``incidents_reopen_window``).

``metric: any`` (absent) rules are not backtested: a missing sample is not in the history.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from collector.errors import InvalidArgument
from collector.ingest import SeriesRef
from collector.rollups import hourly as hourly_rollups
from collector.rules.engine import FIRING, AssetInfo, RuleEngine, Transition
from collector.rules.loader import Problem, load
from collector.rules.model import Rule
from collector.rules.ruleset import RuleSet
from collector.schema import assets, clients, samples, series, sites

HOUR = 3600
#: Samples are handed to the engine in slices of this many seconds of history (the engine
#: sees them as just arrived, so they are fresh), and time-based changes are swept after each.
STEP = 60.0
#: Events listed per rule in the report (the counts cover all of them).
MAX_EVENTS = 200


class BacktestError(InvalidArgument):
    """The candidate file cannot be backtested (load errors at file:line:col, no rule, …)."""

    def __init__(self, detail: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.problems = list(problems)


@dataclass
class RuleOutcome:
    """What one rule would have done."""

    rule_id: str
    metric: str
    alerts: int = 0
    incidents: int = 0
    by_asset: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    firing_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "metric": self.metric,
            "alerts": self.alerts,
            "incidents": self.incidents,
            "by_asset": dict(sorted(self.by_asset.items(), key=lambda kv: (-kv[1], kv[0]))),
            "firing_seconds": round(self.firing_seconds, 1),
            "events": self.events,
        }


@dataclass
class BacktestReport:
    client: str
    since: float
    until: float
    series: int
    samples: int
    raw_samples: int
    hourly_points: int
    seconds: float
    candidate: list[RuleOutcome]
    current: dict[str, RuleOutcome | None]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "since": self.since,
            "until": self.until,
            "series": self.series,
            "samples": self.samples,
            "raw_samples": self.raw_samples,
            "hourly_points": self.hourly_points,
            "seconds": round(self.seconds, 3),
            "candidate": [o.to_json() for o in self.candidate],
            "current": {k: (v.to_json() if v else None) for k, v in self.current.items()},
            "warnings": self.warnings,
        }


def load_candidate(path: Path, current: RuleSet, *, shown_as: str | None = None) -> RuleSet:
    """The candidate file's rules, with the loaded packs' overrides (they apply to both)."""
    result = load([path])
    problems = list(result.problems)
    if shown_as is not None:  # an uploaded file: name it as the person knows it
        problems = [
            Problem(p.where.replace(str(path), shown_as), p.message, p.level) for p in problems
        ]
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise BacktestError(
            f"{len(errors)} error(s) in the rule file: " + "; ".join(str(p) for p in errors[:5]),
            errors,
        )
    rules = [(c.rule, c.source) for c in result.ruleset.rules.values()]
    if not rules:
        raise BacktestError("the file defines no rule (a rule file has a 'rules:' list)")
    absent = [r.id for r, _ in rules if r.absent is not None]
    if absent:
        raise BacktestError(
            f"rule(s) {', '.join(absent)}: absent (metric: any) rules cannot be backtested "
            "(a missing sample is not in the stored history)"
        )
    return RuleSet.build(rules, [*current.overrides, *result.ruleset.overrides], [str(path)])


def load_candidate_text(text: str, filename: str, current: RuleSet) -> RuleSet:
    """An uploaded rule file (UI): loaded from a private temporary file, errors named by
    ``filename``."""
    safe = "".join(ch for ch in Path(filename).name if ch.isalnum() or ch in "._-") or "rules"
    if not safe.endswith((".yaml", ".yml")):
        safe += ".yaml"
    with tempfile.TemporaryDirectory(prefix="upkeep-backtest-") as folder:
        path = Path(folder) / safe
        path.write_text(text, encoding="utf-8")
        return load_candidate(path, current, shown_as=filename or safe)


def _arrays(
    conn: Any, ids: list[int], since: float, until: float
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], int, int]:
    """Per series, its history in ``[since, until]`` as two arrays (ts, value), oldest first:
    hourly averages before the series' oldest raw sample in range, raw samples from there on.
    One ordered query per table for every 500 series (not one per series)."""
    raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    hourly: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    n_hourly = n_raw = 0
    first_hour = int(since // HOUR) * HOUR
    HOURLY = hourly_rollups(first_hour, int(until // HOUR) * HOUR + HOUR)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        rows = _table(
            conn,
            sa.select(samples.c.series_id, samples.c.ts, samples.c.value)
            .where(samples.c.series_id.in_(part), samples.c.ts >= since, samples.c.ts <= until)
            .order_by(samples.c.series_id, samples.c.ts),
        )
        for sid, cols in _split(rows):
            raw[sid] = (cols[:, 1].copy(), cols[:, 2].copy())
            n_raw += len(cols)
        rows = _table(
            conn,
            sa.select(
                HOURLY.c.series_id,
                HOURLY.c.hour,
                HOURLY.c.sum,
                HOURLY.c.count,
            )
            .where(
                HOURLY.c.series_id.in_(part),
                HOURLY.c.hour >= first_hour,
                HOURLY.c.hour <= until,
            )
            .order_by(HOURLY.c.series_id, HOURLY.c.hour),
        )
        for sid, cols in _split(rows):
            # The hour's average, dated at the hour's end (when it was complete); only hours
            # wholly before the series' raw samples, so nothing is counted twice.
            ts = cols[:, 1] + (HOUR - 1)
            count = cols[:, 3]
            first_raw = raw[sid][0][0] if sid in raw else math.inf
            keep = (count != 0) & (ts < first_raw) & (ts >= since)
            if keep.any():
                hourly[sid] = (ts[keep], cols[keep, 2] / count[keep])
                n_hourly += int(keep.sum())
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    empty = np.empty(0, dtype=np.float64)
    for sid in ids:
        h_ts, h_val = hourly.get(sid, (empty, empty))
        r_ts, r_val = raw.get(sid, (empty, empty))
        out[sid] = (np.concatenate([h_ts, r_ts]), np.concatenate([h_val, r_val]))
    return out, n_raw, n_hourly


def _table(conn: Any, query: Any) -> np.ndarray:
    """The rows of ``query`` (numbers only) as one float array, a row per row."""
    width = len(query.selected_columns)
    rows = conn.execute(query).all()
    flat = itertools.chain.from_iterable(rows)
    return np.fromiter(flat, dtype=np.float64, count=len(rows) * width).reshape(-1, width)


def _split(rows: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``rows`` ordered by their first column (series id), one slice per id."""
    if not len(rows):
        return
    cuts = np.flatnonzero(np.diff(rows[:, 0])) + 1
    for part in np.split(rows, cuts):
        yield int(part[0, 0]), part


def _history(
    conn: Any, ids: list[int], since: float, until: float
) -> tuple[list[Iterator[tuple[float, int, float]]], int, int]:
    """One time-ordered stream ``(ts, series id, value)`` per series (see :func:`_arrays`)."""
    arrays, n_raw, n_hourly = _arrays(conn, ids, since, until)
    streams = [_stream(sid, *arrays[sid]) for sid in ids]
    return streams, n_raw, n_hourly


def _stream(sid: int, ts: np.ndarray, values: np.ndarray) -> Iterator[tuple[float, int, float]]:
    return zip(ts.tolist(), itertools.repeat(sid), values.tolist(), strict=False)


#: Aggregates whose value over every sample's window is computed in one pass of arrays.
_VECTOR_FUNCS = frozenset({"last", "avg", "sum", "count", "min", "max", "delta"})


def may_hold(rule: Rule, ts: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Per sample of a series: could ``rule``'s warning or critical hold there (the engine's
    value — the sample, or the rule's aggregate over the window ending at it)? ``False`` only
    where it surely cannot (sums are compared with a margin for float rounding); ``None``
    where the rule or the values are not for this (forecast, state, a rate, NaN)."""
    func, window = rule.aggregate.func, rule.aggregate.window
    if func not in _VECTOR_FUNCS or not np.isfinite(values).all():
        return None
    margin: np.ndarray | float = 0.0
    if func == "last":
        v = values
    else:
        hi = np.arange(1, len(ts) + 1)
        lo = np.searchsorted(ts, ts - window, side="right")
        count = (hi - lo).astype(np.float64)
        if func in ("avg", "sum"):
            cs = np.concatenate([[0.0], np.cumsum(values)])
            v = cs[hi] - cs[lo]
            # Rounding of the prefix sums and of the engine's own sum: a bound, not a guess.
            margin = 8 * np.finfo(np.float64).eps * len(values) * float(np.abs(values).sum())
            margin = margin + np.finfo(np.float64).eps * np.abs(v) * 4
            if func == "avg":
                v = v / count
                margin = margin / count
        elif func == "count":
            v = count
        elif func == "delta":
            v = values[hi - 1] - values[lo]
        else:
            pairs = np.empty(2 * len(ts), dtype=np.intp)
            pairs[0::2], pairs[1::2] = lo, hi
            padded = np.concatenate([values, [0.0]])
            reduce = np.minimum if func == "min" else np.maximum
            v = reduce.reduceat(padded, pairs)[0::2]
    out = np.zeros(len(ts), dtype=bool)
    for cond in (rule.warning, rule.critical):
        if cond is not None:
            out |= _holds(cond.op, cond.threshold, v, margin)
    return out


def _holds(op: str, threshold: float, v: np.ndarray, margin: np.ndarray | float) -> np.ndarray:
    if op == ">":
        return np.asarray(v + margin > threshold)
    if op == ">=":
        return np.asarray(v + margin >= threshold)
    if op == "<":
        return np.asarray(v - margin < threshold)
    if op == "<=":
        return np.asarray(v - margin <= threshold)
    if op == "==":
        return np.asarray(np.abs(v - threshold) <= margin)
    return np.asarray((v != threshold) | (np.asarray(margin) > 0))  # "!="


class _Tally:
    """Counts alerts and incidents of one rule set from the engine's transitions."""

    def __init__(self, ruleset: RuleSet, reopen_window: float) -> None:
        self.outcomes = {rid: RuleOutcome(rid, c.rule.metric) for rid, c in ruleset.rules.items()}
        self.reopen_window = reopen_window
        self.firing_since: dict[str, float] = {}
        self.resolved_at: dict[str, float] = {}
        self.active: set[str] = set()

    def add(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            outcome = self.outcomes.get(t.rule_id)
            if outcome is None:
                continue
            if t.status == "inactive":
                self.active.discard(t.fingerprint)
            else:
                self.active.add(t.fingerprint)
            if t.event == "firing" and t.previous_status != FIRING:
                outcome.alerts += 1
                outcome.by_asset[t.asset] = outcome.by_asset.get(t.asset, 0) + 1
                last = self.resolved_at.get(t.fingerprint)
                reopened = last is not None and t.ts - last <= self.reopen_window
                if not reopened:
                    outcome.incidents += 1
                self.firing_since[t.fingerprint] = t.ts
                self._event(outcome, t, "reopens" if reopened else "opens")
            elif t.event == "resolved":
                start = self.firing_since.pop(t.fingerprint, None)
                if start is not None:
                    outcome.firing_seconds += t.ts - start
                self.resolved_at[t.fingerprint] = t.ts
                self._event(outcome, t, "resolves")

    @staticmethod
    def _event(outcome: RuleOutcome, t: Transition, what: str) -> None:
        if len(outcome.events) < MAX_EVENTS:
            outcome.events.append(
                {
                    "ts": t.ts,
                    "asset": t.asset,
                    "labels": t.labels,
                    "event": t.event,
                    "incident": what,
                    "severity": t.severity,
                    "value": t.value,
                    "summary": t.summary,
                }
            )


class _Run:
    """One engine over the stream, with its tally. A sample that cannot change anything — the
    rules of its series are plain thresholds (no forecast, state or sibling match), their
    alerts on the series are idle and no warning or critical can hold there — is not handed to
    the engine: it would only note the sample's time and value (and keep it in the aggregate
    window, which is primed before the next sample the engine gets). The outcome is the same,
    the replay much faster.

    A series replayed alone (:meth:`prepare`) knows in advance, from its arrays, which samples
    could hold a condition (:func:`may_hold`, aggregates included); the merged stream (rules
    with sibling series) decides sample by sample, for last-value rules only."""

    def __init__(self, engine: RuleEngine, tally: _Tally, *, shortcuts: bool = True) -> None:
        self.engine = engine
        self.tally = tally
        self.shortcuts = shortcuts
        self._plain: dict[tuple[int, bool], list[tuple[str, Rule]] | None] = {}
        self._alerts: dict[tuple[str, int], Any] = {}
        self._known = 0
        # One series replayed alone: its arrays, which samples may hold, the last one fed.
        self.ref: SeriesRef | None = None
        self.ts = self.values = np.empty(0)
        self.mask: np.ndarray | None = None
        self.window = 0.0
        self.fed = -1
        self._ids: list[str] = []
        self._ts: list[float] = []
        self._values: list[float] = []

    def _rules(self, ref: SeriesRef, *, vectorised: bool) -> list[tuple[str, Rule]] | None:
        key = (ref.id, vectorised)
        if key in self._plain:
            return self._plain[key]
        eng = self.engine
        funcs = _VECTOR_FUNCS if vectorised else {"last"}
        found: list[tuple[str, Rule]] | None = []
        for compiled in eng.ruleset.by_metric.get(ref.metric, ()):
            rule = eng.ruleset.effective(compiled.id, *self._asset(ref.asset_id))
            if (
                rule.aggregate.func not in funcs
                or rule.forecast is not None
                or rule.state is not None
                or rule.absent is not None
                or compiled.matchers
            ):
                found = None
                break
            assert found is not None
            found.append((compiled.id, rule))
        self._plain[key] = found
        return found

    def _asset(self, asset_id: int) -> tuple[str, str | None, str, frozenset[str]]:
        a = self.engine.asset_info(asset_id)
        return a.client, a.site, a.name, a.tags

    def quiet(self, ref: SeriesRef, value: float) -> bool:
        """The merged stream: can this sample change nothing (last-value rules)?"""
        rules = self._rules(ref, vectorised=False)
        if not rules:
            return False
        for rule_id, rule in rules:
            alert = self._alerts.get((rule_id, ref.id))
            if alert is None:
                return False  # the engine has not seen the series yet: let it create the alert
            core = alert.core
            if core.status != "inactive" or core.raw != "inactive" or core.flapping:
                return False
            level, _ = RuleEngine._levels(rule, value, ref.labels)
            if level is not None:
                return False
        return True

    def feed(self, batch: list[Any], now: float) -> None:
        """One slice: sample indices of the series replayed alone, else (ref, value, ts)."""
        if self.ref is not None:
            self.step_at(batch, now)
        else:
            self.step(batch, now)

    def step(self, batch: list[tuple[SeriesRef, float, float]], now: float) -> None:
        # Once a series has a sample the engine must see, every later sample of that series
        # in the slice goes too (a quiet one may reset what the first one started).
        kept = []
        hot: set[int] = set()
        for item in batch:
            ref = item[0]
            if ref.id in hot or not self.quiet(ref, item[1]):
                hot.add(ref.id)
                kept.append(item)
        if kept:
            self.tally.add(self.engine.observe(kept, now))
        self._after(now)

    def _after(self, now: float) -> None:
        if self.tally.active and (not self.shortcuts or self.engine.next_change() <= now):
            self.tally.add(self.engine.sweep(now))
        if len(self.engine.alerts) != self._known:
            for alert in self.engine.alerts.values():
                if alert.series_id is not None:
                    self._alerts[(alert.rule_id, alert.series_id)] = alert
            self._known = len(self.engine.alerts)

    # ---------------------------------------------------------------- one series alone

    def prepare(self, ref: SeriesRef, ts: np.ndarray, values: np.ndarray) -> None:
        self.ref, self.ts, self.values, self.fed = ref, ts, values, -1
        self._ts, self._values = ts.tolist(), values.tolist()
        rules = self._rules(ref, vectorised=True)
        self.mask = None
        if rules is None or not self.shortcuts:
            return
        rules = [(rid, rule) for rid, rule in rules if rule.enabled]  # the engine skips them
        self.window = self.engine.window(ref)
        mask = np.zeros(len(ts), dtype=bool)
        for _, rule in rules:
            if rule.aggregate.func != "last" and rule.aggregate.window > self.window:
                return  # an override widened the window past what the engine keeps
            holds = may_hold(rule, ts, values)
            if holds is None:
                return
            mask |= holds
        self.mask = mask
        self._ids = [rid for rid, _ in rules]

    def idle(self) -> bool:
        """Every alert of the series' rules exists and is idle (and the mask is known)."""
        if self.mask is None or self.ref is None:
            return False
        sid = self.ref.id
        for rule_id in self._ids:
            alert = self._alerts.get((rule_id, sid))
            if alert is None:
                return False  # the engine has not seen the series yet: let it create the alert
            core = alert.core
            if core.status != "inactive" or core.raw != "inactive" or core.flapping:
                return False
        return True

    def step_at(self, ks: list[int], now: float) -> None:
        """Hand the samples at indices ``ks`` (one slice) to the engine, less those before
        the first one that could change something."""
        kept = ks
        mask = self.mask
        if mask is not None and self.idle():
            first = 0
            while first < len(ks) and not mask[ks[first]]:
                first += 1
            kept = ks[first:]
        if kept and self.ref is not None:
            k0 = kept[0]
            ts, values = self.ts, self.values
            if self.window > 0 and self.fed != k0 - 1:
                lo = int(np.searchsorted(ts, ts[k0] - self.window, side="left"))
                self.engine.prime_window(
                    self.ref, list(zip(ts[lo:k0].tolist(), values[lo:k0].tolist(), strict=True))
                )
            self.fed = kept[-1]
            ref, tl, vl = self.ref, self._ts, self._values
            self.tally.add(self.engine.observe([(ref, vl[k], tl[k]) for k in kept], now))
        self._after(now)


def backtest(
    store: Any,
    candidate: RuleSet,
    current: RuleSet,
    *,
    client: str,
    since: float,
    until: float,
    settings: Any,
    shortcuts: bool = True,
) -> BacktestReport:
    """Evaluate ``candidate`` (and the rules of ``current`` it replaces) over ``client``'s
    history in ``[since, until]``. ``shortcuts=False`` hands every sample to the engines and
    sweeps at every tick (the same outcome, slowly: the tests compare both)."""
    started = time.perf_counter()
    replaced = {rid: current.rules.get(rid) for rid in candidate.rules}
    old = RuleSet.build(
        [(c.rule, c.source) for c in replaced.values() if c is not None],
        current.overrides,
        current.files,
    )
    metrics = {c.rule.metric for c in candidate.rules.values()} | {
        c.rule.metric for c in old.rules.values()
    }
    # `where` keys that name another metric (sibling series) need that metric's samples too.
    wanted = metrics | candidate.sibling_metrics | old.sibling_metrics
    with store.read() as conn:
        client_row = conn.execute(sa.select(clients).where(clients.c.name == client)).first()
        if client_row is None:
            from collector.errors import NotFound

            raise NotFound(f"no client named {client!r}")
        info: dict[int, AssetInfo] = {}
        for a in conn.execute(
            sa.select(assets.c.id, assets.c.name, assets.c.tags, sites.c.name.label("site"))
            .outerjoin(sites, sites.c.id == assets.c.site_id)
            .where(assets.c.client_id == client_row.id)
        ):
            info[a.id] = AssetInfo(
                a.id, client_row.id, client, a.site, a.name, frozenset(a.tags or [])
            )
        refs: dict[int, SeriesRef] = {}
        for s in conn.execute(
            sa.select(series.c.id, series.c.asset_id, series.c.metric, series.c.labels).where(
                series.c.asset_id.in_(list(info)) if info else sa.false(),
                series.c.metric.in_(sorted(wanted)),
            )
        ):
            refs[s.id] = SeriesRef(
                s.id,
                client_row.id,
                s.asset_id,
                info[s.asset_id].name,
                s.metric,
                json.loads(s.labels) if s.labels else {},
            )
        arrays, n_raw, n_hourly = _arrays(conn, list(refs), since, until)

    def resolver(asset_id: int) -> AssetInfo:
        return info.get(asset_id) or AssetInfo(
            asset_id, client_row.id, client, None, f"asset-{asset_id}"
        )

    def engine(ruleset: RuleSet) -> RuleEngine:
        return RuleEngine(
            ruleset,
            resolver,
            started_at=since,
            stale_after=settings.rules_stale_after,
            # History is replayed in order: no out-of-order bookkeeping needed (same outcome).
            reorder_window=0.0,
            series_gone_after=settings.rules_series_gone_after,
            max_clock_skew=settings.max_clock_skew,
        )

    rulesets = [candidate, *([old] if old.rules else [])]
    # How long after a sample a clock can still run out: the longest `for`, keep_firing_for
    # or flapping window of the rules, plus a slice.
    horizon = STEP + max(
        (
            max(c.rule.for_, c.rule.keep_firing_for, c.rule.flapping.window)
            for r in rulesets
            for c in r.rules.values()
        ),
        default=0.0,
    )
    tallies = [_Tally(r, settings.incidents_reopen_window) for r in rulesets]

    def runs_for() -> list[_Run]:
        return [
            _Run(engine(r), t, shortcuts=shortcuts) for r, t in zip(rulesets, tallies, strict=True)
        ]

    def ticks(runs: list[_Run], slice_end: float, ts: float) -> None:
        # Between sparse samples (hourly averages) time still passes: sweep on, as the
        # collector's periodic sweep would, while a `for` or `keep_firing_for` clock may
        # expire before the next sample.
        # Each run sweeps only from its engine's next possible change on (the sweeps the
        # collector would make before it change nothing), at the same ticks.
        limit = slice_end + horizon
        for run in runs:
            tick = slice_end + STEP
            while tick < ts and tick <= limit and run.tally.active:
                due = run.engine.next_change() if shortcuts else tick
                if due > tick:
                    while tick < due and tick < ts and tick <= limit:
                        tick += STEP
                    continue
                run.tally.add(run.engine.sweep(tick))
                tick += STEP

    def advance(runs: list[_Run], batch: list[Any], slice_end: float, ts: float) -> float:
        """A sample at ``ts``: the slice before it handed over (and swept on), if it is done;
        the end of the slice ``ts`` falls in."""
        if ts < slice_end:
            return slice_end
        if batch:
            for run in runs:
                run.feed(batch, slice_end)
            batch.clear()
            ticks(runs, slice_end, ts)
        return next_slice(ts)

    def finish(runs: list[_Run], batch: list[Any], slice_end: float) -> None:
        if batch:
            for run in runs:
                run.feed(batch, slice_end)
        for run in runs:
            eng, tally = run.engine, run.tally
            if tally.active:
                tally.add(eng.sweep(min(until, slice_end)))
            for fp in [fp for fp in tally.firing_since if fp in eng.alerts]:
                rule_id = eng.alerts[fp].rule_id
                if rule_id in tally.outcomes:
                    tally.outcomes[rule_id].firing_seconds += until - tally.firing_since[fp]
                del tally.firing_since[fp]
            tally.active.difference_update(eng.alerts)  # this stream is done

    def next_slice(ts: float) -> float:
        return (math.floor((ts - since) / STEP) + 1) * STEP + since

    def replay_merged(stream: Iterator[tuple[float, int, float]]) -> int:
        """Hand the merged ``stream`` to fresh engines (one per rule set) slice by slice."""
        runs = runs_for()
        count = 0
        batch: list[tuple[SeriesRef, float, float]] = []
        slice_end = since + STEP
        for ts, sid, value in stream:
            count += 1
            slice_end = advance(runs, batch, slice_end, ts)
            batch.append((refs[sid], value, ts))
        finish(runs, batch, slice_end)
        return count

    def replay_alone(sid: int) -> int:
        """One series with fresh engines: while every alert is idle, jump straight to the
        next sample that may hold a condition (nothing between could change anything)."""
        ts_arr, values = arrays[sid]
        runs = runs_for()
        for run in runs:
            run.prepare(refs[sid], ts_arr, values)
        masks = [run.mask for run in runs]
        may: np.ndarray | None = None
        if all(m is not None for m in masks):
            may = np.flatnonzero(np.logical_or.reduce([m for m in masks if m is not None]))
        ts_list = ts_arr.tolist()
        n = len(ts_list)
        batch: list[int] = []
        slice_end = since + STEP
        k = 0
        while k < n:
            slice_end = advance(runs, batch, slice_end, ts_list[k])
            if may is not None and not batch and all(run.idle() for run in runs):
                # The alerts are idle, nothing pending in this slice: skip to the next sample
                # that may hold a condition (no sweep either: idle alerts have no clock).
                pos = int(np.searchsorted(may, k))
                nxt = int(may[pos]) if pos < len(may) else n
                if nxt > k:
                    k = nxt
                    continue
            batch.append(k)
            k += 1
        finish(runs, batch, slice_end)
        return n

    siblings = candidate.sibling_metrics | old.sibling_metrics
    if any(r.metric in siblings for r in refs.values()):
        # A rule's `where` reads another series of the asset: every series in one time order.
        streams = [_stream(sid, *arrays[sid]) for sid in refs]
        total = replay_merged(heapq.merge(*streams))
    else:
        # Each series' alerts depend on that series alone: one engine pair per series, which
        # keeps every sweep to the series' own alerts and needs no merge of the streams.
        total = sum(replay_alone(sid) for sid in refs)
    candidate_out = list(tallies[0].outcomes.values())
    current_out: dict[str, RuleOutcome | None] = {rid: None for rid in candidate.rules}
    if len(tallies) > 1:
        for rid, outcome in tallies[1].outcomes.items():
            current_out[rid] = outcome
    warnings = []
    missing = sorted(m for m in metrics if m not in {r.metric for r in refs.values()})
    if missing:
        warnings.append(f"no stored series of {', '.join(missing)} for client {client}")
    return BacktestReport(
        client,
        since,
        until,
        len(refs),
        total,
        n_raw,
        n_hourly,
        time.perf_counter() - started,
        candidate_out,
        current_out,
        warnings,
    )


def _when(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_report(report: BacktestReport) -> str:
    """The report for a terminal: per rule, candidate against the rule it replaces."""
    from collector.health.units import duration

    lines = [
        f"Backtest for client {report.client}: {_when(report.since)} to {_when(report.until)} "
        f"({duration(report.until - report.since)})",
        f"{report.series} series, {report.samples} points ({report.raw_samples} raw samples, "
        f"{report.hourly_points} hourly averages) in {report.seconds:.1f} s",
    ]
    lines += [f"warning: {w}" for w in report.warnings]
    for outcome in report.candidate:
        old = report.current.get(outcome.rule_id)
        lines.append("")
        lines.append(f"rule {outcome.rule_id} ({outcome.metric})")
        lines.append(
            f"  candidate: {outcome.alerts} alert(s), {outcome.incidents} incident(s), "
            f"firing {duration(outcome.firing_seconds)} in all"
        )
        if old is None:
            lines.append("  loaded packs: no rule with this id (a new rule)")
        else:
            lines.append(
                f"  loaded:    {old.alerts} alert(s), {old.incidents} incident(s), "
                f"firing {duration(old.firing_seconds)} in all"
            )
        for asset, count in sorted(outcome.by_asset.items(), key=lambda kv: (-kv[1], kv[0]))[:20]:
            before = old.by_asset.get(asset, 0) if old else 0
            lines.append(f"    {asset}: {count} (loaded rule: {before})")
        for event in outcome.events[:20]:
            if event["incident"] != "resolves":
                labels = ",".join(f"{k}={v}" for k, v in sorted(event["labels"].items()))
                lines.append(
                    f"    {_when(event['ts'])} {event['asset']} {labels} {event['severity'] or ''}"
                    f" — {event['incident']} an incident"
                )
    return "\n".join(lines)
