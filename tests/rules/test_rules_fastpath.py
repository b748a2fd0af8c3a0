"""The engine's fast path for simple thresholds gives the general path's results exactly.

Two engines over the same rules and the same batches, one with ``fast=True`` (the default:
a series whose simple rules never held keeps no Alert), one with ``fast=False`` (every
sample through the general path): the transitions, the persisted states (``take_dirty``)
and the active alerts must be equal, also with samples late, repeated or from a clock in
the future, and with a reload in the middle. Then the shipped rule packs, fed with the
agent's real host metrics (the fleet simulator's catalog shape).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.rules.engine import AssetInfo, RuleEngine, Transition
from collector.rules.loader import load_ruleset
from collector.rules.model import Rule
from collector.rules.ruleset import RuleSet

T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Series:
    id: int
    metric: str
    labels: dict = field(default_factory=dict, hash=False)
    client_id: int = 1
    asset_id: int = 1
    asset: str = "srv1"


def _info(asset_id: int) -> AssetInfo:
    return AssetInfo(asset_id, 1, "acme", "office", f"srv{asset_id}")


def pair(ruleset: RuleSet) -> tuple[RuleEngine, RuleEngine]:
    return (
        RuleEngine(ruleset, _info, started_at=T0, fast=True),
        RuleEngine(ruleset, _info, started_at=T0, fast=False),
    )


def state(engine: RuleEngine) -> tuple:
    dirty, gone = engine.take_dirty()
    return (
        sorted((a.fingerprint, a.rule_id, str(a.core.to_json())) for a in dirty),
        sorted(gone),
        sorted((a.fingerprint, str(a.core.to_json())) for a in engine.active()),
    )


def swept(fast: RuleEngine, general: RuleEngine, now: float) -> None:
    """A sweep walks the alerts in the order they were made, which the fast path changes
    (an Alert is made at the first breach): the same transitions, in either order."""

    def key(t: Transition) -> tuple:
        return (t.fingerprint, t.ts, t.event)

    assert sorted(fast.sweep(now), key=key) == sorted(general.sweep(now), key=key)
    assert state(fast) == state(general)


def same(fast: RuleEngine, general: RuleEngine, batch: list, now: float) -> int:
    got, want = fast.observe(batch, now), general.observe(batch, now)
    assert got == want
    assert state(fast) == state(general)
    return len(want)


# ---------------------------------------------------------------------- random rules

ops = st.sampled_from([">", ">=", "<", "<="])
thresholds = st.sampled_from([20.0, 50.0, 80.0, 90.0])
durations = st.sampled_from(["0s", "1m", "3m"])


@st.composite
def simple_rules(draw: st.DrawFn) -> dict:
    rule: dict = {"metric": draw(st.sampled_from(["a", "b"]))}
    op = draw(ops)
    warning = draw(thresholds)
    rule["warning"] = f"{op} {warning}"
    if draw(st.booleans()):
        rule["critical"] = f"{op} {warning + 5 if '>' in op else warning - 5}"
    if draw(st.booleans()):
        rule["clear"] = f"{'<' if '>' in op else '>'} {warning - 10 if '>' in op else warning + 10}"
    rule["for"] = draw(durations)
    rule["keep_firing_for"] = draw(durations)
    rule["flapping"] = draw(
        st.sampled_from([{"enabled": False}, {"enabled": True, "max_changes": 2, "window": "10m"}])
    )
    if draw(st.booleans()):
        rule["where"] = {"mount": draw(st.sampled_from(["/", "~/d.*", "!=/boot"]))}
    if draw(st.integers(0, 4)) == 0:  # now and then a rule the fast path does not take
        rule["aggregate"] = "avg 3m"
    return rule


SERIES = [
    Series(1, "a", {"mount": "/"}),
    Series(2, "a", {"mount": "/data"}),
    Series(3, "b", {}),
    Series(4, "b", {"mount": "/boot"}, asset_id=2),
]


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[float, list[tuple[Series, float, float]]]]:
    """Batches of samples: mostly on time, some late, repeated, or from a clock ahead."""
    batches = []
    clock = T0
    for _ in range(draw(st.integers(1, 30))):
        clock += draw(st.sampled_from([10.0, 30.0, 60.0, 120.0]))
        batch = []
        for s in draw(st.lists(st.sampled_from(SERIES), min_size=1, max_size=4)):
            kind = draw(st.integers(0, 9))
            ts = clock
            if kind == 0:
                ts = clock - draw(st.sampled_from([30.0, 200.0, 800.0, 2000.0]))  # late
            elif kind == 1:
                ts = clock + 1000.0  # ahead of the collector's clock (skew 300 s)
            value = draw(st.sampled_from([0.0, 15.0, 45.0, 75.0, 85.0, 88.0, 95.0, 100.0]))
            batch.append((s, value, ts))
        batches.append((clock + 5.0, batch))  # (the collector's clock, the batch)
    return batches


@settings(max_examples=120, deadline=None)
@given(st.lists(simple_rules(), min_size=1, max_size=4), streams(), st.integers(0, 40))
def test_property_fast_path_equals_general_path(drawn, batches, reload_at) -> None:
    rules = [{"id": f"r{i}", **r} for i, r in enumerate(drawn)]
    ruleset = RuleSet.build([(Rule.model_validate(r), "") for r in rules])
    fast, general = pair(ruleset)
    now = T0
    for i, (now, batch) in enumerate(batches):
        if i == reload_at:
            changed = [{**r, "for": "2m"} if r["id"] == "r0" else r for r in rules]
            again = RuleSet.build([(Rule.model_validate(r), "") for r in changed])
            assert fast.reload(again, now) == general.reload(again, now)
        same(fast, general, batch, now)
        if i % 3 == 0:
            swept(fast, general, now)
    swept(fast, general, now + 3600)


def test_fast_path_keeps_no_alert_for_quiet_series() -> None:
    """The point of it: quiet series of simple rules cost no Alert (memory, sweeps)."""
    rule = {"id": "disk", "metric": "a", "warning": "> 90", "for": "1m"}
    fast, general = pair(RuleSet.build([(Rule.model_validate(rule), "")]))
    for i in range(20):
        batch = [(s, 10.0, T0 + 30 * i) for s in SERIES[:2]]
        same(fast, general, batch, T0 + 30 * i + 1)
    assert len(general.alerts) == 2 and not fast.alerts
    # The two series of one asset got samples at the same times: one times column for both.
    one, two = (fast._series[s.id] for s in SERIES[:2])
    assert one.qt is two.qt and len(one.qt) == 20 and one.qv is not two.qv
    # A breach makes the Alert, with the reorder history a general-path Alert has: a late
    # breach within the window fires as the general path does.
    assert same(fast, general, [(SERIES[0], 95.0, T0 + 600)], T0 + 601) == 1
    # (late: between the quiet samples at 570 and the breach at 600, so pending since 575)
    assert same(fast, general, [(SERIES[0], 95.0, T0 + 575)], T0 + 602) == 0
    assert same(fast, general, [(SERIES[0], 95.0, T0 + 640)], T0 + 641) == 1
    assert [a.core.status for a in fast.active()] == ["firing"]
    assert len(fast.alerts) == 1


def test_quiet_times_columns_share_again_after_a_late_sample() -> None:
    """A late sample gives one series its own times column; once it has left the reorder
    window the columns are equal again, and shared again."""
    rule = {"id": "disk", "metric": "a", "warning": "> 90", "for": "1m"}
    fast, general = pair(RuleSet.build([(Rule.model_validate(rule), "")]))
    one, two = SERIES[:2]
    for i in range(5):
        same(fast, general, [(s, 10.0, T0 + 30 * i) for s in (one, two)], T0 + 30 * i + 1)
    same(fast, general, [(one, 10.0, T0 + 45)], T0 + 122)
    assert fast._series[one.id].qt is not fast._series[two.id].qt
    for i in range(5, 45):
        same(fast, general, [(s, 10.0, T0 + 30 * i) for s in (one, two)], T0 + 30 * i + 1)
    assert fast._series[one.id].qt is fast._series[two.id].qt
    same(fast, general, [(one, 95.0, T0 + 30 * 44 - 15)], T0 + 30 * 44 + 2)  # late breach


# ---------------------------------------------------------------------- the shipped packs


def test_shipped_packs_on_agent_metrics_fast_equals_general() -> None:
    """The default packs over a fleet of host series shaped like the agent's real output,
    mostly healthy with breaches now and then, late batches and a replayed spool."""
    from benchmarks.fleet import host_series

    packs = sorted(p for p in (ROOT / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
    ruleset = load_ruleset(packs)
    shape = host_series("catalog")
    series = [
        Series(asset * 1000 + i, metric, labels, client_id=1, asset_id=asset, asset=f"h{asset}")
        for asset in range(1, 6)
        for i, (metric, labels) in enumerate(shape)
    ]
    matched = [s for s in series if s.metric in ruleset.by_metric]
    assert len(matched) > 50, "the packs should match many of the agent's series"
    fast, general = pair(ruleset)
    rnd = random.Random(15)
    transitions = 0
    spool: list = []
    for cycle in range(240):  # two hours of 30-s cycles
        ts = T0 + 30 * cycle
        batch = []
        for s in series:
            value = rnd.choice([1.0, 5.0, 20.0, 40.0, 60.0])
            if rnd.random() < 0.02:
                value = rnd.choice([0.0, 91.0, 96.0, 99.5, 1e12])
            batch.append((s, value, ts))
        if 100 <= cycle < 110:
            spool += batch  # an agent offline: sent later, all at once
            continue
        transitions += same(fast, general, batch, ts + 1)
        if cycle == 110:
            transitions += same(fast, general, spool, ts + 2)
        swept(fast, general, ts + 3)
    assert transitions > 0, "some breaches should have changed alerts"
    # Most of the packs' rules on host metrics are windows or forecasts (general path); the
    # simple ones kept no Alert where their condition never held.
    assert len(fast.alerts) < len(general.alerts)
