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
import json
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _history(
    conn: Any, ids: list[int], since: float, until: float
) -> tuple[list[Iterator[tuple[float, int, float]]], int, int]:
    """One time-ordered stream ``(ts, series id, value)`` per series: hourly averages before
    the series' oldest raw sample in range, raw samples from there on."""
    raw_start: dict[int, float] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for r in conn.execute(
            sa.select(samples.c.series_id, sa.func.min(samples.c.ts).label("first"))
            .where(samples.c.series_id.in_(part), samples.c.ts >= since, samples.c.ts <= until)
            .group_by(samples.c.series_id)
        ):
            raw_start[r.series_id] = r.first
    hourly: dict[int, list[tuple[float, int, float]]] = defaultdict(list)
    raw: dict[int, list[tuple[float, int, float]]] = defaultdict(list)
    n_hourly = n_raw = 0
    first_hour = int(since // HOUR) * HOUR
    HOURLY = hourly_rollups(first_hour, int(until // HOUR) * HOUR + HOUR)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for sid, hour, total, count in conn.execute(
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
            .order_by(HOURLY.c.series_id, HOURLY.c.hour)
        ):
            # The hour's average, dated at the hour's end (when it was complete); only hours
            # wholly before the series' raw samples, so nothing is counted twice.
            ts = float(hour + HOUR - 1)
            if count and ts < raw_start.get(sid, math.inf) and ts >= since:
                hourly[sid].append((ts, sid, total / count))
                n_hourly += 1
        for sid, ts, value in conn.execute(
            sa.select(samples.c.series_id, samples.c.ts, samples.c.value)
            .where(samples.c.series_id.in_(part), samples.c.ts >= since, samples.c.ts <= until)
            .order_by(samples.c.series_id, samples.c.ts)
        ):
            raw[sid].append((ts, sid, value))
            n_raw += 1
    streams = [iter(hourly.get(sid, []) + raw.get(sid, [])) for sid in ids]
    return streams, n_raw, n_hourly


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
    """One engine over the stream, with its tally. A sample that cannot change anything — a
    plain threshold rule (no aggregate, forecast, state or sibling match) whose alert on the
    series is idle and whose condition does not hold — is not handed to the engine: the engine
    would only note its time and value (the outcome is the same, the replay much faster)."""

    def __init__(self, engine: RuleEngine, tally: _Tally) -> None:
        self.engine = engine
        self.tally = tally
        self._plain: dict[int, list[tuple[str, Rule]] | None] = {}
        self._alerts: dict[tuple[str, int], Any] = {}
        self._known = 0

    def _rules(self, ref: SeriesRef) -> list[tuple[str, Rule]] | None:
        if ref.id in self._plain:
            return self._plain[ref.id]
        eng = self.engine
        found: list[tuple[str, Rule]] | None = []
        for compiled in eng.ruleset.by_metric.get(ref.metric, ()):
            rule = eng.ruleset.effective(compiled.id, *self._asset(ref.asset_id))
            if (
                rule.aggregate.func != "last"
                or rule.forecast is not None
                or rule.state is not None
                or rule.absent is not None
                or compiled.matchers
            ):
                found = None
                break
            assert found is not None
            found.append((compiled.id, rule))
        self._plain[ref.id] = found
        return found

    def _asset(self, asset_id: int) -> tuple[str, str | None, str, frozenset[str]]:
        a = self.engine.asset_info(asset_id)
        return a.client, a.site, a.name, a.tags

    def quiet(self, ref: SeriesRef, value: float) -> bool:
        rules = self._rules(ref)
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
        if self.tally.active:
            self.tally.add(self.engine.sweep(now))
        if len(self.engine.alerts) != self._known:
            for alert in self.engine.alerts.values():
                if alert.series_id is not None:
                    self._alerts[(alert.rule_id, alert.series_id)] = alert
            self._known = len(self.engine.alerts)


def backtest(
    store: Any,
    candidate: RuleSet,
    current: RuleSet,
    *,
    client: str,
    since: float,
    until: float,
    settings: Any,
) -> BacktestReport:
    """Evaluate ``candidate`` (and the rules of ``current`` it replaces) over ``client``'s
    history in ``[since, until]``."""
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
        streams, n_raw, n_hourly = _history(conn, list(refs), since, until)

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

    def replay(stream: Iterator[tuple[float, int, float]], *, alone: bool) -> int:
        """Hand ``stream`` to fresh engines (one per rule set) slice by slice."""
        runs = [_Run(engine(r), t) for r, t in zip(rulesets, tallies, strict=True)]
        count = 0
        batch: list[tuple[SeriesRef, float, float]] = []
        slice_end = since + STEP
        for ts, sid, value in stream:
            count += 1
            ref = refs[sid]
            if ts >= slice_end:
                if batch:
                    for run in runs:
                        run.step(batch, slice_end)
                    batch = []
                    # Between sparse samples (hourly averages) time still passes: sweep on, as
                    # the collector's periodic sweep would, while a `for` or `keep_firing_for`
                    # clock may expire before the next sample.
                    tick = slice_end + STEP
                    while tick < ts and tick <= slice_end + horizon:
                        for run in runs:
                            if run.tally.active:
                                run.tally.add(run.engine.sweep(tick))
                        tick += STEP
                slice_end = (math.floor((ts - since) / STEP) + 1) * STEP + since
            if alone and not batch and all(run.quiet(ref, value) for run in runs):
                # One series, its alerts idle, nothing pending in this slice: nothing to do
                # (no sweep either: idle alerts have no clock running).
                continue
            batch.append((ref, value, ts))
        if batch:
            for run in runs:
                run.step(batch, slice_end)
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
        return count

    siblings = candidate.sibling_metrics | old.sibling_metrics
    if any(r.metric in siblings for r in refs.values()):
        # A rule's `where` reads another series of the asset: every series in one time order.
        total = replay(heapq.merge(*streams), alone=False)
    else:
        # Each series' alerts depend on that series alone: one engine pair per series, which
        # keeps every sweep to the series' own alerts and needs no merge of the streams.
        total = sum(replay(stream, alone=True) for stream in streams)
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
